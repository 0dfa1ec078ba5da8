"""Fixtures only: the app (serving the shipped model), its test client, data, PostgreSQL and the browser.

Shared builders and constants are in tests/support.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from support import CHROMIUM, MNIST_FIXTURE, PEN_FIXTURE, open_page, postgres_binaries
from werkzeug.serving import make_server

from app import create_app
from bench.harness import free_port

# Training runs in the tests name the small fixtures they use: make's exported full data sets must not leak in,
# nor train.py's own look in ../shared/data (a variable set empty means "none").
for _variable in ("UNIPEN_PATH", "MNIST_WRITERS_PATH"):
    os.environ[_variable] = ""



@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The real app and shipped model, loaded once for the whole run (corrections go to a scratch SQLite file)."""
    database = tmp_path_factory.mktemp("db") / "corrections.db"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}"})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def reader():
    """The shipped models' Reader as the CLI and the benches build it: no Flask, reading in place."""
    from app.config import load_settings
    from app.reader import build_reader

    return build_reader(load_settings())


@pytest.fixture(scope="session")
def mnist_small() -> dict[str, np.ndarray]:
    """500 MNIST test digits (and 600 training digits) in the Keras layout."""
    with np.load(MNIST_FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def pen_digits() -> list[dict]:
    """90 real pen digits (writers 2, 5 and 10) as in ../shared/data/pendigits_train.json."""
    return json.loads(PEN_FIXTURE.read_text())


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the run: TEST_POSTGRES_URL if set, else one started here on a scratch
    directory and a free loopback port (as the postgres user when run as root), stopped at the end."""
    if os.environ.get("TEST_POSTGRES_URL"):
        yield os.environ["TEST_POSTGRES_URL"]
        return
    binaries = postgres_binaries()
    if binaries is None:
        if os.environ.get("REQUIRE_POSTGRES"):  # CI: the database tests must not pass by being skipped
            pytest.fail("REQUIRE_POSTGRES is set but PostgreSQL is not installed")
        pytest.skip("PostgreSQL is not installed (.ci/run installs it)")
    data = Path(tempfile.mkdtemp(prefix="digit-canvas-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                    str(data / "server.log"), "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def base_url(app):
    """The app served on a free loopback port for the browser tests."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, base_url):
    """The drawing page in a fresh 1000x760 context; the test fails if a script error happened."""
    context, page = open_page(browser, base_url)
    yield page
    context.close()
    assert not page.errors
