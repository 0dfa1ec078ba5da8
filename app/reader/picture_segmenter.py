"""The segmenter for pictures: a picture's ink thinned to its centre line, traced into pieces that end at
every junction, and the pieces cut into digits as app/reader/segmenter.py cuts strokes (candidate runs,
every one classified in one batched call, the best split by dynamic programming)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from app.errors import TooMuchInk
from app.reader import preprocessing
from app.reader.answers import Box
from app.reader.segmenter import _EPS, Group, _left_to_right, _two_best_paths, _union, _without_dots, box_of

MAX_PICTURE_RUN = 10  # pieces of a picture's traced centre line in one digit
# Bounds on a picture's ink (a 10-digit number uses a fraction of each): past them it is noise,
# hatching or a page of text, whose candidates would cost seconds to draw and classify.
MAX_PIECES = 150
MAX_SEGMENTS = 120
MAX_CENTRE_LINE = 12  # pixels of centre line per pixel of the picture's longer side (a 10-digit number: ~5)


@dataclass
class PictureCandidates:
    """A picture's units and every candidate digit drawn, ready for one batched model call."""

    segments: list[np.ndarray]
    boxes: list[Box]
    runs: list[tuple[int, int]]
    images: np.ndarray
    height: float
    unslant: object  # segments -> their box in the picture's (unsheared) pixels


def picture_candidates(mask: np.ndarray, max_segments: int = MAX_SEGMENTS) -> PictureCandidates | None:
    """Everything a picture's reading needs before the model: the CPU-heavy part, safe off the event loop.

    The writing is sheared upright, thinned to its centre line and traced into pieces that end at
    every junction, so digits that touch come apart where they touch. The pieces, ordered by their
    centres left to right, are the units; runs of units up to a wide digit's width are the
    candidates, drawn like strokes. None for a blank mask; TooMuchInk for noise (or over max_segments
    pieces of centre line: a caller expecting few digits stops before the costly part).
    """
    if not mask.any():
        return None
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count - 1 > MAX_PIECES:
        raise TooMuchInk(f"{count - 1} separate pieces of ink")
    # The writing's height: the tallest piece's (deslanting shears sideways, so heights stay).
    height = float(stats[1:, cv2.CC_STAT_HEIGHT].max())
    upright, unslant = _deslant(mask)
    skeleton_pixels = int((cv2.ximgproc.thinning(upright.astype(np.uint8) * 255) > 0).sum())
    if skeleton_pixels > MAX_CENTRE_LINE * max(upright.shape):
        raise TooMuchInk(f"{skeleton_pixels} pixels of centre line")
    segments = [s for s in preprocessing.skeleton_strokes(upright) if len(s)]
    if len(segments) > max_segments:
        raise TooMuchInk(f"{len(segments)} pieces of centre line")
    segments.sort(key=lambda s: float(s[:, 0].mean()))  # centres: overlapping digits interleave least
    boxes = [box_of(s) for s in segments]
    runs = _picture_runs(boxes, height)
    images = np.stack([preprocessing.render_strokes([segments[i] for i in range(a, b)]) for a, b in runs])
    return PictureCandidates(segments, boxes, runs, images, height, unslant)


def choose_picture_digits(candidates: PictureCandidates, probabilities: np.ndarray) -> list[Group]:
    """The best split of a picture's units given the model's answer for every candidate (cheap)."""
    boxes, runs = candidates.boxes, candidates.runs
    index = {run: i for i, run in enumerate(runs)}
    scores = {run: _picture_score(boxes, run, probabilities[index[run]], candidates.height) for run in runs}
    groups = [Group(list(range(a, b)), candidates.unslant([candidates.segments[i] for i in range(a, b)]),
                    candidates.images[index[(a, b)]], probabilities[index[(a, b)]])
              for a, b in _two_best_paths(len(boxes), scores)[0]]
    return _left_to_right(_without_dots(groups))


def _deslant(mask: np.ndarray):
    """Shear the writing upright (italic digits overlap in x), and a function giving a group's box back
    in the unsheared picture. The shear is the one that packs the ink into the fewest columns."""
    ys, xs = np.nonzero(mask)
    centre = float(ys.mean())
    best, slant = -1.0, 0.0
    for k in np.linspace(-0.7, 0.7, 29):
        columns = np.bincount(np.round(xs - k * (ys - centre) - xs.min() + 0.7 * mask.shape[0]).astype(np.int64))
        peak = float((columns.astype(np.float64) ** 2).sum())
        if peak > best:
            best, slant = peak, float(k)
    shift = 0.7 * mask.shape[0]
    width = int(mask.shape[1] + 2 * shift) + 1
    matrix = np.float32([[1, -slant, slant * centre + shift], [0, 1, 0]])
    upright = cv2.warpAffine(mask.astype(np.uint8), matrix, (width, mask.shape[0]), flags=cv2.INTER_NEAREST) > 0

    def unslant(paths: Sequence[np.ndarray]) -> Box:
        points = np.concatenate(paths)  # x, y in the upright picture
        original_x = points[:, 0] + slant * (points[:, 1] - centre) - shift
        left, right = float(original_x.min()), float(original_x.max())
        top, bottom = float(points[:, 1].min()), float(points[:, 1].max())
        return Box(left, top, right - left + 1, bottom - top + 1)

    return upright, unslant


def _picture_runs(boxes: Sequence[tuple], height: float) -> list[tuple[int, int]]:
    """Runs of consecutive units (left to right) no wider than a wide digit."""
    runs = []
    for a in range(len(boxes)):
        runs.append((a, a + 1))
        for b in range(a + 2, min(a + 1 + MAX_PICTURE_RUN, len(boxes)) + 1):
            if _union(boxes[a:b])[2] > 1.7 * height:
                break
            runs.append((a, b))
    return runs


def _picture_score(boxes: Sequence[tuple], run: tuple[int, int], probabilities: np.ndarray, height: float) -> float:
    """A run's log score: the classifier's confidence, less a penalty for shapes no digit has."""
    box = _union(boxes[run[0]:run[1]])
    score = math.log(float(probabilities.max()) + _EPS)
    score -= 3.0 * max(0.0, box[2] / max(box[3], _EPS) - 1.5)  # wider than any digit: several of them
    score -= 3.0 * max(0.0, 0.55 - box[3] / height)  # far shorter than the number: a piece of a digit
    for j in range(run[0] + 1, run[1]):  # pieces with a clear gap between them are rarely one digit
        gap = (boxes[j][0] - max(b[0] + b[2] for b in boxes[run[0]:j])) / height
        score -= 6.0 * max(0.0, gap - 0.04)
    return score
