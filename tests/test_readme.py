"""The README's examples work as pasted: every curl command against the real server, every command-line
example on the shipped sample pictures, each giving the answer written under it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from app import ROOT
from bench import harness

README = (ROOT / "README.md").read_text()


def examples(prefix: str) -> list[tuple[str, str]]:
    """(command, the answer written under it) for each shell example starting with prefix."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        lines = block.replace("\\\n", " ").splitlines()
        for command, answer in zip(lines, lines[1:]):
            if command.startswith(prefix) and answer.startswith("# "):
                found.append((command, answer[2:]))
    return found


def matches(expected, actual) -> bool:
    """actual holds every field of expected; a string ending in "..." is a prefix, "..." alone anything."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, str) and expected.endswith("..."):
        return isinstance(actual, str | int | float) and str(actual).startswith(expected[:-3])
    return expected == actual


CURLS = examples("curl ")
CLI = examples(".venv/bin/python -m app.predict")


def test_the_readme_lists_every_endpoint_and_shows_a_curl_example_for_each_post(app):
    """The app's own URL map, not a list kept here: a new endpoint without its README row fails."""
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]
    listed = set(re.findall(r"`(?:GET|POST) (/api/[\w/]+)`", README))
    assert listed == {rule.rule for rule in rules}
    paths = {re.search(r"localhost:5000(/\S*)", command).group(1) for command, _ in CURLS}
    assert {rule.rule for rule in rules if "POST" in rule.methods} <= paths <= listed
    assert len(CLI) == 3


@pytest.fixture(scope="module")
def port():
    with harness.serving({"WEB_CONCURRENCY": "1"}) as (port, _):
        yield port


@pytest.mark.parametrize("command, answer", CURLS, ids=[c.split("localhost:5000")[1].split()[0] for c, _ in CURLS])
def test_each_curl_example_gives_its_documented_answer(port, command, answer):
    ran = subprocess.run(["bash", "-c", command.replace("localhost:5000", f"127.0.0.1:{port}")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    assert matches(json.loads(answer), json.loads(ran.stdout)), ran.stdout[:500]


@pytest.mark.parametrize("command, answer", CLI)
def test_each_command_line_example_prints_its_documented_answer(command, answer):
    arguments = command.split()[1:]  # run with this interpreter, wherever its environment is
    ran = subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip() == answer, ran.stderr[-500:]
