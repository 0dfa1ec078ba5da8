"""What a drawn number holds besides its digits: decimal points and commas, a minus sign, dashes, and more
than one line of writing. The digits are read as before; this names what they leave out, so that "3.14"
keeps its point, "-12" its sign and "12-5" its dash ("text", "marks"), and 12 written over 34 is not a
confident "134".

Two kinds of stroke become marks. Taps (too small to be writing) were never read as digits: a tap between
two digits, low in their band, is a point (a comma when it hangs below the baseline). Written strokes that
no digit could own are pulled out *before* reading, or a dash is read as a 1: a flat stroke at mid-height
with no other ink above or below it is a dash (a minus before the first digit), and a short stroke low
between digits with no ink above it is a point or a comma. A 7's bar, a 4's cross and a 5's flag always
have their digit's ink under them, so they are never pulled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from app.reader.answers import NumberDigit

TEXT = {"point": ".", "comma": ",", "minus": "-", "dash": "-"}


class Band(NamedTuple):
    """The vertical extent of the digits' ink: its top, bottom and height (canvas units)."""

    top: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


def pull_marks(strokes: Sequence[np.ndarray]) -> tuple[list[int], list[np.ndarray]]:
    """(indices of the strokes that are digits, the strokes that are marks) of a number's written strokes:
    a mark is a dash, a point or a comma that no digit's ink sits above or below."""
    if len(strokes) < 2:
        return list(range(len(strokes))), []
    tallest = max(float(np.ptp(s[:, 1])) for s in strokes)
    candidates = [i for i, s in enumerate(strokes) if _small_or_flat(s, tallest)]
    digits = [i for i in range(len(strokes)) if i not in candidates]
    if not digits:
        return list(range(len(strokes))), []
    band = _band([strokes[i] for i in digits])
    pulled = {i for i in candidates if mark_kind(strokes[i], band) is not None
              and _alone(strokes[i], [s for k, s in enumerate(strokes) if k != i])}
    return [i for i in range(len(strokes)) if i not in pulled], [strokes[i] for i in sorted(pulled)]


def layout(digits: Sequence[NumberDigit], written: Sequence[np.ndarray], loose: Sequence[np.ndarray]) -> dict:
    """{"text": the number with its marks, "marks": [{"mark", "after", "box"}], "lines": n} for a drawn
    number's digits, the strokes read as digits and the loose strokes (taps and pulled marks), canvas units.
    "after" is the index of the digit a mark follows (-1: before the first). A point or a comma that is
    not between two digits is named in "marks" and left out of "text"."""
    boxes = [d["box"] for d in digits]
    marks = sorted((m for m in (_mark(stroke, boxes) for stroke in loose) if m is not None),
                   key=lambda m: (m["after"], m["box"][0]))
    # A dash is written wherever it is; a point or a comma only between two digits.
    shown = [m for m in marks if m["mark"] in ("minus", "dash") or m["after"] < len(digits) - 1]
    text = "".join(TEXT[m["mark"]] for m in shown if m["after"] < 0)
    for i, digit in enumerate(digits):
        text += str(digit["digit"]) + "".join(TEXT[m["mark"]] for m in shown if m["after"] == i)
    return {"text": text, "marks": marks, "lines": lines_of(written)}


def _mark(stroke: np.ndarray, boxes: Sequence[Sequence[float]]) -> dict | None:
    """The mark a loose stroke is, placed among the digit boxes; None for a stray tap or tick."""
    if not boxes:
        return None
    x = float(stroke[:, 0].mean())
    after = sum(1 for b in boxes if b[0] + b[2] / 2 < x) - 1
    near = [boxes[k] for k in (after, after + 1) if 0 <= k < len(boxes)]
    band = Band(min(b[1] for b in near), max(b[1] + b[3] for b in near))
    kind = mark_kind(stroke, band)
    if kind is None or not _between(x, after, boxes, kind):
        return None
    if kind == "dash" and after < 0:
        kind = "minus"
    low, high = stroke.min(axis=0), stroke.max(axis=0)
    box = [round(float(v), 1) for v in (low[0], low[1], high[0] - low[0], high[1] - low[1])]
    return {"mark": kind, "after": after, "box": box}


