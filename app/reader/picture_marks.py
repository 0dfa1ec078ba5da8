"""The marks in a picture of a number: decimal points, commas, dashes and minus signs, found as pieces of
ink that no digit owns and painted over with paper before the number is read, so that "12-5" is not read
as 1215 and "3.14" keeps its point (app/reader/marks.py places them among the digits read).

A piece is a mark by the same shape and height rules as a drawn stroke (marks.mark_kind), measured against
the band of the pieces as tall as a digit, and only when no other ink sits above or below it (a 7's bar,
a 5's flag or a broken stroke of a digit always has its digit's ink under it). A point must be as thick
as the pen writes: dust and paper grain are no points.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.reader import line, marks
from app.reader.ink import ink_strength
from app.reader.preprocessing import resize_longest

INK = 0.35  # ink strength that counts as ink: the line reader's own threshold (app/reader/line.py)


def pull_picture_marks(grey: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the picture with its marks painted as paper, each mark's box as two corners in picture pixels)."""
    reduced = resize_longest(grey, line.LONGEST) if max(grey.shape) > line.LONGEST else grey
    factor = grey.shape[1] / reduced.shape[1]
    mask = line.writing_mask((ink_strength(reduced) > INK).astype(np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count < 3 or count > 200:  # one piece, or a texture rather than writing: nothing to place a mark in
        return grey, []
    pieces = stats[1:, :4].astype(float)
    tall = pieces[:, 3] >= 0.5 * pieces[:, 3].max()
    band = marks.Band(float(pieces[tall, 1].min()), float((pieces[tall, 1] + pieces[tall, 3]).max()))
    pen = _pen_width(mask, labels, np.flatnonzero(tall) + 1)
    found = [i for i in np.flatnonzero(~tall) if _is_mark(pieces, i, band, pen)]
    if not found:
        return grey, []
    cover = cv2.dilate(np.isin(labels, [i + 1 for i in found]).astype(np.uint8), np.ones((5, 5), np.uint8))
    cover = cv2.resize(cover, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
    painted = grey.copy()
    painted[cover] = np.uint8(np.median(grey))  # paper is most of a picture of a number
    corners = [np.array([[x, y], [x + w, y + h]], float) * factor for x, y, w, h in pieces[found]]
    return painted, corners


def _is_mark(pieces: np.ndarray, i: int, band: marks.Band, pen: float) -> bool:
    """Whether piece i is a mark: its shape and height say so, it is alone in its columns, and a point is
    as thick as the pen."""
    x, y, w, h = pieces[i]
    kind = marks.mark_kind(np.array([[x, y], [x + w, y + h]]), band)
    if kind is None or (kind in ("point", "comma") and min(w, h) < 0.6 * pen):
        return False
    left, right = x - 0.05 * w, x + w + 0.05 * w
    others = np.delete(pieces, i, axis=0)
    return not np.any((others[:, 0] <= right) & (others[:, 0] + others[:, 2] >= left))


def _pen_width(mask: np.ndarray, labels: np.ndarray, digits: np.ndarray) -> float:
    """The pen's width in the digits' pieces: twice the distance from their ink's middle to its edge."""
    ink = np.isin(labels, digits).astype(np.uint8)
    distance = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
    return 2.0 * float(np.percentile(distance[ink > 0], 95)) if ink.any() else 0.0
