"""The serving install alone: requirements.txt in a fresh virtual environment is small, holds nothing
of training or testing, and serves a prediction with `make run`'s command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app import ROOT
from bench import harness


def size_mb(folder: Path) -> float:
    """Bytes under folder, in MB (files counted once each)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def test_the_serving_requirements_alone_install_small_and_serve_a_prediction(tmp_path):
    venv = tmp_path / "serving"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "-r",
                                str(ROOT / "requirements.txt")], capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert size_mb(venv) < 560  # about 510: LiteRT 60 MB and ONNX Runtime 78 MB of it
    absent = subprocess.run([str(python), "-c", "import importlib.util as u, json; print(json.dumps([m for m in "
                             "('tensorflow', 'keras', 'matplotlib', 'pytest', 'playwright', 'hypothesis', 'ruff') "
                             "if u.find_spec(m)]))"], capture_output=True, text=True, check=True)
    assert json.loads(absent.stdout) == []
    with harness.serving({"WEB_CONCURRENCY": "1"}, harness.server_command(python)) as (port, _):
        connection = harness.Connection(port)
        connection.post(harness.SEVEN_JSON)
        connection.close()
    answer = json.loads(connection.body)
    assert answer["digit"] == 7 and not answer["unsure"]
    training = subprocess.run([str(python), "train.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = training.stderr.strip().splitlines()
    assert training.returncode != 0 and len(lines) == 1 and "needs TensorFlow" in lines[0]  # one line, the fix
