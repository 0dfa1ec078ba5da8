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


def resize_longest(grey: np.ndarray, longest: int, method: int = cv2.INTER_AREA) -> np.ndarray:
    """Resize so that the longer side is `longest` pixels, aspect kept."""
    factor = longest / max(grey.shape)
    size = (max(1, round(grey.shape[1] * factor)), max(1, round(grey.shape[0] * factor)))
    return cv2.resize(grey, size, interpolation=method)


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


def mask_to_mnist(mask: np.ndarray) -> np.ndarray:
    """A boolean ink mask (one digit) as a 28x28 MNIST image with an MNIST-wide pen; zeros when empty."""
    if not mask.any():
        return np.zeros((SIZE, SIZE), np.float32)
    return frame_image(_mnist_wide_pen(mask).astype(np.float32))


def pen_width(mask: np.ndarray) -> float:
    """The pen's width in an ink mask, in pixels: twice the distance to the paper along the centre line
    (for ink that thinning erases whole, such as 2x2 dots: twice the deepest point)."""
    ink = mask.astype(np.uint8)
    depth = cv2.distanceTransform(ink, cv2.DIST_L2, 5)
    centre_line = cv2.ximgproc.thinning(ink * 255) > 0
    if not centre_line.any():
        return 2 * float(depth.max())
    return 2 * float(np.median(depth[centre_line]))


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
