"""Pictures of whole numbers, synthesised for the line reader: digits of ONE writer, on paper as people
photograph it.

A number of 1 to 8 digits takes its digits from one writer (an MNIST writer's images, or a pen writer's
strokes rendered with a pen of random width), with gaps from overlapping to wide, varied height, slant
and rotation, on paper that may be ruled, gridded, underlined, boxed, printed with hatching or dots,
stained or shadowed, with separators and decimal marks (not digits) and leading or trailing marks
(currency signs, dashes), then blurred, noised and JPEG-compressed. `picture` returns the grey picture,
the digit string and each digit's box; `app.line.line_strip` turns it into what the model reads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from training.config import RECIPES
from training.data import validation_split

# The paper between one digit's ink and the next one's, as a share of the digit height, at their closest
# in any row (touching: the strokes meet); an overlap is a share of the digit's inked width.
GAPS = {
    "overlapping": (-0.25, -0.02),
    "touching": (-0.02, 0.03),
    "normal": (0.06, 0.3),
    "wide": (0.3, 0.8),
}
GAP_CHANCES = (0.15, 0.15, 0.5, 0.2)
PAPERS = ("plain", "ruled", "grid", "underlined", "boxed", "patterned", "separators")
MAX_DIGITS = 8
DIGIT = 40  # digit height while composing, px (the picture is rescaled afterwards)
INKED = 0.3  # an ink level that counts as ink when gaps are measured
MARKS = ("$", "#", "-", "+", "=", "*", "~", "EUR", "No")


@dataclass
class Writer:
    """One writer's digits: MNIST images (uint8 28x28, ink white) or pen strokes, with labels."""

    images: list[np.ndarray]
    strokes: list[list[np.ndarray]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)


def mnist_writers(x: np.ndarray, y: np.ndarray, writers: np.ndarray) -> list[Writer]:
    """MNIST digits grouped by their NIST writer (mnist_writers.npz)."""
    groups: dict[int, Writer] = defaultdict(lambda: Writer([], [], []))
    for image, label, writer in zip(x, y, writers):
        groups[int(writer)].images.append(image)
        groups[int(writer)].labels.append(int(label))
    return [groups[w] for w in sorted(groups) if len(groups[w]) >= 5]


def line_recipe_mnist_writers(mnist: dict, writers: np.ndarray) -> tuple[list[Writer], list[Writer]]:
    """(validating, training) MNIST training writers exactly as the line recipe splits them: the
    validating ones no picture model trains on, so its unsure thresholds are fitted on them."""
    recipe = RECIPES["line"]
    split = validation_split(len(mnist["x_train"]), recipe.validation, writers, np.random.default_rng(recipe.seed))
    validating, training = (mnist_writers(mnist["x_train"][idx], mnist["y_train"][idx], writers[idx]) for idx in split)
    return validating, training


def pen_writers(records: list[dict]) -> list[Writer]:
    """Pen digits grouped by writer (pendigits and UNIPEN records)."""
    groups: dict[str, Writer] = defaultdict(lambda: Writer([], [], []))
    for record in records:
        groups[str(record["writer"])].strokes.append(record["strokes"])
        groups[str(record["writer"])].labels.append(int(record["label"]))
    return [groups[w] for w in sorted(groups) if len(groups[w]) >= 5]


