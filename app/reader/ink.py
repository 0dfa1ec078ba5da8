"""Where the ink is in a photo or scan: two measures for two readers, side by side so they stay one concern.

- ink_mask: a boolean mask (the paper's light subtracted, Otsu's threshold, specks and edge shadows dropped)
  for what reads shapes: one digit's MNIST framing (the CNN) and the segmenter's traced centre line.
- ink_strength: ink as a strength 0..1 (the paper's light subtracted, no threshold) for the sequence
  reader, whose strips keep faint strokes and anti-aliasing as the model learned them (training/lines.py
  makes its training strips with the same function).

They differ on purpose: the line model was trained on graded strips, the CNN on framed masks; making one
serve both would change what each model reads (and its measured figures).
"""

from __future__ import annotations

import cv2
import numpy as np

from app.reader.preprocessing import mask_to_mnist, resize_longest

SMALL_PICTURE = 128  # pictures smaller than this (longer side, px) are enlarged before thresholding
PAPER_MARGIN = 0.15  # paper added round a picture before thresholding, as a share of its longer side
SHADOW = 40  # grey levels between the brightest and darkest edge's paper beyond which none is added
PAPER_SIDE = 128  # ink_strength estimates the paper's light on a copy this size


def ink_mask(grey: np.ndarray) -> np.ndarray:
    """Threshold a photo or scan of a digit (uint8 grey, either polarity) into a boolean ink mask."""
    # A digit needs no more than a few hundred pixels: shrink big photos first. A tiny scan (a 16x16
    # envelope digit) is enlarged smoothly first, so the threshold draws curves, not blocks.
    if max(grey.shape) > 512:
        grey = resize_longest(grey, 512)
    elif max(grey.shape) < SMALL_PICTURE:
        grey = resize_longest(grey, SMALL_PICTURE, cv2.INTER_CUBIC)
    grey = grey.astype(np.float32)
    # Paper all round: ink that touches the picture's edge is then still ink against paper for the
    # polarity test, the background estimate and the threshold (cut off again at the end). Not when a
    # shadow crosses the page: plain paper would meet it in a step the threshold takes for ink.
    pad = 0 if _shadowed(grey) else max(2, round(PAPER_MARGIN * max(grey.shape)))
    if pad:
        grey = _add_paper(grey, pad)
    # Dark ink on light paper is inverted so the ink is bright. Decided by the tails, not the mean: ink
    # is a minority far from the paper's level on one side, while uneven light (a vignette, a shadow)
    # moves large areas a little (the mean-versus-median test it replaces read a 12-level vignette as
    # light ink on dark paper, and so the paper as the digit).
    if _dark_ink(grey):
        grey = 255.0 - grey
    signal = np.clip(grey - _background(grey), 0, None)
    if signal.max() < 24:  # under ~10% contrast anywhere: a blank page, not a digit
        return np.zeros((grey.shape[0] - 2 * pad, grey.shape[1] - 2 * pad), bool)
    scaled = (signal * (255.0 / signal.max())).astype(np.uint8)
    _, mask = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return _drop_shadows(_drop_specks((mask[pad:-pad, pad:-pad] if pad else mask) > 0))


def implausible_ink(mask: np.ndarray) -> bool:
    """Ink no pen draws: a piece as thick as 70% of the ink's extent (a blot, a thumb, paper or a shadow
    taken for ink). A pen's line is thinner for its digit, even in a digit cropped to its ink or a blocky
    16x16 scan (at most 62% on the test fixture's; a filled disc is 98%, a thumb in a corner 82%)."""
    if not mask.any():
        return False
    ys, xs = np.nonzero(mask)
    extent = max(np.ptp(ys), np.ptp(xs)) + 1
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    thickest = 2 * float(cv2.distanceTransform(padded, cv2.DIST_L2, 5).max())
    return bool(thickest > 0.7 * extent)


def _dark_ink(grey: np.ndarray) -> bool:
    """Whether the ink is darker than the paper: the paper is the picture's typical level, and the ink
    the farther of its two extremes from it."""
    low, paper, high = np.percentile(grey, (0.5, 50, 99.5))
    return paper - low > high - paper


def _shadowed(grey: np.ndarray) -> bool:
    """Whether the lighting differs widely between the picture's edges: both the dark and the bright
    end of every edge shift together under a shadow, while ink beside an edge shifts only one."""
    edges = (grey[0], grey[-1], grey[:, 0], grey[:, -1])
    dark = np.ptp([np.percentile(edge, 20) for edge in edges])
    bright = np.ptp([np.percentile(edge, 80) for edge in edges])
    return min(dark, bright) > SHADOW


