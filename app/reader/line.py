"""The sequence reader for a picture of a whole number: no cutting, a network reads the whole line.

A picture is reduced and normalised into a short, wide strip (`line_strip`: the same function makes
the training strips, so there is no train/serve skew); the line model (a CNN, trained with CTC) gives
each column of the strip a probability for the ten digits and a blank; greedy decoding reads the number
(a repeated digit, as in 2000, needs a blank between its copies, so it survives). Each digit's
probabilities come from the column where it is emitted; its box from the columns between its
neighbours' and the ink inside them. Pure numpy and OpenCV; the model runs with LiteRT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from app.errors import NoInk, TooMuchInk
from app.reader import models, preprocessing
from app.reader.answers import Box
from app.reader.ink import ink_strength

HEIGHT = 32  # strip height the model reads
STRIDE = 4  # strip pixels per output column
MIN_WIDTH, MAX_WIDTH = 48, 448  # a wider strip is squeezed: bounds the work for any picture
LONGEST = 768  # a picture is reduced to this longer side before anything else (cost bound)
MAX_INK = 0.45  # a share of the picture, rules aside: writing on paper covers far less (noise, print: more)
BLANK = 10
MARGIN = 0.2  # of the ink band's height, kept round the ink when the strip is cut out


@dataclass(frozen=True)
class Strip:
    """A picture as the line model reads it, and how to map its columns back to the picture."""

    image: np.ndarray  # (HEIGHT, width) float32, ink bright on black, 0..1
    left: float  # picture x of the strip's column 0
    top: float  # picture y of the strip's row 0
    x_scale: float  # picture pixels per strip pixel, across
    y_scale: float  # picture pixels per strip pixel, down
    ink: np.ndarray  # (HEIGHT, width) bool: the strip's ink, for the boxes
    paper: np.ndarray  # (HEIGHT, unpadded width) float32 0..1: the same cut of the picture as it is, ink dark


def writing_mask(mask: np.ndarray) -> np.ndarray:
    """The mask without long straight rules (ruled lines, underlines, grid and box edges): where the
    writing is, for cutting the strip; the strip itself keeps them (the model learned to ignore them)."""
    h, w = mask.shape
    rows = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, max(15, w // 4)), np.uint8))
    cols = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((max(15, int(h * 0.8)), 1), np.uint8))
    return mask & ~rows & ~cols


def _band(profile: np.ndarray, share: float = 0.01) -> tuple[int, int]:
    """The range holding all but `share` of the profile's mass at each end."""
    cumulative = np.cumsum(profile) / max(profile.sum(), 1e-9)
    return int(np.searchsorted(cumulative, share)), int(np.searchsorted(cumulative, 1 - share)) + 1


@dataclass(frozen=True)
class Band:
    """Where the writing is in a picture: the picture reduced for the work, its ink and writing (rules
    aside), and the band to cut out with its margin (in the reduced picture's pixels)."""

    light: np.ndarray  # the picture reduced (at most LONGEST on its longer side), grey, ink darker than paper
    factor: float  # picture pixels per reduced pixel
    ink: np.ndarray  # 0..1
    writing: np.ndarray  # bool
    x0: int
    y0: int
    x1: int
    y1: int


def writing_band(grey: np.ndarray) -> Band:
    """A grey picture of a number -> where its writing is, with a margin. NoInk if blank, TooMuchInk for
    noise or a page."""
    reduced = preprocessing.resize_longest(grey, LONGEST) if max(grey.shape) > LONGEST else grey
    ink = ink_strength(reduced)
    mask = (ink > 0.35).astype(np.uint8)
    writing = writing_mask(mask).astype(bool)
    if writing.mean() > MAX_INK:  # ruled lines and grids aside
        raise TooMuchInk(f"{writing.mean():.0%} of the picture is ink")
    if writing.sum() < 0.2 * mask.sum():  # a tight crop of a 1 or a 7 is all long lines: keep the ink
        writing = mask.astype(bool)
    if writing.sum() < 4:
        raise NoInk()
    top, bottom = _band(writing.sum(axis=1))
    left, right = _band(writing.sum(axis=0), 0.002)
    pad = MARGIN * max(bottom - top, 4) + 2
    light = reduced if np.median(reduced) >= 110 else 255 - reduced  # as ink_strength tells ink from paper
    return Band(light, grey.shape[1] / reduced.shape[1], ink, writing, max(0, int(left - pad)),
                max(0, int(top - pad)), min(ink.shape[1], int(right + pad)), min(ink.shape[0], int(bottom + pad)))


