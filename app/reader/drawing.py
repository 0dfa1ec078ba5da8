"""A drawing: untrusted stroke JSON turned into point arrays (or InputError), and the measures of its ink
that decide what is a tap and what is a digit (pictures: app/reader/pictures.py)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import chain
from typing import NoReturn, Protocol

import numpy as np

from app.errors import InputError, NoInk

_NUMBER_TYPES = {int, float}
# A stroke under this share of the largest stroke is a tap or a tick, whatever the canvas: small writing on a
# big canvas keeps its 4's bar and 5's flag (at 3% of a 400 px canvas, 12 px of a 32 px digit went).
TAP_OF_WRITING = 0.05


class StrokeLimits(Protocol):
    """What bounds a drawing (app.config.Settings has them)."""

    max_strokes: int
    max_points: int
    max_canvas: int


@dataclass(frozen=True)
class Drawing:
    """Strokes (each an (n, 2) float array, canvas units, y down, in drawing order) on a canvas of width x height."""

    strokes: list[np.ndarray]
    width: float
    height: float

    def tiny(self, share: float) -> float:
        """The size under which ink is a tap or a tick, not a digit: `share` of the canvas's shorter side."""
        return share * min(self.width, self.height)

    def tap_size(self, share: float) -> float:
        """The size under which a stroke among others is a tap or a tick: tiny(share), or less where the
        writing is small on its canvas (TAP_OF_WRITING of the largest stroke). Taps alone stay taps."""
        tiny, largest = self.tiny(share), largest_stroke(self.strokes)
        return tiny if largest < tiny else min(tiny, TAP_OF_WRITING * largest)

    def only_taps(self, share: float) -> bool:
        """Whether every stroke is a tap or a tick (one or several, far apart or not)."""
        return largest_stroke(self.strokes) < self.tiny(share)


def parse_drawing(data: bytes, limits: StrokeLimits) -> tuple[dict, Drawing]:
    """A drawing body's JSON object and its validated drawing (no request context: runs in any thread)."""
    body = parse_json(data)
    strokes = parse_strokes(body, limits)
    return body, Drawing(strokes, float(body["width"]), float(body["height"]))


def parse_json(data: bytes) -> object:
    """The body's JSON value; 400 for anything that is not JSON, however it fails."""
    try:
        return json.loads(data)
    # RecursionError: a few KB of nested brackets exhaust the parser's stack; ValueError covers
    # bad syntax and bytes that are not UTF-8/16/32.
    except (ValueError, RecursionError):
        raise InputError("the body is not valid JSON") from None


def drawing_extent(strokes: list[np.ndarray]) -> float:
    """The longer side of the drawing's bounding box, in canvas units."""
    points = np.concatenate(strokes)
    return float(np.ptp(points, axis=0).max())


def written_strokes(strokes: list[np.ndarray], tiny: float) -> list[int]:
    """Indices of the strokes at least `tiny` across: the rest are taps and dots, never part of a digit."""
    return [i for i, stroke in enumerate(strokes) if float(np.ptp(stroke, axis=0).max()) >= tiny]


def largest_stroke(strokes: list[np.ndarray]) -> float:
    """The longer side of the biggest single stroke's bounding box: taps and dots far apart stay small."""
    return max(float(np.ptp(stroke, axis=0).max()) for stroke in strokes)


def _number(value: object, name: str) -> float:
    """A finite JSON number (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a finite number")
    try:
        number = float(value)
    except OverflowError:  # JSON integers have no size limit; one past float's range is not finite
        number = math.inf
    if not math.isfinite(number):
        raise InputError(f"{name} must be a finite number")
    return number


def parse_strokes(body: object, limits: StrokeLimits) -> list[np.ndarray]:
    """Validate {"strokes": [[[x, y], ...], ...], "width": W, "height": H}; return point arrays."""
    if not isinstance(body, dict):
        raise InputError("the body must be a JSON object with strokes, width and height")
    width, height = _number(body.get("width"), "width"), _number(body.get("height"), "height")
    if not (0 < width <= limits.max_canvas and 0 < height <= limits.max_canvas):
        raise InputError(f"width and height must be positive and at most {limits.max_canvas}")
    strokes = body.get("strokes")
    if not isinstance(strokes, list):
        raise InputError("strokes must be a list of strokes, each a list of [x, y] points")
    if len(strokes) > limits.max_strokes:
        raise InputError(f"too many strokes: at most {limits.max_strokes}", 413)
    if sum(len(s) for s in strokes if isinstance(s, list)) > limits.max_points:
        raise InputError(f"too many points: at most {limits.max_points}", 413)
    arrays = [_stroke(stroke, i) for i, stroke in enumerate(strokes)]
    if not arrays:
        raise NoInk()
    # Pointer capture lets a stroke leave the canvas a little; far outside means bad coordinates.
    points = np.concatenate(arrays)
    if (points < -np.array([width, height])).any() or (points > 2 * np.array([width, height])).any():
        raise InputError("points must lie on the canvas (0..width, 0..height)")
    return arrays


def _stroke(stroke: object, index: int) -> np.ndarray:
    """One stroke as an (n, 2) float array."""
    if not isinstance(stroke, list) or not stroke:
        raise InputError(f"stroke {index} must be a non-empty list of [x, y] points")
    array = _plain_points(stroke)
    if array is None:
        _raise_for_first_bad_point(stroke, index)
    return array


def _raise_for_first_bad_point(stroke: list, index: int) -> NoReturn:
    """Name the first value that made _plain_points reject the stroke (a slow walk, for errors only)."""
    for point in stroke:
        if not isinstance(point, list) or len(point) != 2:
            raise InputError(f"stroke {index}: every point must be [x, y]")
        _number(point[0], f"stroke {index}: x")
        _number(point[1], f"stroke {index}: y")
    raise InputError(f"stroke {index}: every point must be [x, y]")  # every rejection is named above


def _plain_points(stroke: list) -> np.ndarray | None:
    """The stroke as an (n, 2) array when every point is [number, number] and finite, else None.

    The common case checked in C (types, shape, finiteness) instead of a Python loop per point:
    the check costs a few microseconds where the loop cost a tenth of a millisecond.
    """
    try:
        types = set(map(type, chain.from_iterable(stroke)))
    except TypeError:  # a point that is not a list
        return None
    if not types <= _NUMBER_TYPES:  # bool is its own type, so true/false never pass as 1/0
        return None
    try:
        array = np.array(stroke, np.float64)
    except (ValueError, OverflowError):  # ragged points
        return None
    if array.ndim != 2 or array.shape[1] != 2 or not np.isfinite(array).all():
        return None
    return array
