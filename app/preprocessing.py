"""MNIST-style preprocessing shared by the server, train.py and the evaluation (no train/serve skew).

Pure numpy/OpenCV. Every input (strokes or a picture) ends as a 28x28 float32 image in 0..1,
white ink on black, framed the way MNIST was made: the ink fits a 20x20 box, aspect kept, and
its centre of mass sits at the centre of the 28x28 image.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

SIZE = 28
BOX = 20
# MNIST's centre of mass in pixel-index coordinates: the mean over all 70,000 digits is (14.0, 14.0).
CENTRE = 14.0
# Pen width at 28x28 scale. MNIST strokes are 2-3 px wide; drawing every input at one
# width makes a thin and a thick pen, a small and a large drawing, give the same image.
STROKE_WIDTH = 2.2
# Render at 6x and area-downsample: sub-pixel widths and smooth edges. The downsampling is the
# anti-aliasing, so the lines are drawn plain (LINE_8): cv2's anti-aliased thick lines cost 3x more,
# and 6x plain lines come out as 8x anti-aliased ones did (ink mass 1.01x, mean pixel difference 0.003).
SUPERSAMPLE = 6
SMALL_PICTURE = 128  # pictures smaller than this (longer side, px) are enlarged before thresholding
PAPER_MARGIN = 0.15  # paper added round a picture before thresholding, as a share of its longer side
SHADOW = 40  # grey levels between the brightest and darkest edge's paper beyond which none is added
_SHIFT_BITS = 4  # cv2 drawing takes fixed-point coordinates with this many fractional bits

Strokes = Sequence[np.ndarray]
Mapping = tuple[float, float, float]  # (scale, dx, dy): drawing units to 28x28 pixel units


def render_strokes(strokes: Strokes, width: float = STROKE_WIDTH) -> np.ndarray:
    """Draw strokes (point arrays, any units, y down) as a 28x28 MNIST-framed float32 image."""
    return render_strokes_mapped(strokes, width)[0]


def render_strokes_mapped(strokes: Strokes, width: float = STROKE_WIDTH) -> tuple[np.ndarray, Mapping]:
    """render_strokes, and where each drawing point landed: (scale, dx, dy), so that a point (x, y) of
    the strokes lies at (x * scale + dx, y * scale + dy) in the image's pixel units (pixel i spans [i, i+1))."""
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes]
    points = np.concatenate(arrays)
    low = points.min(axis=0)
    span = points.max(axis=0) - low
    extent = float(span.max())
    # Scale the pen path so that the path plus the pen's width fills the 20 px box, as MNIST's ink does.
    scale = (BOX - width) / extent if extent > 0 else 0.0
    if not np.isfinite(scale):  # an extent so small (e.g. 5e-324) that dividing overflows: a dot
        scale = 0.0
    half_span = span * scale / 2
    hi = SIZE * SUPERSAMPLE
    canvas = np.zeros((hi, hi), np.uint8)
    thickness = max(1, round(width * SUPERSAMPLE))
    fixed = []
    for stroke in arrays:
        path = (stroke - low) * scale - half_span + SIZE / 2
        fixed.append(np.round(path * SUPERSAMPLE * (1 << _SHIFT_BITS)).astype(np.int32))
    lines = [p for p in fixed if len(p) > 1]
    if lines:
        cv2.polylines(canvas, lines, False, 255, thickness, cv2.LINE_8, _SHIFT_BITS)
    for dot in (p for p in fixed if len(p) == 1):  # a tap draws a dot, as a pen would
        cv2.circle(canvas, tuple(int(v) for v in dot[0]), (thickness * (1 << _SHIFT_BITS)) // 2,
                   255, -1, cv2.LINE_8, _SHIFT_BITS)
    small = cv2.resize(canvas, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    dx, dy = mass_shift(small)
    offset = SIZE / 2 - half_span - low * scale
    return _shifted(small, dx, dy), (float(scale), float(offset[0] + dx), float(offset[1] + dy))


def has_ink(image: np.ndarray) -> bool:
    """Whether a rendered 28x28 image holds any ink (and no NaN)."""
    return bool(np.isfinite(image).all() and image.max() > 0)


def centre_by_mass(image: np.ndarray) -> np.ndarray:
    """Shift a 28x28 image (sub-pixel) so that its centre of mass lands at the MNIST centre."""
    return _shifted(image, *mass_shift(image))


def mass_shift(image: np.ndarray) -> tuple[float, float]:
    """The (dx, dy) that moves a 28x28 image's centre of mass to the MNIST centre; (0, 0) without ink."""
    moments = cv2.moments(image)
    if moments["m00"] <= 0:
        return 0.0, 0.0
    return CENTRE - moments["m10"] / moments["m00"], CENTRE - moments["m01"] / moments["m00"]


def _shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The image moved by (dx, dy) pixels, sub-pixel, nothing wrapped round."""
    if dx == 0 and dy == 0:
        return image
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, shift, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderValue=0)


def frame_image(ink: np.ndarray) -> np.ndarray:
    """MNIST-frame a grey ink image (white on black, 0..1): crop, fit the 20 px box, centre the mass."""
    ys, xs = np.nonzero(ink > 0)
    if len(xs) == 0:
        return np.zeros((SIZE, SIZE), np.float32)
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32)
    h, w = crop.shape
    factor = BOX / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    # INTER_AREA averages when shrinking (MNIST's anti-aliasing); INTER_LINEAR when enlarging.
    method = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    fitted = cv2.resize(crop, size, interpolation=method)
    out = np.zeros((SIZE, SIZE), np.float32)
    top, left = (SIZE - size[1]) // 2, (SIZE - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = fitted
    return centre_by_mass(np.clip(out, 0, 1))


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Threshold a photo or scan of a digit (uint8 grey, either polarity) into a boolean ink mask."""
    # A digit needs no more than a few hundred pixels: shrink big photos first. A tiny scan (a 16x16
    # envelope digit) is enlarged smoothly first, so the threshold draws curves, not blocks.
    if max(gray.shape) > 512:
        gray = resize_longest(gray, 512)
    elif max(gray.shape) < SMALL_PICTURE:
        gray = resize_longest(gray, SMALL_PICTURE, cv2.INTER_CUBIC)
    gray = gray.astype(np.float32)
    # Paper all round: ink that touches the picture's edge is then still ink against paper for the
    # polarity test, the background estimate and the threshold (cut off again at the end). Not when a
    # shadow crosses the page: plain paper would meet it in a step the threshold takes for ink.
    pad = 0 if _shadowed(gray) else max(2, round(PAPER_MARGIN * max(gray.shape)))
    if pad:
        gray = _add_paper(gray, pad)
    # Dark ink on light paper is inverted so the ink is bright. Decided by the tails, not the mean: ink
    # is a minority far from the paper's level on one side, while uneven light (a vignette, a shadow)
    # moves large areas a little (the mean-versus-median test it replaces read a 12-level vignette as
    # light ink on dark paper, and so the paper as the digit).
    if _dark_ink(gray):
        gray = 255.0 - gray
    signal = np.clip(gray - _background(gray), 0, None)
    if signal.max() < 24:  # under ~10% contrast anywhere: a blank page, not a digit
        return np.zeros((gray.shape[0] - 2 * pad, gray.shape[1] - 2 * pad), bool)
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


def _dark_ink(gray: np.ndarray) -> bool:
    """Whether the ink is darker than the paper: the paper is the picture's typical level, and the ink
    the farther of its two extremes from it."""
    low, paper, high = np.percentile(gray, (0.5, 50, 99.5))
    return paper - low > high - paper


def _shadowed(gray: np.ndarray) -> bool:
    """Whether the lighting differs widely between the picture's edges: both the dark and the bright
    end of every edge shift together under a shadow, while ink beside an edge shifts only one."""
    edges = (gray[0], gray[-1], gray[:, 0], gray[:, -1])
    dark = np.ptp([np.percentile(edge, 20) for edge in edges])
    bright = np.ptp([np.percentile(edge, 80) for edge in edges])
    return min(dark, bright) > SHADOW


def _add_paper(gray: np.ndarray, pad: int) -> np.ndarray:
    """The picture with `pad` pixels of plain paper round it: the median of its edges (ink is a minority there)."""
    edges = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=float(np.median(edges)))


