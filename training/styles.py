"""Writing styles that MNIST and pendigits lack, made from a pen digit's own strokes.

Each style takes a digit's strokes (y grows downward) and a generator and returns new strokes.
train.py applies them to pen digits while training; bench/drawn_eval.py applies them to held-out
writers' digits, one row per style, so that a regression in any style shows. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Stroke = np.ndarray
Style = Callable[[list[Stroke], np.random.Generator], list[Stroke]]


def _box(strokes: list[Stroke]) -> tuple[np.ndarray, np.ndarray]:
    """(top-left corner, size) of the drawing's bounding box; size never zero."""
    points = np.concatenate(strokes)
    low = points.min(axis=0)
    return low, np.maximum(np.ptp(points, axis=0), 1.0)


def _line(start: np.ndarray, end: np.ndarray, count: int = 12) -> Stroke:
    """A straight stroke sampled at count points."""
    return np.linspace(start, end, count)


def _with_noise(stroke: Stroke, rng: np.random.Generator, scale: float) -> Stroke:
    """A hand-drawn line is never quite straight: smooth low-amplitude wobble."""
    wobble = np.cumsum(rng.normal(0, scale, stroke.shape), axis=0)
    wobble -= np.linspace(wobble[0], wobble[-1], len(stroke))  # keep both ends where they were
    return stroke + wobble