def _add_paper(grey: np.ndarray, pad: int) -> np.ndarray:
    """The picture with `pad` pixels of plain paper round it: the median of its edges (ink is a minority there)."""
    edges = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=float(np.median(edges)))


def _background(grey: np.ndarray, coarse: int = 64) -> np.ndarray:
    """A smooth estimate of the paper's brightness, so uneven lighting and shadows do not survive
    the threshold: a grey opening half the picture wide (wider than any pen), on a 64 px copy."""
    small = resize_longest(grey, coarse)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (coarse // 2 + 1, coarse // 2 + 1))
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    smooth = cv2.GaussianBlur(opened, (0, 0), coarse / 16)
    return cv2.resize(smooth, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)


def _drop_shadows(mask: np.ndarray) -> np.ndarray:
    """Drop the pieces that are shadows, not ink: a piece that touches the picture's edge and is far
    thicker than the thinnest real piece (a shadow's edge is a step the threshold keeps, but a pen
    draws lines of one width)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    thickness = piece_maxima(labels, depth, count)[1:]
    x, y, w, h = (stats[1:, k] for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    at_edge = (x == 0) | (y == 0) | (x + w == mask.shape[1]) | (y + h == mask.shape[0])
    # Far thicker than the pen (the thinnest piece) and, in itself, a tenth of the picture across: a
    # digit cropped to its ink also touches the edges, and where its strokes cross it is thicker too.
    shadow = at_edge & (thickness > 3 * thickness.min()) & (thickness > 0.05 * min(mask.shape))
    if shadow.all():
        return mask
    return np.isin(labels, np.flatnonzero(~shadow) + 1)


def piece_maxima(labels: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """The largest value within each labelled piece (label 0 too), in one pass over the pixels: a loop
    comparing the whole label image once per piece cost 1.3 CPU-s for a grid of a few thousand dots."""
    maxima = np.full(count, -np.inf, np.float64)
    np.maximum.at(maxima, labels.ravel(), values.ravel())
    return maxima


def _drop_specks(mask: np.ndarray) -> np.ndarray:
    """Keep the connected pieces of ink that matter; dust and paper grain are much smaller."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(4, 0.08 * areas.max())) + 1
    return np.isin(labels, keep)


def drop_underline(mask: np.ndarray) -> np.ndarray:
    """One digit's ink without a line drawn or printed under it: the lowest piece goes when it is a thin
    bar (at most a quarter as tall as wide), at least 80% as wide as the rest of the ink and wholly in
    the rest's lower part. A digit's own base (a 2's) touches the digit and is never a piece apart."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    pieces = stats[1:]
    bottoms = pieces[:, cv2.CC_STAT_TOP] + pieces[:, cv2.CC_STAT_HEIGHT]
    lowest = int(bottoms.argmax())
    x, y, w, h = (int(pieces[lowest, k]) for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH,
                                                   cv2.CC_STAT_HEIGHT))
    rest = np.isin(labels, [i + 1 for i in range(len(pieces)) if i != lowest])
    ys, xs = np.nonzero(rest)
    rest_top, rest_height, rest_width = ys.min(), ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    underline = h <= 0.25 * w and w >= 0.8 * rest_width and y >= rest_top + 0.6 * rest_height
    return rest if underline else mask


def ink_strength(grey: np.ndarray) -> np.ndarray:
    """Ink strength 0..1 of a grey picture (dark ink on lighter paper, or the reverse): the paper is
    estimated by a max filter wider than a pen stroke and subtracted, so uneven light is not ink. The
    filter runs on a copy reduced to PAPER_SIDE, so its cost does not grow with the picture."""
    grey = grey.astype(np.float32)
    if np.median(grey) < 110:  # light ink on dark paper (a board, an inverted scan)
        grey = 255 - grey
    reduce = max(grey.shape) > PAPER_SIDE
    small = resize_longest(grey, PAPER_SIDE) if reduce else grey
    size = max(5, int(round(min(small.shape) / 6)) | 1)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    paper = cv2.GaussianBlur(paper, (0, 0), size / 3)
    if reduce:
        paper = cv2.resize(paper, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)
    ink = np.clip(paper - grey, 0, None)
    step = max(1, int(np.sqrt(ink.size / 40_000)))  # the 99.5th percentile of a sample: the same, cheaper
    top = float(np.percentile(ink[::step, ::step], 99.5))
    return np.clip(ink / max(top, 24.0), 0, 1)  # a faint picture is not stretched into ink


def image_to_mnist(grey: np.ndarray) -> np.ndarray:
    """Turn a photo or scan (uint8 grey) into a 28x28 MNIST image with an MNIST-wide pen."""
    return mask_to_mnist(ink_mask(grey))
