"""Augmentation: pen strokes varied as people vary, MNIST images varied the same way, random scribbles.

Used by training and by bench/drawn_eval.py; pure numpy and OpenCV, so the evaluation needs no TensorFlow.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.reader import preprocessing

Stroke = np.ndarray  # (n, 2) float64 x, y; y grows downward

# vary(): three bumps of a smooth warp, each a third of the digit wide, pushing by 5% of its size; each
# stroke of several moved by 4% and turned by up to 8 degrees.
WARP_BUMPS, WARP_WIDTH, WARP_PUSH = 3, 0.3, 0.05
STROKE_SHIFT, STROKE_TURN = 0.04, 8.0


def augment(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """Vary a pen digit as people vary: slant, rotation, aspect, wobble and sampling rate."""
    points = np.concatenate(strokes)
    centre = points.mean(axis=0)
    extent = max(float(np.ptp(points, axis=0).max()), 1.0)
    rotation = _rotation(np.deg2rad(rng.uniform(-12, 12)))
    shear = np.array([[1.0, rng.uniform(-0.3, 0.3)], [0.0, 1.0]])
    aspect = np.diag([rng.uniform(0.8, 1.2), 1.0])
    matrix = rotation @ shear @ aspect
    sampling = rng.random()
    out = []
    for stroke in strokes:
        moved = (stroke - centre) @ matrix.T
        moved = moved + rng.normal(0, 0.008 * extent, moved.shape)
        if sampling < 0.5:
            moved = smooth_resample(moved, 4)  # a 60 Hz pointer traces curves, not 10 Hz chords
        elif sampling < 0.65 and len(moved) > 4:
            moved = moved[::2] if len(moved) % 2 else np.vstack([moved[::2], moved[-1:]])
        out.append(moved)
    return out


def vary(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """Vary a pen digit as writers on other devices do, beyond one affine map: a smooth local warp of the
    whole digit (a rounder or flatter loop, a longer tail) and, for a digit of several strokes, each stroke
    moved and turned a little on its own (a 4's stem further from its bar, a 5's flag, a 7's cross)."""
    points = np.concatenate(strokes)
    extent = max(float(np.ptp(points, axis=0).max()), 1.0)
    low, high = points.min(axis=0), points.max(axis=0)
    centres = rng.uniform(low, high, (WARP_BUMPS, 2))
    pushes = rng.normal(0, WARP_PUSH * extent, (WARP_BUMPS, 2))
    width = WARP_WIDTH * extent
    out = []
    for stroke in strokes:
        weights = np.exp(-((stroke[:, None, :] - centres[None]) ** 2).sum(-1) / (2 * width**2))
        moved = stroke + weights @ pushes
        if len(strokes) > 1:
            centre = moved.mean(axis=0)
            turn = _rotation(np.deg2rad(rng.uniform(-STROKE_TURN, STROKE_TURN)))
            moved = (moved - centre) @ turn.T + centre + rng.normal(0, STROKE_SHIFT * extent, 2)
        out.append(moved)
    return out


def some_reversed(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """The same strokes in the same order, each drawn from its end with even odds, at least one of them: people
    draw a 4's bar, a 7's cross or a 0's loop either way, and a pen-path model must not take that for another digit."""
    flips = rng.random(len(strokes)) < 0.5
    if not flips.any():
        flips[rng.integers(len(strokes))] = True
    return [s[::-1].copy() if flip else s for s, flip in zip(strokes, flips)]


def smooth_resample(stroke: Stroke, factor: int) -> Stroke:
    """Insert factor-1 Catmull-Rom points between consecutive points (a denser, rounder path)."""
    if len(stroke) < 3:
        return stroke
    padded = np.vstack([stroke[:1], stroke, stroke[-1:]])
    t = np.arange(factor)[:, None] / factor
    pieces = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1:i + 3]
        pieces.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                             + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    pieces.append(stroke[-1:])
    return np.vstack(pieces)


def random_scribble(rng: np.random.Generator) -> list[Stroke]:
    """A random non-digit drawing in a 100x100 box: a tangle, crossed lines, hatching or a looping curve."""
    kind = rng.integers(4)
    if kind == 0:  # a tangle: one stroke through many random points
        drawing = [rng.uniform(0, 100, (rng.integers(9, 17), 2))]
    elif kind == 1:  # several unrelated straight lines
        drawing = [rng.uniform(0, 100, (2, 2)) for _ in range(rng.integers(5, 10))]
    elif kind == 2:  # hatching: a dense zigzag
        count = rng.integers(6, 14)
        xs = np.repeat(np.linspace(0, 100, count), 2)[1:-1]
        ys = np.tile([0.0, 100.0], count)[: len(xs)]
        points = np.stack([xs, ys], axis=1) + rng.normal(0, 4, (len(xs), 2))
        drawing = [points @ _rotation(rng.uniform(0, np.pi))]
    else:  # a long looping curve
        drawing = [smooth_resample(rng.uniform(0, 100, (rng.integers(9, 14), 2)), 6)]
    low = np.concatenate(drawing).min(axis=0)
    scale = 100 / max(float(np.ptp(np.concatenate(drawing), axis=0).max()), 1e-6)
    return [(stroke - low) * scale for stroke in drawing]


def _rotation(angle: float) -> np.ndarray:
    """A 2x2 rotation matrix."""
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def augment_image(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate, scale, shear and thin/thicken a 28x28 digit about its centre of mass (the MNIST frame)."""
    angle, scale, shear = rng.uniform(-12, 12), rng.uniform(0.85, 1.1), rng.uniform(-0.25, 0.25)
    c = preprocessing.CENTRE
    matrix = cv2.getRotationMatrix2D((c, c), angle, scale)
    matrix[:, :2] = matrix[:, :2] @ np.array([[1.0, shear], [0.0, 1.0]])
    matrix[:, 2] = c - matrix[:, :2] @ [c, c] + rng.uniform(-0.7, 0.7, 2)  # keep the centre of mass
    out = cv2.warpAffine(image, matrix, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
    pen = rng.random()
    if pen < 0.15:
        out = cv2.dilate(out, np.ones((2, 2), np.uint8))
    elif pen < 0.3:
        thinner = cv2.erode(out, np.ones((2, 2), np.uint8))
        out = thinner if thinner.sum() > 0.5 * out.sum() else out
    return out