def slashed_zero(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A 0 with a second stroke through it: a slash, a backslash or a short bar, either direction."""
    low, size = _box(strokes)
    centre = low + size / 2
    kind = rng.random()
    if kind < 0.6:  # a diagonal slash reaching to (or past) the loop, either way round
        half = size / 2 * rng.uniform(0.8, 1.25, 2) * (1 if rng.random() < 0.6 else (-1, 1))
        start, end = centre + half * (-1, 1), centre + half * (1, -1)
    else:  # a bar across the middle, tilted a little
        angle = np.deg2rad(rng.uniform(-25, 25))
        half = size[0] / 2 * rng.uniform(0.5, 1.1) * np.array([np.cos(angle), np.sin(angle)])
        start, end = centre - half, centre + half
    if rng.random() < 0.5:
        start, end = end, start
    slash = _with_noise(_line(start, end), rng, 0.01 * size.max())
    return [*strokes, slash] if rng.random() < 0.85 else [slash, *strokes]


def continental_one(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A 1 with a long flag at the top, with or without a foot or a flick at the bottom.

    The flag is drawn as people do: in one stroke with the stem, as its own stroke before it, or
    added after the stem (either way along). The foot runs from narrow to as wide as the 1 is tall.
    """
    stem = max(strokes, key=len)
    if stem[0, 1] > stem[-1, 1]:  # written bottom-up: the flag still hangs off the top
        stem = stem[::-1]
    height = max(float(np.ptp(stem[:, 1])), 1.0)
    top, bottom = stem[0], stem[-1]
    ending = rng.random()
    if ending < 0.15:  # a flick: the pen turns up and sideways as it leaves the paper
        stem = np.vstack([stem, _flick(bottom, height, rng)[1:]])
    length, angle = height * rng.uniform(0.3, 0.8), np.deg2rad(rng.uniform(10, 65))
    flag = _with_noise(_line(top + length * np.array([-np.cos(angle), np.sin(angle)]), top, 8), rng, 0.01 * height)
    order = rng.random()
    if order < 0.6:
        out = [np.vstack([flag[:-1], stem])]
    elif order < 0.8:
        out = [flag, stem]
    else:  # the flag added once the stem is down, from the top or towards it
        out = [stem, flag if rng.random() < 0.5 else flag[::-1]]
    if ending > 0.6:  # the foot: a bar under the stem, from narrow to the width of the whole 1
        half = height * rng.uniform(0.15, 0.5)
        foot = _line(bottom - (half, 0), bottom + (half, rng.normal(0, 0.03) * height), 8)
        out.append(foot if rng.random() < 0.7 else foot[::-1])
    return out


def _flick(start: np.ndarray, height: float, rng: np.random.Generator) -> Stroke:
    """A short hook off the bottom of a stroke, turning up to the right or the left."""
    side = rng.choice([-1.0, 1.0])
    size = height * rng.uniform(0.08, 0.25)
    turn = np.linspace(0, np.pi / 2, 6)
    return start + size * np.stack([side * (1 - np.cos(turn)), -np.sin(turn) * rng.uniform(0.2, 0.8)], axis=1)


def crossed_seven(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A 7 with a short bar across its stem at about half height."""
    low, size = _box(strokes)
    y = low[1] + size[1] * rng.uniform(0.4, 0.6)
    points = np.concatenate(strokes)
    below_bar = points[points[:, 1] >= y]
    x = float(below_bar[np.argmin(np.abs(below_bar[:, 1] - y)), 0]) if len(below_bar) else low[0] + size[0] / 2
    half = size[0] * rng.uniform(0.2, 0.4)
    tilt = rng.normal(0, 0.05) * size[0]
    bar = _with_noise(_line((x - half, y + tilt), (x + half, y - tilt), 8), rng, 0.01 * size.max())
    return [*strokes, bar]


def two_stroke_four(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A 4 in two strokes with a gap: the longest stroke split at its sharpest corner, the parts moved apart."""
    index = int(np.argmax([len(s) for s in strokes]))
    stroke = strokes[index]
    corner = _sharpest_corner(stroke)
    if corner is None:
        return strokes
    _, size = _box(strokes)
    shift = rng.uniform(0.03, 0.12) * size.max() * np.array([rng.choice([-1, 1]), rng.uniform(-1, 0.3)])
    first, second = stroke[:corner + 1], stroke[corner:] + shift
    return [*strokes[:index], first, second, *strokes[index + 1:]]


def open_four(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A 4 whose stem rises well above the left arm, or whose arm stops short: the open top."""
    low, size = _box(strokes)
    out = []
    for stroke in strokes:
        # Pull everything in the top third towards the right/up, away from the closed apex.
        top = np.clip((low[1] + size[1] / 3 - stroke[:, 1]) / (size[1] / 3), 0, 1)[:, None]
        lift = np.array([rng.uniform(-0.05, 0.1), -rng.uniform(0.05, 0.25)]) * size
        left = stroke[:, :1] < low[0] + size[0] / 2
        out.append(stroke + top * lift * np.where(left, (1.0, 0.3), (0.2, 1.0)))
    return out


def nine_tail(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A 9 whose tail (the stroke after its loop) is ruler-straight, or ends in a hook to the left."""
    index = int(np.argmax([len(s) for s in strokes]))
    stroke = strokes[index]
    low, size = _box(strokes)
    below = np.flatnonzero(stroke[:, 1] < low[1] + size[1] * 0.5)
    if len(below) == 0 or below[-1] >= len(stroke) - 2:
        return strokes
    start = int(below[-1])
    head, tail = stroke[:start + 1], stroke[start:]
    end = tail[-1]
    if rng.random() < 0.5:
        tail = _line(tail[0], end + rng.normal(0, 0.04, 2) * size, max(len(tail), 4))
    else:
        radius = size[0] * rng.uniform(0.15, 0.35)
        arc = np.linspace(0, np.pi * rng.uniform(0.5, 1.0), 8)
        hook = end + radius * np.stack([-(1 - np.cos(arc)), -np.sin(arc) * rng.uniform(0.3, 0.8)], axis=1)
        tail = np.vstack([tail, hook[1:]])
    return [*strokes[:index], np.vstack([head, tail[1:]]), *strokes[index + 1:]]


def small_loops(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """Shrink the closed part of a 6, 8 or 9 (or any digit) around one focus: a small, tight loop."""
    low, size = _box(strokes)
    focus = low + size * (0.5, rng.choice([0.25, 0.75]))
    reach = size.max() * 0.45
    scale = rng.uniform(0.5, 0.8)
    out = []
    for stroke in strokes:
        distance = np.linalg.norm(stroke - focus, axis=1, keepdims=True)
        pull = np.clip(1 - distance / reach, 0, 1)  # full shrink at the focus, none beyond reach
        out.append(focus + (stroke - focus) * (1 - pull * (1 - scale)))
    return out


def reversed_order(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """Strokes drawn in the other order and the other direction."""
    return [s[::-1].copy() for s in strokes[::-1]]


def mouse_path(strokes: list[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A mouse is not a pen: sparse samples, straight segments with corners, and hand tremor."""
    _, size = _box(strokes)
    out = []
    for stroke in strokes:
        step = int(rng.integers(2, 5))
        sparse = stroke[::step] if len(stroke) > 2 * step else stroke
        if len(stroke) > 1 and not np.array_equal(sparse[-1], stroke[-1]):
            sparse = np.vstack([sparse, stroke[-1:]])
        jitter = rng.normal(0, rng.uniform(0.005, 0.02) * size.max(), sparse.shape)
        out.append(sparse + jitter)
    return out


def _sharpest_corner(stroke: Stroke) -> int | None:
    """Index of the point where the stroke turns most sharply (ignoring its ends), or None."""
    if len(stroke) < 5:
        return None
    before, after = stroke[1:-1] - stroke[:-2], stroke[2:] - stroke[1:-1]
    norms = np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1)
    cosine = np.einsum("ij,ij->i", before, after) / np.maximum(norms, 1e-9)
    inner = slice(1, len(cosine) - 1)
    return int(np.argmin(cosine[inner])) + 2


# Which styles apply to which digits; None: any digit.
STYLES: dict[str, tuple[Style, frozenset[int] | None]] = {
    "slashed or barred zero": (slashed_zero, frozenset({0})),
    "continental one": (continental_one, frozenset({1})),
    "crossed seven": (crossed_seven, frozenset({7})),
    "two-stroke four with a gap": (two_stroke_four, frozenset({4})),
    "open four": (open_four, frozenset({4})),
    "nine with a straight or hooked tail": (nine_tail, frozenset({9})),
    "small loops": (small_loops, frozenset({6, 8, 9})),
    "stroke order and direction reversed": (reversed_order, None),
    "mouse: sparse, cornered, shaky": (mouse_path, None),
}


def applies(name: str, label: int) -> bool:
    """Whether a style is one a digit of this label is written in."""
    labels = STYLES[name][1]
    return labels is None or label in labels


def random_style(strokes: list[Stroke], label: int, rng: np.random.Generator) -> list[Stroke]:
    """One of the styles that apply to this digit, picked at random."""
    names = [name for name in STYLES if applies(name, label)]
    return STYLES[names[rng.integers(len(names))]][0](strokes, rng)