def _background(gray: np.ndarray, coarse: int = 64) -> np.ndarray:
    """A smooth estimate of the paper's brightness, so uneven lighting and shadows do not survive
    the threshold: a grey opening half the picture wide (wider than any pen), on a 64 px copy."""
    small = resize_longest(gray, coarse)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (coarse // 2 + 1, coarse // 2 + 1))
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    smooth = cv2.GaussianBlur(opened, (0, 0), coarse / 16)
    return cv2.resize(smooth, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)


def resize_longest(gray: np.ndarray, longest: int, method: int = cv2.INTER_AREA) -> np.ndarray:
    """Resize so that the longer side is `longest` pixels, aspect kept."""
    factor = longest / max(gray.shape)
    size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
    return cv2.resize(gray, size, interpolation=method)


def _drop_shadows(mask: np.ndarray) -> np.ndarray:
    """Drop the pieces that are shadows, not ink: a piece that touches the picture's edge and is far
    thicker than the thinnest real piece (a shadow's edge is a step the threshold keeps, but a pen
    draws lines of one width)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    thickness = np.array([depth[labels == i].max() for i in range(1, count)])
    x, y, w, h = (stats[1:, k] for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    at_edge = (x == 0) | (y == 0) | (x + w == mask.shape[1]) | (y + h == mask.shape[0])
    # Far thicker than the pen (the thinnest piece) and, in itself, a tenth of the picture across: a
    # digit cropped to its ink also touches the edges, and where its strokes cross it is thicker too.
    shadow = at_edge & (thickness > 3 * thickness.min()) & (thickness > 0.05 * min(mask.shape))
    if shadow.all():
        return mask
    return np.isin(labels, np.flatnonzero(~shadow) + 1)


def _drop_specks(mask: np.ndarray) -> np.ndarray:
    """Keep the connected pieces of ink that matter; dust and paper grain are much smaller."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(4, 0.08 * areas.max())) + 1
    return np.isin(labels, keep)


def skeleton_strokes(mask: np.ndarray) -> list[np.ndarray]:
    """Thin an ink mask to one-pixel lines and trace them into strokes (x, y point arrays)."""
    skeleton = cv2.ximgproc.thinning(mask.astype(np.uint8) * 255) > 0
    ys, xs = np.nonzero(skeleton)
    index = {(y, x): i for i, (y, x) in enumerate(zip(ys.tolist(), xs.tolist()))}
    # m-adjacency: a diagonal step counts only where no side step joins the same two pixels,
    # so a staircase is a chain of two-neighbour pixels, not a string of false junctions.
    neighbours = [[index[(y + dy, x + dx)] for dy, dx in _STEPS if (y + dy, x + dx) in index
                   and not (dy and dx and ((y + dy, x) in index or (y, x + dx) in index))]
                  for y, x in index]
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    # Walk from ends and junctions first so each stroke is a long run, then any closed loops.
    order = sorted(range(len(neighbours)), key=lambda i: len(neighbours[i]) == 2)
    used: set[tuple[int, int]] = set()
    strokes = []
    for start in order:
        for first in neighbours[start]:
            if (start, first) in used:
                continue
            path = _walk(start, first, neighbours, used)
            strokes.append(points[path])
    isolated = [points[[i]] for i in range(len(neighbours)) if not neighbours[i]]
    return strokes + isolated


_STEPS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _walk(start: int, step: int, neighbours: list[list[int]], used: set[tuple[int, int]]) -> list[int]:
    """Follow unused skeleton edges from start through pixels that have exactly two neighbours."""
    path = [start]
    current, nxt = start, step
    while nxt is not None:
        used.update({(current, nxt), (nxt, current)})
        path.append(nxt)
        current = nxt
        options = [n for n in neighbours[current] if (current, n) not in used]
        nxt = options[0] if len(neighbours[current]) == 2 and options else None
    return path


def image_to_mnist(gray: np.ndarray) -> np.ndarray:
    """Turn a photo or scan (uint8 grey) into a 28x28 MNIST image with an MNIST-wide pen."""
    return mask_to_mnist(ink_mask(gray))


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


def mask_to_mnist(mask: np.ndarray) -> np.ndarray:
    """A boolean ink mask (one digit) as a 28x28 MNIST image with an MNIST-wide pen; zeros when empty."""
    if not mask.any():
        return np.zeros((SIZE, SIZE), np.float32)
    return frame_image(_mnist_wide_pen(mask).astype(np.float32))


def pen_width(mask: np.ndarray) -> float:
    """The pen's width in an ink mask, in pixels: twice the distance to the paper along the centre line."""
    ink = mask.astype(np.uint8)
    centre_line = cv2.ximgproc.thinning(ink * 255) > 0
    return 2 * float(np.median(cv2.distanceTransform(ink, cv2.DIST_L2, 5)[centre_line]))


def _mnist_wide_pen(mask: np.ndarray) -> np.ndarray:
    """Thin or thicken the ink so that, once the drawing fills the 20 px box, its pen is MNIST-wide."""
    ys, xs = np.nonzero(mask)
    extent = max(np.ptp(ys), np.ptp(xs)) + 1
    ink = mask.astype(np.uint8)
    width = pen_width(mask)
    target = STROKE_WIDTH * extent / BOX
    radius = int(round(abs(width - target) / 2))
    if radius == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    if width < target:
        return cv2.dilate(ink, kernel) > 0
    thinner = cv2.erode(ink, kernel)
    # A pen that varies in width loses its thin parts to erosion; then keep the ink as drawn.
    return thinner > 0 if thinner.sum() > 0.3 * ink.sum() else mask
