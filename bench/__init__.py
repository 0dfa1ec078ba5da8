"""Benchmarks and evaluations (make bench, make eval).

The evaluations read through the Reader itself, built as the server builds it (build_reader with the
same settings), without a Flask app or HTTP: the answers are exactly the API's, the timings the reading's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence

import numpy as np


def scratch_reader(**config):
    """The server's Reader, reading in place; keyword arguments override settings as a test config does
    (e.g. MODEL_PATH, to judge a cross-validation fold's model; the shipped lookalike bank belongs to the
    shipped model, so another model gets none)."""
    from app.config import load_settings
    from app.reader import build_reader

    if "MODEL_PATH" in config:
        config.setdefault("LOOKALIKES_PATH", "")
    return build_reader(load_settings(config))


def page_drawing(points: Sequence[np.ndarray], width: float, height: float):
    """A drawing as the page sends it (points to 0.1 px) and the server parses it (float64 arrays)."""
    from app.reader import Drawing

    return Drawing([np.round(p, 1).astype(np.float64) for p in points], float(width), float(height))


def answer_or_none(read: Callable, *args: object) -> dict | None:
    """The reader's answer, or None where the API would answer an error (no digit, too much ink...)."""
    from app.errors import InputError

    try:
        return read(*args)
    except InputError:
        return None


def scratch_app(**config):
    """The real app in testing mode, its corrections database a throwaway SQLite file (never instance/);
    keyword arguments override config (as scratch_reader)."""
    from app import create_app

    if "MODEL_PATH" in config:
        config.setdefault("LOOKALIKES_PATH", "")
    return create_app({"TESTING": True,
                       "DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='digit-canvas-')}/corrections.db",
                       **config})
