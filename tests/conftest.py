"""Shared fixtures: the app (serving the shipped model), its test client and the small data fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app import create_app

FIXTURES = Path(__file__).parent / "fixtures"
MNIST_FIXTURE = FIXTURES / "mnist_small.npz"
PEN_FIXTURE = FIXTURES / "pendigits_small.json"


@pytest.fixture(scope="session")
def app():
    """The real app and shipped model, loaded once for the whole run."""
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def mnist_small() -> dict[str, np.ndarray]:
    """500 MNIST test digits (and 600 training digits) in the Keras layout."""
    with np.load(MNIST_FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def pen_digits() -> list[dict]:
    """90 real pen digits (writers 2, 5 and 10) as in ../shared/data/pendigits_train.json."""
    return json.loads(PEN_FIXTURE.read_text())


def canvas_payload(strokes, size: float = 320.0, box: tuple[float, float, float, float] | None = None) -> dict:
    """Scale 500x500 pendigits strokes onto a size x size canvas (or into box = x, y, w, h)."""
    x, y, w, h = box or (0, 0, size, size)
    return {"strokes": [[[x + px * w / 500, y + py * h / 500] for px, py in s] for s in strokes],
            "width": size, "height": size}