def line_strip(grey: np.ndarray, rows: int = HEIGHT) -> Strip:
    """A grey picture of a number -> the strip the line model reads (see strip_of). NoInk if blank."""
    return strip_of(writing_band(grey), rows)


def strip_of(band: Band, rows: int = HEIGHT, stretch: float = 1.0) -> Strip:
    """The writing's band cut out, scaled to `rows` rows (aspect kept, or stretched across by `stretch`;
    within MIN_WIDTH..MAX_WIDTH columns at HEIGHT rows, as many times wider as `rows` is taller)."""
    y0, y1, x0, x1 = band.y0, band.y1, band.x0, band.x1
    crop = band.ink[y0:y1, x0:x1]
    width = int(np.clip(round(crop.shape[1] * rows / crop.shape[0] * stretch), 1, MAX_WIDTH * rows // HEIGHT))
    strip = np.clip(cv2.resize(crop, (width, rows), interpolation=cv2.INTER_AREA), 0, 1)
    padded = np.zeros((rows, _padded_width(width)), np.float32)
    padded[:, :width] = strip
    paper = cv2.resize(band.light[y0:y1, x0:x1].astype(np.float32), (width, rows), interpolation=cv2.INTER_AREA) / 255
    # The boxes look at the writing only: ruled lines, grids and box edges are not a digit's ink.
    written = np.zeros_like(padded, dtype=bool)
    written[:, :width] = cv2.resize(band.writing[y0:y1, x0:x1].astype(np.float32), (width, rows),
                                    interpolation=cv2.INTER_AREA) > 0.3
    factor = band.factor
    return Strip(padded, x0 * factor, y0 * factor, crop.shape[1] / width * factor, crop.shape[0] / rows * factor,
                 written, paper)


def _padded_width(width: int) -> int:
    """Strip widths come in steps of 32 (few shapes for the interpreter), at least MIN_WIDTH."""
    return int(max(MIN_WIDTH, int(np.ceil(width / 32)) * 32))


class LineModel(models.SequenceModel):
    """The exported line model: a (HEIGHT, width) strip -> (width / STRIDE, 11) column probabilities."""

    rows, stride = HEIGHT, STRIDE  # the strip's height and the strip pixels per output column

    def __init__(self, path: str) -> None:
        super().__init__(path, np.zeros((HEIGHT, MIN_WIDTH, 1), np.float32))

    def columns(self, strip: np.ndarray) -> np.ndarray:
        """Per-column probabilities (blank last) for one strip."""
        return self.run(strip[:, :, None])

    def read_strip(self, strip: Strip) -> np.ndarray:
        """Per-column probabilities for a cut-out strip (the model reads its ink)."""
        return self.columns(strip.image)


@dataclass(frozen=True)
class Emitted:
    """One digit the decoder read: its column span, the column it peaked in, and its probabilities."""

    start: int
    end: int
    peak: int
    probabilities: np.ndarray  # over the ten digits, summing to 1
    peak_probability: float  # the digit's own probability in its peak column (blank included in the softmax)


def greedy_decode(columns: np.ndarray) -> list[Emitted]:
    """Best class per column; runs of one digit are one digit, blanks separate (so 2000 keeps its zeros)."""
    best = columns.argmax(axis=1)
    out, start = [], 0
    for i in range(1, len(best) + 1):
        if i == len(best) or best[i] != best[start]:
            if best[start] != BLANK:
                peak = start + int(columns[start:i, best[start]].argmax())
                digits = columns[peak, :BLANK]
                out.append(Emitted(start, i, peak, digits / max(float(digits.sum()), 1e-9),
                                   float(columns[peak, best[start]])))
            start = i
    return out


def number_of(emitted: Sequence[Emitted | LineDigit]) -> str:
    """The digits a decoding emitted (or a reader read), as a string."""
    return "".join(str(int(e.probabilities.argmax())) for e in emitted)


def ctc_log_likelihood(columns: np.ndarray, number: str) -> float:
    """log P(number | columns) under CTC: every path of columns that collapses to the number, summed (the
    forward algorithm over the number with blanks between and round its digits)."""
    logs = np.log(np.maximum(columns, 1e-12))
    labels = np.full(2 * len(number) + 1, BLANK)
    labels[1::2] = [int(d) for d in number]
    # A path may skip the blank between two different digits, never between two equal ones.
    skip = np.zeros(len(labels), bool)
    skip[3::2] = labels[3::2] != labels[1:-2:2]
    alpha = np.full(len(labels), -np.inf)
    alpha[:2] = logs[0, labels[:2]]
    for row in logs[1:]:
        stay_or_step = np.logaddexp(alpha, np.concatenate([[-np.inf], alpha[:-1]]))
        jumped = np.concatenate([[-np.inf, -np.inf], alpha[:-2]])[:len(alpha)]
        alpha = np.where(skip, np.logaddexp(stay_or_step, jumped), stay_or_step) + row[labels]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if len(labels) > 1 else alpha[-1])


def missed_digit(columns: np.ndarray) -> float:
    """The best chance any digit has in a column the decoder left blank (high: a digit may be lost)."""
    blank = columns.argmax(axis=1) == BLANK
    return float(columns[blank, :BLANK].max()) if blank.any() else 0.0


@dataclass(frozen=True)
class Calibration:
    """When a reading is unsure, fitted on validation writers' pictures (python -m training.line_calibration)."""

    digit_unsure: float = 0.9  # a digit whose peak-column probability is under this is unsure
    missed: float = 0.3  # a blank column giving a digit more than this: the number is unsure
    # A number the columns give less than this probability (CTC: every path to it, summed) is unsure: what
    # the model spreads over other numbers is its doubt, where a digit's peak sees only one column.
    number_unsure: float = 0.0

    @classmethod
    def beside(cls, model_path: str) -> Calibration:
        """The calibration file next to the model, or the defaults when there is none (a file fitted before
        the number's probability was a threshold never flags by it)."""
        path = calibration_path(model_path)
        if not path.is_file():
            return cls()
        fitted = json.loads(path.read_text())
        return cls(float(fitted["digit_unsure"]), float(fitted["missed"]), float(fitted.get("number_unsure", 0.0)))


def calibration_path(model_path: str) -> Path:
    """Where a sequence model's fitted unsure thresholds live: beside it, named after it (line.tflite:
    line_calibration.json)."""
    return Path(model_path).with_name(f"{Path(model_path).stem}_calibration.json")


def digit_boxes(strip: Strip, emitted: list[Emitted], stride: int = STRIDE) -> list[Box]:
    """Each digit's box in the picture (x, y, w, h): the pieces of writing near its peak column, within
    the columns between its neighbours' peaks (a $, a dash or a grid line beside it is not the digit).
    stride: strip pixels per output column."""
    rows = strip.image.shape[0]
    peaks = [e.peak * stride + stride / 2 for e in emitted]
    edges = [0.0] + [(a + b) / 2 for a, b in zip(peaks, peaks[1:])] + [float(strip.image.shape[1])]
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(strip.ink.astype(np.uint8), connectivity=8)
    crossing = (stats[:, cv2.CC_STAT_TOP] == 0) & (stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] >= rows)
    thin = stats[:, cv2.CC_STAT_WIDTH] <= 2
    boxes = []
    for peak, left, right in zip(peaks, edges, edges[1:]):
        near = labels[:, max(0, int(peak - 0.3 * rows)):int(peak + 0.3 * rows) + 1]
        keep = [k for k in np.unique(near) if k and not (crossing[k] and thin[k]) and left <= centroids[k][0] < right]
        part = np.isin(labels[:, int(left):max(int(np.ceil(right)), int(left) + 1)], keep)
        ys, xs = np.nonzero(part)
        if len(xs):
            x0, x1, y0, y1 = left + xs.min(), left + xs.max() + 1, ys.min(), ys.max() + 1
        else:
            x0, x1, y0, y1 = max(left, peak - rows / 3), min(right, peak + rows / 3), 0, rows
        boxes.append(Box(round(strip.left + x0 * strip.x_scale, 1), round(strip.top + y0 * strip.y_scale, 1),
                         round((x1 - x0) * strip.x_scale, 1), round((y1 - y0) * strip.y_scale, 1)))
    return boxes


