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
    return _features([_measured(s) for s in strokes if len(s)])


def features_many(drawings: list[list[np.ndarray]]) -> np.ndarray:
    """features for several drawings that share strokes (a number's candidate digits): each stroke's
    ink length is measured once."""
    measured: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for strokes in drawings:
        for stroke in strokes:
            if id(stroke) not in measured and len(stroke):
                measured[id(stroke)] = _measured(stroke)
    return np.stack([_features([measured[id(s)] for s in strokes if len(s)]) for strokes in drawings])


def _measured(stroke: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stroke's points and the ink length from its start to each of them."""
    points = np.asarray(stroke, np.float64).reshape(-1, 2)
    return points, np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _features(strokes: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """features of measured strokes (scaling the drawing scales its ink lengths alike)."""
    points = np.concatenate([s for s, _ in strokes])
    low, high = points.min(axis=0), points.max(axis=0)
    scale = max(float((high - low).max()), 1e-9)
    centre = (low + high) / 2
    lengths = np.array([d[-1] for _, d in strokes]) / scale
    # Every stroke gets at least two points (a dot gets a point twice); the rest follow ink length.
    share = lengths / lengths.sum() if lengths.sum() > 0 else np.full(len(strokes), 1 / len(strokes))
    counts = np.maximum(2, np.floor(share * (POINTS - 2 * len(strokes)) + 2).astype(int))
    resampled, lifted = [], []
    for (stroke, distance), count in zip(strokes, counts):
        resampled.append((_resample(stroke, distance, count) - centre) / scale)
        lifted.append(np.eye(1, count).ravel())
    path, pen = np.concatenate(resampled), np.concatenate(lifted)
    pen[0] = 0.0  # the first stroke starts without a jump
    path, pen = _fit(path, pen)
    steps = np.diff(path, axis=0, prepend=path[:1])
    return np.column_stack([path, steps * 8, pen]).astype(np.float32)  # steps x8: on the scale of x, y


def _resample(stroke: np.ndarray, distance: np.ndarray, count: int) -> np.ndarray:
    """count points evenly spaced along the stroke (a dot repeats its point)."""
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
