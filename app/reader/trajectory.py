"""The pen's path as a sequence: strokes to a fixed-length array of resampled points with pen-up flags.

What the trajectory model reads, at training and serving time alike (pure numpy).
"""

from __future__ import annotations

import numpy as np

POINTS = 64  # points along the whole drawing, pen-up jumps excluded
FEATURES = 5  # x, y, dx, dy, pen lifted before this point


def features(strokes: list[np.ndarray]) -> np.ndarray:
    """(POINTS, FEATURES) float32: the drawing scaled to a unit box (aspect kept), resampled evenly along
    its ink, with each point's step from the previous one and a flag where a new stroke starts."""
    strokes = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes if len(s)]
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = max(float((high - low).max()), 1e-9)
    strokes = [(s - (low + high) / 2) / scale for s in strokes]
    lengths = np.array([_length(s) for s in strokes])
    # Every stroke gets at least two points (a dot gets a point twice); the rest follow ink length.
    share = lengths / lengths.sum() if lengths.sum() > 0 else np.full(len(strokes), 1 / len(strokes))
    counts = np.maximum(2, np.floor(share * (POINTS - 2 * len(strokes)) + 2).astype(int))
    resampled, lifted = [], []
    for stroke, count in zip(strokes, counts):
        resampled.append(_resample(stroke, count))
        lifted.append(np.eye(1, count).ravel())
    path, pen = np.concatenate(resampled), np.concatenate(lifted)
    pen[0] = 0.0  # the first stroke starts without a jump
    path, pen = _fit(path, pen)
    steps = np.diff(path, axis=0, prepend=path[:1])
    return np.column_stack([path, steps * 8, pen]).astype(np.float32)  # steps x8: on the scale of x, y


def _length(stroke: np.ndarray) -> float:
    """Ink length of one stroke."""
    return float(np.linalg.norm(np.diff(stroke, axis=0), axis=1).sum())


def _resample(stroke: np.ndarray, count: int) -> np.ndarray:
    """count points evenly spaced along the stroke (a dot repeats its point)."""
    distance = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(stroke, axis=0), axis=1))])
    if distance[-1] <= 0:
        return np.repeat(stroke[:1], count, axis=0)
    targets = np.linspace(0, distance[-1], count)
    return np.column_stack([np.interp(targets, distance, stroke[:, 0]), np.interp(targets, distance, stroke[:, 1])])


def _fit(path: np.ndarray, pen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exactly POINTS points, picked evenly; a pen lift between two kept points moves to the later one."""
    if len(path) == POINTS:
        return path, pen
    keep = np.round(np.linspace(0, len(path) - 1, POINTS)).astype(int)
    lifts = np.cumsum(pen)[keep]
    return path[keep], np.minimum(np.diff(lifts, prepend=0.0), 1.0)