@dataclass(frozen=True)
class LineDigit:
    """One digit the line reader read: probabilities over the ten digits, its box in the picture, and
    whether it is unsure (its peak column under the calibrated threshold)."""

    probabilities: np.ndarray
    box: Box  # in the grey picture's pixels
    unsure: bool


class ColumnModel(Protocol):
    """A sequence model over a number's strip: per output column, the ten digits' and the blank's
    probabilities (blank last); `rows` high strips, `stride` strip pixels per column."""

    path: str
    rows: int
    stride: int

    def read_strip(self, strip: Strip) -> np.ndarray: ...


@dataclass(frozen=True)
class Look:
    """One sequence model's reading of a picture's writing: its strip, its columns and what greedy
    decoding emits from them."""

    strip: Strip
    columns: np.ndarray
    emitted: list[Emitted]

    @property
    def number(self) -> str:
        """The digits greedy decoding reads."""
        return number_of(self.emitted)


def number_probability(look: Look, number: str | None = None) -> float:
    """P(number | the columns) (by default the number read): every path of columns that collapses to it, summed."""
    return float(np.exp(ctc_log_likelihood(look.columns, look.number if number is None else number)))


class LineReader:
    """A grey picture of a number -> its digits, left to right (all CPU work: run it off the event loop)."""

    def __init__(self, model: ColumnModel, calibration: Calibration | None = None, stretch: float = 1.0) -> None:
        self.model, self.stretch = model, stretch  # stretch: the strip made that much wider than its aspect
        self.calibration = calibration or Calibration.beside(model.path)

    def read(self, grey: np.ndarray) -> tuple[list[LineDigit], bool]:
        """The digits, and whether the number is doubtful (LineReader.digits); NoInk if blank."""
        return self.digits(self.look(writing_band(grey)))

    def look(self, band: Band) -> Look:
        """The model's reading of the writing's band."""
        strip = strip_of(band, self.model.rows, self.stretch)
        columns = self.model.read_strip(strip)
        return Look(strip, columns, greedy_decode(columns))

    def digits(self, look: Look) -> tuple[list[LineDigit], bool]:
        """A look's digits with their boxes and unsure flags, and whether the number is doubtful (a digit
        may have been missed, or the columns give the number too little probability)."""
        doubtful = missed_digit(look.columns) > self.calibration.missed or (
            self.calibration.number_unsure > 0 and number_probability(look) < self.calibration.number_unsure)
        return self.boxed(look), doubtful

    def boxed(self, look: Look) -> list[LineDigit]:
        """A look's digits with their boxes and unsure flags."""
        boxes = digit_boxes(look.strip, look.emitted, self.model.stride)
        return [LineDigit(e.probabilities, box, e.peak_probability < self.calibration.digit_unsure)
                for e, box in zip(look.emitted, boxes)]