def _ink_of(writer: Writer, i: int, height: float, pen: float, rng: np.random.Generator) -> np.ndarray:
    """One digit as an ink image (float 0..1) about `height` px tall, tightly cropped."""
    if writer.images:
        image = writer.images[i].astype(np.float32) / 255
        ys, xs = np.nonzero(image > 0.1)
        image = image[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        scale = height / image.shape[0]
        size = (max(1, round(image.shape[1] * scale)), max(1, round(height)))
        return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    points = np.concatenate(writer.strokes[i])
    low, span = points.min(axis=0), np.maximum(np.ptp(points, axis=0), 1.0)
    scale = height / max(span[1], span[0] * 0.4)  # a 1 is tall and thin; a dash-like digit keeps a height
    width = pen * height
    canvas = np.zeros((int(span[1] * scale + 2 * width + 4), int(span[0] * scale + 2 * width + 4)), np.uint8)
    shift = 4  # fixed-point bits: sub-pixel strokes
    for stroke in writer.strokes[i]:
        path = ((stroke - low) * scale + width + 2) * (1 << shift)
        cv2.polylines(canvas, [np.round(path).astype(np.int32)], False, 255, max(1, int(round(width))),
                      cv2.LINE_AA, shift)
    return canvas.astype(np.float32) / 255


def _shear(image: np.ndarray, slant: float, angle: float) -> np.ndarray:
    """The digit slanted and turned slightly (the canvas grows to keep all of it)."""
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, :2] = matrix[:, :2] @ np.array([[1.0, -slant], [0.0, 1.0]])
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ matrix.T
    low, high = corners.min(axis=0), corners.max(axis=0)
    matrix[:, 2] -= low
    size = (int(np.ceil(high[0] - low[0])) + 1, int(np.ceil(high[1] - low[1])) + 1)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)


def _mark(text: str, height: float, thickness: int) -> np.ndarray:
    """A printed-looking or written mark (a currency sign, a dash) as ink, about `height` tall."""
    scale = height / 22
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    canvas = np.zeros((h + base + 2 * thickness + 2, w + 2 * thickness + 2), np.uint8)
    cv2.putText(canvas, text, (thickness + 1, h + thickness), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness,
                cv2.LINE_AA)
    return canvas.astype(np.float32) / 255


