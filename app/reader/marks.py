"""What a drawn number holds besides its digits: decimal points (taps between digits, at the baseline) and
more than one line of writing. The digits are read as before; this names what they leave out, so that
"3.14" keeps its point ("text") and 12 written over 34 is not a confident "134".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.reader.answers import NumberDigit


def layout(digits: Sequence[NumberDigit], written: Sequence[np.ndarray], taps: Sequence[np.ndarray]) -> dict:
    """{"text": the number with its points, "marks": [{"mark": "point", "after": i, "box": [...]}], "lines": n}
    for a drawn number's digits, its written strokes and its taps (canvas units)."""
    marks = [{"mark": "point", "after": after, "box": box} for after, box in _points(digits, taps)]
    text = "".join(str(d["digit"]) + "".join("." for m in marks if m["after"] == i) for i, d in enumerate(digits))
    return {"text": text, "marks": marks, "lines": lines_of(written)}


def _points(digits: Sequence[NumberDigit], taps: Sequence[np.ndarray]) -> list[tuple[int, list[float]]]:
    """(the digit a point follows, its box) for each tap that sits between two digits, low in their band."""
    found = []
    boxes = [d["box"] for d in digits]
    for tap in taps:
        x, y = (float(v) for v in tap.mean(axis=0))
        for i, (left, right) in enumerate(zip(boxes, boxes[1:])):
            top = min(left[1], right[1])
            bottom = max(left[1] + left[3], right[1] + right[3])
            between = left[0] + 0.6 * left[2] <= x <= right[0] + 0.4 * right[2]
            low = top + 0.55 * (bottom - top) <= y <= bottom + 0.25 * (bottom - top)
            if between and low:
                low_x, low_y = tap.min(axis=0)
                high_x, high_y = tap.max(axis=0)
                found.append((i, [round(float(low_x), 1), round(float(low_y), 1), round(float(high_x - low_x), 1),
                                  round(float(high_y - low_y), 1)]))
                break
    return found


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