STROKE_HEIGHT = 64  # px: a drawing's writing height when it is rendered for the line reader
STROKE_PEN = 0.09  # pen width, as a share of that height (the middle of the training pens)


def strokes_picture(strokes: list[np.ndarray]) -> tuple[np.ndarray, float, np.ndarray]:
    """A drawn number rendered as a picture for the line reader: dark ink on white, its writing
    STROKE_HEIGHT px high; also the canvas units per picture pixel and the canvas point at pixel (0, 0)."""
    points = np.concatenate(strokes)
    low, span = points.min(axis=0), np.maximum(np.ptp(points, axis=0), 1e-6)
    # The tallest thing written sets the scale; a very wide, flat drawing is not enlarged past MAX_WIDTH.
    scale = min(STROKE_HEIGHT / span[1], 8 * LONGEST / span[0]) if span[1] > 1e-3 else 8 * LONGEST / span[0]
    pen = max(2, int(round(STROKE_PEN * STROKE_HEIGHT)))
    margin = pen + 8
    size = (int(span[0] * scale) + 2 * margin + 1, int(span[1] * scale) + 2 * margin + 1)
    picture = np.full((size[1], size[0]), 255, np.uint8)
    shift = 4
    for stroke in strokes:
        path = ((stroke - low) * scale + margin) * (1 << shift)
        cv2.polylines(picture, [np.round(path).astype(np.int32)], False, 0, pen, cv2.LINE_AA, shift)
    return picture, 1 / scale, low - margin / scale


def strokes_of_digits(strokes: list[np.ndarray], boxes: list[Box]) -> list[list[int]]:
    """Which strokes make each digit: a stroke goes to the digit whose span holds most of its points
    (spans split halfway between neighbouring boxes)."""
    centres = [x + w / 2 for x, _, w, _ in boxes]
    edges = [(a + b) / 2 for a, b in zip(centres, centres[1:])]
    owners: list[list[int]] = [[] for _ in boxes]
    for i, stroke in enumerate(strokes):
        counts = np.bincount(np.searchsorted(edges, stroke[:, 0]), minlength=len(boxes))
        owners[int(counts.argmax())].append(i)
    return owners