def _between(x: float, after: int, boxes: Sequence[Sequence[float]], kind: str) -> bool:
    """A point or a comma sits in the gap between two digits, from 60% of the left digit to 40% of the
    right one; a dash anywhere along the line."""
    if kind == "dash":
        return True
    if not 0 <= after < len(boxes) - 1:
        return after == len(boxes) - 1 and x <= boxes[-1][0] + boxes[-1][2] * 2  # named, left out of text
    left, right = boxes[after], boxes[after + 1]
    return left[0] + 0.6 * left[2] <= x <= right[0] + 0.4 * right[2]


def mark_kind(stroke: np.ndarray, band: Band) -> str | None:
    """"dash", "point", "comma" or None by the stroke's shape and height in the digits' band."""
    height = band.height
    if height <= 0:
        return None
    low, high = stroke.min(axis=0), stroke.max(axis=0)
    width, tall = float(high[0] - low[0]), float(high[1] - low[1])
    middle = float((low[1] + high[1]) / 2)
    flat = tall <= 0.35 * width + 0.04 * height
    if flat and 0.2 * height <= width <= 1.5 * height and 0.35 <= (middle - band.top) / height <= 0.7:
        return "dash"
    # A point or a comma sits on the line (its middle in the band's lowest quarter, or below it) and is small.
    low_enough = band.top + 0.7 * height <= middle <= band.bottom + 0.25 * height
    if max(width, tall) <= 0.18 * height and low_enough:
        hangs = high[1] > band.bottom + 0.08 * height and tall >= 1.2 * width
        return "comma" if hangs else "point"
    if low_enough and tall <= 0.3 * height and width <= 0.2 * height and high[1] > band.bottom + 0.08 * height:
        return "comma"  # a longer tail, still hanging below the line
    return None


def _small_or_flat(stroke: np.ndarray, tallest: float) -> bool:
    """Whether a stroke could be a mark: flat, or small beside the tallest stroke."""
    width, tall = (float(v) for v in np.ptp(stroke, axis=0))
    return tall <= 0.35 * width + 1.0 or max(width, tall) <= 0.45 * tallest


def _band(strokes: Sequence[np.ndarray]) -> Band:
    points = np.concatenate(strokes)
    return Band(float(points[:, 1].min()), float(points[:, 1].max()))


def _alone(stroke: np.ndarray, others: Sequence[np.ndarray]) -> bool:
    """No other stroke passes above or below this one, nor within 5% of its width beside it (a 7's stem under
    its bar, a 5's stem where its flag starts)."""
    low, high = float(stroke[:, 0].min()), float(stroke[:, 0].max())
    margin = 0.05 * (high - low)
    left, right = low - margin, high + margin
    for other in others:
        xs = other[:, 0]
        if len(xs) == 1:
            if left <= xs[0] <= right:
                return False
            continue
        if np.any((np.minimum(xs[:-1], xs[1:]) <= right) & (np.maximum(xs[:-1], xs[1:]) >= left)):
            return False
    return True


def lines_of(strokes: Sequence[np.ndarray]) -> int:
    """How many lines the strokes are written on: a new line starts where the strokes, top to bottom, leave
    a gap of more than a third of the tallest stroke's height (a 5's flag or a 7's bar overlaps its digit).
    Measured on the strokes, not the digits: the reader may merge digits stacked one above the other."""
    if len(strokes) < 2:
        return 1
    spans = sorted((float(s[:, 1].min()), float(s[:, 1].max())) for s in strokes)
    gap = max(high - low for low, high in spans) / 3
    lines, bottom = 1, spans[0][1]
    for top, low_end in spans[1:]:
        if top > bottom + gap:
            lines += 1
        bottom = max(bottom, low_end)
    return lines