def _separator(kind: str, height: float, pen: float) -> tuple[np.ndarray, float]:
    """A thousands separator or decimal mark (not a digit): its ink and its top, relative to the digit top."""
    r = max(1.5, pen * height * 0.6)
    if kind == "dot":
        canvas = np.zeros((int(3 * r) + 2, int(3 * r) + 2), np.float32)
        cv2.circle(canvas, (canvas.shape[1] // 2, canvas.shape[0] // 2), int(round(r)), 1.0, -1, cv2.LINE_AA)
        return canvas, height - canvas.shape[0] * 0.8
    length = height * 0.3
    canvas = np.zeros((int(length + 3 * r) + 2, int(length * 0.5 + 3 * r) + 2), np.float32)
    cv2.line(canvas, (int(canvas.shape[1] - r - 1), int(r + 1)), (int(r + 1), int(canvas.shape[0] - r - 1)), 1.0,
             max(1, int(round(r))), cv2.LINE_AA)
    return canvas, (height - canvas.shape[0] * 0.35) if kind == "comma" else -height * 0.05


def compose(writer: Writer, rng: np.random.Generator, length: int, gap: str, separators: bool,
            ) -> tuple[np.ndarray, str, list[tuple[int, int, int, int]]]:
    """Ink (float 0..1) of one number from one writer's digits, its string and each digit's box (x, y, w, h)."""
    picks = rng.integers(0, len(writer), length)
    pen = rng.uniform(0.05, 0.14)
    slant, height = rng.uniform(-0.35, 0.35), DIGIT * rng.uniform(0.9, 1.1)
    pieces, boxes, edge = [], [], {}
    group_marks = separators and length >= 4 and rng.random() < 0.7
    decimal_at = int(rng.integers(1, length)) if separators and length >= 2 and rng.random() < 0.5 else -1
    for n, i in enumerate(picks):
        if n and (n == decimal_at or (group_marks and (length - n) % 3 == 0 and n != decimal_at)):
            mark, top = _separator(str(rng.choice(["dot", "comma", "apostrophe"])), height, pen)
            edges = _ink_edges(mark, top)
            x = _after(edge, edges, rng.uniform(0.02, 0.15) * height, by_rows=False)
            pieces.append((mark, x, top))
            _extend(edge, edges, x)
        ink = _shear(_ink_of(writer, int(i), height * rng.uniform(0.88, 1.12), pen, rng),
                     slant + rng.normal(0, 0.06), rng.normal(0, 3))
        top = rng.uniform(-0.06, 0.06) * height + (height - ink.shape[0]) / 2
        edges, x = _ink_edges(ink, top), 0.0
        if n:
            fraction = rng.uniform(*GAPS[gap])
            overlap = gap == "overlapping"
            x = _after(edge, edges, fraction * (_inked_width(edges) if overlap else height), by_rows=not overlap)
        pieces.append((ink, x, top))
        boxes.append((x, top, ink.shape[1], ink.shape[0]))
        _extend(edge, edges, x)
    left = min(x for _, x, _ in pieces)  # an overlap may start a piece's canvas left of the first one's
    pieces = [(ink, x - left, top) for ink, x, top in pieces]
    boxes = [(int(x - left), int(top), w, h) for x, top, w, h in boxes]
    return _paste(pieces), "".join(str(writer.labels[i]) for i in picks), boxes


def _ink_edges(ink: np.ndarray, top: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(picture rows, first inked column, last inked column) of the rows of `ink` that hold ink."""
    mask = ink > INKED
    rows = np.nonzero(mask.any(axis=1))[0]
    first = mask[rows].argmax(axis=1)
    last = ink.shape[1] - 1 - mask[rows, ::-1].argmax(axis=1)
    return rows + int(round(top)), first, last


def _inked_width(edges: tuple[np.ndarray, np.ndarray, np.ndarray]) -> int:
    """Columns from the first inked one to the last (the canvas is wider: pen margin and slant)."""
    rows, first, last = edges
    return int(last.max() - first.min() + 1) if len(rows) else 0


def _extend(edge: dict[int, float], edges: tuple[np.ndarray, np.ndarray, np.ndarray], x: float) -> None:
    """Record a piece placed at x (its _ink_edges) in `edge`: the rightmost ink so far in each picture row."""
    rows, _, last = edges
    for row, right in zip(rows, last):
        edge[int(row)] = max(edge.get(int(row), -np.inf), x + float(right))


def _after(edge: dict[int, float], edges: tuple[np.ndarray, np.ndarray, np.ndarray], gap: float,
           by_rows: bool) -> float:
    """Where a piece (its _ink_edges) goes so that `gap` px of paper lie between its ink and the ink before
    it (`edge`, never empty: the first digit is placed at 0): the closest approach in any one row (`by_rows`:
    a touching gap makes the strokes touch), or between the column extents (an overlap: the next digit
    starts back over the last one's width)."""
    rows, first, _ = edges
    if not len(rows):  # a piece with no ink: a plain step
        return gap + max(edge.values())
    if by_rows:
        reach = [edge[int(r)] - f for r, f in zip(rows, first) if int(r) in edge]
        if reach:
            return gap + max(reach)
    return gap + max(edge.values()) - float(first.min())


def _paste(pieces: list[tuple[np.ndarray, float, float]]) -> np.ndarray:
    """Ink pieces placed at (x, top) on one canvas (overlaps keep the darker ink); tops shifted to >= 0."""
    lowest = min(top for _, _, top in pieces)
    width = int(max(x + ink.shape[1] for ink, x, _ in pieces)) + 1
    height = int(max(top - lowest + ink.shape[0] for ink, _, top in pieces)) + 1
    canvas = np.zeros((height, width), np.float32)
    for ink, x, top in pieces:
        y0, x0 = int(top - lowest), int(x)
        region = canvas[y0:y0 + ink.shape[0], x0:x0 + ink.shape[1]]
        np.maximum(region, ink[:region.shape[0], :region.shape[1]], out=region)
    return canvas


def _lead(ink: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A leading or trailing mark by the number (a currency sign, a dash: not digits); the new ink and
    how far the number moved right."""
    height = DIGIT * rng.uniform(0.5, 1.0)
    mark = _mark(str(rng.choice(MARKS)), height, int(rng.integers(1, 4)))
    gap = int(rng.uniform(0.1, 0.5) * DIGIT)
    top = max(0, (ink.shape[0] - mark.shape[0]) // 2 + int(rng.uniform(-0.2, 0.2) * DIGIT))
    rows = max(ink.shape[0], top + mark.shape[0])
    canvas = np.zeros((rows, ink.shape[1] + gap + mark.shape[1]), np.float32)
    before = rng.random() < 0.7
    ink_x, mark_x = (mark.shape[1] + gap, 0) if before else (0, ink.shape[1] + gap)
    canvas[:ink.shape[0], ink_x:ink_x + ink.shape[1]] = ink
    canvas[top:top + mark.shape[0], mark_x:mark_x + mark.shape[1]] = np.maximum(
        canvas[top:top + mark.shape[0], mark_x:mark_x + mark.shape[1]], mark)
    return canvas, ink_x


def _paper(shape: tuple[int, int], rng: np.random.Generator, kind: str, ink_box: tuple[int, int, int, int],
           digit_boxes: list) -> tuple[np.ndarray, np.ndarray]:
    """(paper grey level, printed marks as ink 0..1) for one picture: light, lines, patterns."""
    h, w = shape
    level = rng.uniform(150, 250)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    paper = np.full(shape, level, np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    paper += rng.uniform(0, 40) * ((np.cos(angle) * xx / w + np.sin(angle) * yy / h) - 0.5)  # a gradient
    if rng.random() < 0.3:  # vignetting
        radius = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)
        paper -= rng.uniform(5, 35) * radius / radius.max()
    if rng.random() < 0.25:  # a shadow, soft or hard
        edge = rng.uniform(0.2, 0.8) * w + (yy - h / 2) * rng.uniform(-1, 1)
        shade = (xx < edge).astype(np.float32) if rng.random() < 0.5 else (xx > edge).astype(np.float32)
        if rng.random() < 0.6:
            shade = cv2.GaussianBlur(shade, (0, 0), rng.uniform(2, 0.1 * w + 3))
        paper -= rng.uniform(15, 70) * shade
    for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.2 else 0):  # stains
        stain = np.zeros(shape, np.float32)
        cv2.circle(stain, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(0.1, 0.4) * h), 1.0, -1)
        paper -= rng.uniform(8, 40) * cv2.GaussianBlur(stain, (0, 0), rng.uniform(2, 8))
    printed = np.zeros(shape, np.float32)
    x0, y0, x1, y1 = ink_box
    thick = int(rng.integers(1, 3))
    strength = rng.uniform(0.25, 0.9)
    if kind in ("ruled", "grid"):
        step = rng.uniform(0.7, 1.3) * DIGIT if kind == "ruled" else rng.uniform(0.3, 0.7) * DIGIT
        start = y1 + rng.uniform(-0.15, 0.1) * DIGIT
        for y in np.concatenate([np.arange(start, -1, -step), np.arange(start + step, h, step)]):
            cv2.line(printed, (0, int(y)), (w, int(y)), strength, thick)
        if kind == "grid":
            for x in np.arange(rng.uniform(0, step), w, step):
                cv2.line(printed, (int(x), 0), (int(x), h), strength, thick)
    elif kind == "underlined":
        y = int(y1 + rng.uniform(0.0, 0.25) * DIGIT)
        points = np.column_stack([np.linspace(x0 - rng.uniform(0, 0.5) * DIGIT, x1 + rng.uniform(0, 0.5) * DIGIT, 20),
                                  y + np.cumsum(rng.normal(0, 0.6, 20))]).astype(np.int32)
        cv2.polylines(printed, [points], False, 1.0, int(rng.integers(1, 5)), cv2.LINE_AA)  # the writer's own pen
    elif kind == "boxed":
        if rng.random() < 0.5:  # one box round the amount
            pad = int(rng.uniform(0.1, 0.4) * DIGIT)
            cv2.rectangle(printed, (x0 - pad, y0 - pad), (x1 + pad, y1 + pad), strength, thick)
        else:  # comb fields: a tick under or a box round each digit
            for bx, _, bw, _ in digit_boxes:
                cv2.rectangle(printed, (bx - 3, y0 - 4), (bx + bw + 3, y1 + 4), strength, thick)
    elif kind == "patterned":
        printed = _pattern(shape, rng) * rng.uniform(0.2, 0.6)
    return paper, printed


def _pattern(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A printed background: hatching, a dot screen, wavy guilloche lines or printed text-like marks."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(4)
    if kind == 0:  # hatching
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 14)
        phase = (np.cos(angle) * xx + np.sin(angle) * yy) / period
        return (np.abs(phase - np.round(phase)) < rng.uniform(0.08, 0.25)).astype(np.float32)
    if kind == 1:  # a dot screen
        period = rng.uniform(4, 10)
        return ((np.hypot((xx % period) - period / 2, (yy % period) - period / 2)) < period * 0.25).astype(np.float32)
    if kind == 2:  # guilloche: wavy lines
        period, wave = rng.uniform(5, 12), rng.uniform(3, 12)
        phase = (yy + wave * np.sin(xx / rng.uniform(8, 30))) / period
        return (np.abs(phase - np.round(phase)) < 0.12).astype(np.float32)
    canvas = np.zeros(shape, np.uint8)  # small printed text in rows
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for y in np.arange(rng.uniform(6, 14), h, rng.uniform(10, 18)):
        text = "".join(rng.choice(list(letters + "   ")) for _ in range(w // 5))
        cv2.putText(canvas, text, (0, int(y)), cv2.FONT_HERSHEY_PLAIN, rng.uniform(0.5, 0.8), 255, 1)
    return canvas.astype(np.float32) / 255


def _tilt(layers: list[np.ndarray], boxes: list, rng: np.random.Generator) -> tuple[list[np.ndarray], list]:
    """The page as a hand-held camera sees it: the ink layers (writing, printed lines) turned a few
    degrees and sometimes seen at a slant (perspective); the digits' boxes follow. The caller leaves
    room round the writing, so nothing leaves the frame."""
    h, w = layers[0].shape
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    angle = np.deg2rad(rng.uniform(-5, 5))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    moved = (corners - [w / 2, h / 2]) @ rotation.T + [w / 2, h / 2]
    if rng.random() < 0.4:  # seen at an angle: each corner drawn in towards the centre a little
        moved = moved + np.sign([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * rng.uniform(0, 0.05, (4, 2)) * [w, h]
    warp = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    layers = [cv2.warpPerspective(layer, warp, (w, h), flags=cv2.INTER_LINEAR) for layer in layers]
    out = []
    for x, y, bw, bh in boxes:
        box = np.float32([[[x, y]], [[x + bw, y]], [[x + bw, y + bh]], [[x, y + bh]]])
        points = cv2.perspectiveTransform(box, warp)[:, 0]
        low, high = points.min(axis=0), points.max(axis=0)
        out.append((float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1])))
    return layers, out


def picture(writer: Writer, rng: np.random.Generator, length: int | None = None, gap: str | None = None,
            paper: str | None = None) -> tuple[np.ndarray, str, list[tuple[int, int, int, int]]]:
    """A grey uint8 picture of a number by one writer, the digit string and each digit's box in the picture."""
    length = int(rng.integers(1, MAX_DIGITS + 1)) if length is None else length
    gap = str(rng.choice(list(GAPS), p=GAP_CHANCES)) if gap is None else gap
    paper = str(rng.choice(PAPERS)) if paper is None else paper
    ink, label, boxes = compose(writer, rng, length, gap, paper == "separators" or rng.random() < 0.1)
    if rng.random() < 0.15:
        ink, shift = _lead(ink, rng)
        boxes = [(x + shift, y, w, h) for x, y, w, h in boxes]
    tight = rng.random() < 0.1  # cropped close to the ink, as a careful user crops
    margin_y, margin_x = (int(rng.uniform(0.0, 0.1) * DIGIT if tight else rng.uniform(0.15, 1.2) * DIGIT)
                          for _ in range(2))
    tilted = not tight and rng.random() < 0.75  # a hand-held photo: room round the writing to turn it in
    if tilted:
        room = int(0.06 * (ink.shape[0] + ink.shape[1])) + 2
        margin_y, margin_x = margin_y + room, margin_x + room
    h, w = ink.shape[0] + 2 * margin_y, ink.shape[1] + 2 * margin_x
    placed = np.zeros((h, w), np.float32)
    placed[margin_y:margin_y + ink.shape[0], margin_x:margin_x + ink.shape[1]] = ink
    boxes = [(x + margin_x, y + margin_y, bw, bh) for x, y, bw, bh in boxes]
    ink_box = (margin_x, margin_y, margin_x + ink.shape[1], margin_y + ink.shape[0])
    light, printed = _paper((h, w), rng, paper, ink_box, boxes)
    if tilted:
        (placed, printed), boxes = _tilt([placed, printed], boxes, rng)
    pen_level = rng.uniform(0, 90) if rng.random() > 0.15 else rng.uniform(90, 150)  # low contrast sometimes
    pen_level = min(pen_level, float(np.median(light)) - 35)
    print_level = rng.uniform(60, 200)
    grey = light - (light - print_level) * np.clip(printed, 0, 1) * (print_level < light)
    grey = grey - (grey - pen_level) * placed
    grey += rng.normal(0, rng.uniform(0, 8), grey.shape)
    if rng.random() < 0.5:
        grey = cv2.GaussianBlur(grey, (0, 0), rng.uniform(0.3, 1.3))
    if rng.random() < 0.05:
        grey = 255 - grey
    scale = rng.uniform(0.35, 2.0)  # the picture's own size: digits from about 14 to 80 px tall
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    grey = cv2.resize(np.clip(grey, 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_AREA)
    if rng.random() < 0.6:
        grey = cv2.imdecode(cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])[1],
                            cv2.IMREAD_GRAYSCALE)
    boxes = [(x * scale, y * scale, bw * scale, bh * scale) for x, y, bw, bh in boxes]
    return grey, label, boxes


def blank_picture(rng: np.random.Generator) -> np.ndarray:
    """A grey uint8 picture with no number in it: paper, printed lines or patterns, speckle, stripes or a printed
    mark alone (what a reader must read as nothing)."""
    h, w = int(rng.integers(40, 160)), int(rng.integers(80, 700))
    kind = str(rng.choice(PAPERS))
    box = (w // 4, h // 4, 3 * w // 4, 3 * h // 4)
    light, printed = _paper((h, w), rng, kind, box, [])
    extra = rng.integers(5)
    if extra == 1:  # speckle of some density and grain
        grain = rng.uniform(1, 6)
        small = rng.random((max(2, int(h / grain)), max(2, int(w / grain)))) < rng.uniform(0.02, 0.5)
        printed = np.maximum(printed, cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST))
    elif extra == 2:  # stripes or a checkerboard
        yy, xx = np.mgrid[0:h, 0:w]
        period = rng.uniform(2, 20)
        stripes = (xx // period) % 2 if rng.random() < 0.5 else ((xx // period) + (yy // period)) % 2
        printed = np.maximum(printed, stripes.astype(np.float32))
    elif extra == 3:  # a printed mark alone
        mark = _mark(str(rng.choice(MARKS)), rng.uniform(0.3, 0.8) * h, int(rng.integers(1, 4)))
        mh, mw = min(mark.shape[0], h), min(mark.shape[1], w)
        y, x = int(rng.integers(0, h - mh + 1)), int(rng.integers(0, w - mw + 1))
        printed[y:y + mh, x:x + mw] = np.maximum(printed[y:y + mh, x:x + mw], mark[:mh, :mw])
    grey = light - (light - rng.uniform(0, 120)) * np.clip(printed, 0, 1)
    return np.clip(grey + rng.normal(0, rng.uniform(0, 8), grey.shape), 0, 255).astype(np.uint8)
