"""The online sequence reader: a whole drawn number's pen path, point by point, read by a 1-D CNN trained
with CTC (the approach of today's online handwriting recognisers), with no cutting into digits first.

`path` is what the model reads, at training and serving time alike: every stroke resampled along its ink
at a fixed step of the writing's height, each point as its step from the one before (the jump from the
last stroke's end where the pen was lifted), its height in the writing and a pen-lift flag. The model
gives every STRIDE points a probability for the ten digits and a blank; greedy decoding (line.py's) reads
the number, and each stroke goes to the digit emitted nearest its middle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.reader import line, models

STEP = 0.08  # resampling step, a share of the writing's height: a digit is about 30-40 points
STRIDE = 4  # points per output frame (two poolings of 2)
FEATURES = 4  # dx, dy, height in the writing, pen lifted before this point
MAX_POINTS = 2048  # a 20-digit number is about 800; past this the path is resampled coarser
MIN_POINTS = 16
# The pen resting after the last point: at least REST points, the whole a multiple of REST. Training
# batches are padded so (to their longest); a path read without that rest lost its last digit (a
# development run on fold 5's numbers: 83% and 77% exact without, 90% and 92% with).
REST = 64


def path(strokes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(points, FEATURES) float32 of a drawn number (strokes in writing order, taps left out), and the
    stroke each point comes from. Scale-free: units of the tallest stroke's height."""
    strokes = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes if len(s)]
    boxes = np.array([np.ptp(s, axis=0) for s in strokes])
    scale = max(float(boxes[:, 1].max()), 0.5 * float(boxes[:, 0].max()), 1e-6)
    centre = float(np.median(np.concatenate(strokes)[:, 1]))
    ink = sum(_length(s) for s in strokes) / scale  # in heights; every stroke adds up to two points
    step = max(STEP, ink / max(MAX_POINTS - 2 * len(strokes), MIN_POINTS))
    pieces, owners, lifts = [], [], []
    for k, stroke in enumerate(strokes):
        points = _resample(stroke, step * scale)
        pieces.append(points)
        owners.append(np.full(len(points), k))
        lifts.append(np.eye(1, len(points)).ravel() * (k > 0))
    points, owner, lifted = np.concatenate(pieces), np.concatenate(owners), np.concatenate(lifts)
    steps = np.diff(points, axis=0, prepend=points[:1]) / scale
    height = (points[:, 1] - centre) / scale
    padded = _padded(np.column_stack([np.clip(steps, -3, 3), height, lifted]).astype(np.float32))
    return padded, np.concatenate([owner, np.full(len(padded) - len(owner), -1)])


def _length(stroke: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(stroke, axis=0), axis=1).sum())


def _resample(stroke: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` along the stroke's ink, both ends kept (a dot: one point)."""
    distance = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(stroke, axis=0), axis=1))])
    count = max(2, int(distance[-1] / step) + 1) if distance[-1] > 0 else 1
    targets = np.linspace(0, distance[-1], count)
    return np.column_stack([np.interp(targets, distance, stroke[:, i]) for i in range(2)])


def _padded(features: np.ndarray) -> np.ndarray:
    """The path and the pen resting after it: at least REST points, the whole a multiple of REST (so of
    STRIDE too, and few shapes for the interpreter)."""
    length = int(np.ceil((len(features) + REST) / REST)) * REST
    out = np.zeros((length, FEATURES), np.float32)
    out[:len(features)] = features
    out[len(features):, 2] = features[-1, 2]
    return out


class OnlineModel(models.SequenceModel):
    """The exported online model: (points, FEATURES) -> (points / STRIDE, 11) frame probabilities."""

    def __init__(self, path: str) -> None:
        super().__init__(path, np.zeros((MIN_POINTS, FEATURES), np.float32))

    def frames(self, features: np.ndarray) -> np.ndarray:
        """Per-frame probabilities (blank last) for one path."""
        return self.run(features)


def read(model: OnlineModel, strokes: Sequence[np.ndarray]) -> list[tuple[line.Emitted, list[int]]]:
    """The digits the model emits, left to right in writing order, each with the strokes nearest it (a
    stroke goes to the digit emitted nearest the middle of its points)."""
    features, owner = path(strokes)
    emitted = line.greedy_decode(model.frames(features))
    if not emitted:
        return []
    peaks = np.array([e.peak for e in emitted])
    mine: list[list[int]] = [[] for _ in emitted]
    for k, index in enumerate(i for i, s in enumerate(strokes) if len(s)):
        frames = np.flatnonzero(owner == k) // STRIDE
        mine[int(np.abs(peaks - np.median(frames)).argmin())].append(index)
    return list(zip(emitted, mine))
