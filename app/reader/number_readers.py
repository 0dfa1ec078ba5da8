"""Whole-number readers behind one protocol: each reads a number into DigitSpans, left to right.

Two ways of reading stand behind them: the segmenter (cut the ink into digits, classify each, pick the
split by dynamic programming: app/reader/segmenter.py) and the sequence reader (a CTC line model over
the whole number: app/reader/line.py, or the pretrained recognizer read the same way:
app/reader/pretrained.py). Drawings are read the way `number_stroke_reader` names ("segmenter", "line",
"fused" or "online"), chosen on held-out writers; pictures by the first reader whose model is there:
the pretrained recognizer, the line reader, the segmenter. Every reader raises NoInk when there is no
digit and TooMuchInk for noise; the answer's layout is one function for all (answers.number_answer).

A new reader is one class with `read` and one line in STROKE_READERS or PICTURE_READERS.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from app.config import Settings
from app.errors import InputError, NoInk
from app.reader import (
    drawn_referee,
    ink,
    line,
    line_fusion,
    online,
    picture_segmenter,
    pictures,
    preprocessing,
    segmenter,
)
from app.reader.answers import Box, DigitSpan, Reading, summarize
from app.reader.drawing import drawing_extent
from app.reader.models import DigitModel, DrawingFusion
from app.reader.pictures import Picture


@dataclass(frozen=True)
class Ink:
    """A drawn number's writing: its strokes with taps and dots left out (in drawing order), and the size
    under which a stroke or a digit is a tap or a tick (canvas units)."""

    strokes: list[np.ndarray]
    tiny: float


@dataclass(frozen=True)
class NumberModels:
    """What the readers read with: the single-digit CNN (an interpreter of its own: a number's candidates
    are one batch of up to a few hundred digits, and a drawing answered meanwhile must not wait for its
    lock), the line reader when its model is shipped, and the settings."""

    cnn: DigitModel
    line: line.LineReader | None
    settings: Settings
    fusion: DrawingFusion | None = None  # the CNN and the pen-path model, as /api/predict reads a digit
    online: online.OnlineModel | None = None  # the online sequence reader, when its model is shipped
    prior: segmenter.JoinPrior | None = None  # the segmenter's join prior (None: models/join_prior.json)
    # The pretrained recognizer of pictures (with picture_fusion, fused with the line reader), when its model is.
    pretrained: line.LineReader | line_fusion.FusedLineReader | None = None
    # The drawn numbers' referee: the pretrained recognizer on a drawing rendered as a picture.
    referee: DrawnReferee | None = None


class DrawnReferee(Protocol):
    """A reader that sees only a drawing's picture: how probable a number is there, and what it reads."""

    def __call__(self, picture: np.ndarray, number: str) -> drawn_referee.Verdict: ...


class StrokeNumberReader(Protocol):
    """Reads a drawn number; each span's strokes index into ink.strokes."""

    def read(self, ink: Ink) -> Reading: ...


class PictureNumberReader(Protocol):
    """Reads a number in a decoded picture; boxes in the picture's pixels, within it."""

    def read(self, picture: Picture) -> Reading: ...


def _unsure(probabilities: np.ndarray, threshold: float) -> bool:
    return summarize(probabilities, threshold)["unsure"]


@dataclass(frozen=True)
class DrawnBySegmenter:
    """Runs of consecutive strokes as digits, the best split by dynamic programming."""

    models: NumberModels

    def read(self, ink: Ink) -> Reading:
        """The segmenter's digits; a digit whose strokes are all tiny is unsure (a tick alone is no digit).
        Every candidate digit is read as /api/predict reads a digit drawn alone (the picture and the pen
        path fused), so a digit inside a number is read as well as alone and a split must be right by both."""
        fusion = self.models.fusion
        split = segmenter.read_strokes(self.models.cnn, ink.strokes, fusion.fuse_many if fusion else None,
                                       self.models.prior)
        groups = split.groups
        if not groups or not all(preprocessing.has_ink(g.image) for g in groups):
            raise NoInk()
        settings = self.models.settings
        refuted, overruled = self._refereed(ink, groups)
        if overruled:
            return overruled
        # Unsure: a doubtful digit or a tick; the whole number when another split of its strokes came close,
        # or the referee found it improbable. (The picture model alone naming another digit than both views
        # together was dropped: chosen by nested folds, it flagged about 1% more of the right numbers for
        # few more wrong ones: docs/accuracy.md.)
        return Reading([DigitSpan(g.probabilities, Box(*g.box.rounded()), list(g.units),
                                  _unsure(g.probabilities, settings.number_digit_unsure)
                                  or drawing_extent([ink.strokes[i] for i in g.units]) < ink.tiny)
                        for g in groups], split.margin < settings.number_split_margin or refuted)

    def _refereed(self, ink: Ink, groups: list[segmenter.Group]) -> tuple[bool, Reading | None]:
        """Whether the referee refutes the split's number, and the referee's own reading where it overrules
        it. A split of strokes can be sure and wrong (a 4's stem read as a 1, a 7's bar cut off); the
        picture does not care how the strokes were drawn. Asked only where a digit is not quite sure, so
        its cost stays off most numbers. It overrules only a split into another count of digits (a digit
        cut in two, two joined): where the counts agree, the digits' shapes are what differ, and the
        pen's path reads those better than a rendering of coarse tablet points (docs/accuracy.md)."""
        settings = self.models.settings
        if not self.models.referee or min(float(g.probabilities.max()) for g in groups) >= settings.drawn_referee_below:
            return False, None
        picture, units, origin = line.strokes_picture(ink.strokes)
        verdict = self.models.referee(picture, "".join(str(int(g.probabilities.argmax())) for g in groups))
        refuted = verdict.probability < settings.drawn_referee_unsure
        overrule = settings.drawn_referee_overrule
        if (refuted and overrule and verdict.digits and len(verdict.digits) != len(groups)
                and verdict.own_probability >= overrule):
            return True, Reading(spans_in_picture(ink, verdict.digits, units, origin), False)
        return refuted, None


@dataclass(frozen=True)
class DrawnByLine:
    """The sequence reader on the strokes rendered as a picture; each digit's strokes are those under its span."""

    models: NumberModels

    def read(self, ink: Ink) -> Reading:
        """The line reader's digits, boxes in canvas units; a digit with no stroke of its own is unsure."""
        picture, units, origin = line.strokes_picture(ink.strokes)
        read, doubtful = self.models.line.read(picture)
        if not read:
            raise NoInk()
        return Reading(spans_in_picture(ink, read, units, origin), doubtful)


def spans_in_picture(ink: Ink, read: list[line.LineDigit], units: float, origin: np.ndarray) -> list[DigitSpan]:
    """A sequence reader's digits on a drawing's picture (line.strokes_picture) as spans: boxes back in
    canvas units, each digit's strokes those under its span; a digit with no stroke of its own is unsure."""
    boxes = [Box(round(float(origin[0] + x * units), 1), round(float(origin[1] + y * units), 1),
                 round(w * units, 1), round(h * units, 1)) for x, y, w, h in (d.box for d in read)]
    owners = line.strokes_of_digits(ink.strokes, boxes)
    return [DigitSpan(d.probabilities, box, owned, d.unsure or not owned) for d, box, owned in zip(read, boxes, owners)]


@dataclass(frozen=True)
class DrawnByOnline:
    """The online sequence reader on the pen path (no cutting first); each digit's strokes are those whose
    middle point lies nearest its emission, its box theirs."""

    models: NumberModels

    def read(self, ink: Ink) -> Reading:
        """The online reader's digits; a digit with no stroke of its own, or emitted with a peak under the
        line reader's default threshold, is unsure."""
        read = online.read(self.models.online, ink.strokes)
        if not read:
            raise NoInk()
        threshold = line.Calibration().digit_unsure
        return Reading([DigitSpan(e.probabilities, strokes_box([ink.strokes[i] for i in owned]), owned,
                                  e.peak_probability < threshold or not owned)
                        for e, owned in read])


def strokes_box(strokes: list[np.ndarray]) -> Box:
    """The box round some strokes, as answers give it (no stroke: an empty box)."""
    return Box(*segmenter.box_of(np.concatenate(strokes)).rounded()) if strokes else Box(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class DrawnFused:
    """Both readers: the segmenter's grouping (its stroke indices are exact) when the sequence reader
    agrees or has nothing; when they disagree, the reading whose least sure digit is surer, flagged
    doubtful (two readers that disagree are a doubt worth showing)."""

    models: NumberModels

    def read(self, ink: Ink) -> Reading:
        """The fused reading."""
        grouped = DrawnBySegmenter(self.models).read(ink)
        try:
            sequenced = DrawnByLine(self.models).read(ink)
        except NoInk:
            return grouped
        if sequenced.number == grouped.number:
            return grouped

        def least_sure(reading: Reading) -> float:
            return min(round(span.confidence, 6) for span in reading.spans)

        chosen = sequenced if least_sure(sequenced) > least_sure(grouped) else grouped
        return replace(chosen, doubtful=True)


@dataclass(frozen=True)
class PictureByLine:
    """The sequence reader on the picture (strip, model, CTC decoding)."""

    models: NumberModels

    @property
    def reader(self) -> line.LineReader:
        """The sequence model's reader: our line model."""
        return self.models.line

    def read(self, picture: Picture) -> Reading:
        """With line_cnn_check, the single-digit CNN also reads each digit's box: a digit it reads otherwise
        is unsure. A column that nearly read a digit makes the reading doubtful (one may be missing)."""
        grey, size = picture.grey, picture.size
        factor = size[0] / grey.shape[1]  # the decoder may have reduced a big picture
        read, doubtful = self.reader.read(grey)
        if not read:
            raise NoInk()
        unsure = [d.unsure for d in read]  # from the line model's own posteriors, with its calibrated threshold
        if self.models.settings.line_cnn_check:
            crops = np.stack([ink.image_to_mnist(_crop(grey, d.box)) for d in read])
            checked = self.models.cnn.predict(crops).argmax(axis=1)
            unsure = [u or int(c) != int(d.probabilities.argmax()) for u, c, d in zip(unsure, checked, read)]
        return Reading([DigitSpan(d.probabilities, Box(*(v * factor for v in d.box)).within(size), None, u)
                        for d, u in zip(read, unsure)], doubtful)


@dataclass(frozen=True)
class PictureByPretrained(PictureByLine):
    """The recognizer pretrained on real text, cut to digits (app/reader/pretrained.py), on the picture:
    decoded, boxed and calibrated as the line reader is (with picture_fusion, fused by decoding with the
    line reader: app/reader/line_fusion.py)."""

    @property
    def reader(self) -> line.LineReader | line_fusion.FusedLineReader:
        """The pretrained recognizer's reader."""
        return self.models.pretrained


@dataclass(frozen=True)
class PictureBySegmenter:
    """The picture's traced centre line cut into digits, each classified, the best split by dynamic programming."""

    models: NumberModels

    def read(self, picture: Picture) -> Reading:
        """The segmenter's digits, boxes in the picture's pixels."""
        return segment_picture(picture, self.models.cnn, self.models.settings.unsure_threshold)


def segment_picture(picture: Picture, cnn: DigitModel, unsure_threshold: float,
                    max_segments: int = picture_segmenter.MAX_SEGMENTS) -> Reading:
    """A picture's number cut and classified: its digits, boxes in the picture's pixels (the pen's width and
    the shear can reach past the picture's edge by a pixel: clipped); NoInk if none, TooMuchInk for noise
    (or more than max_segments pieces of centre line)."""
    mask, scale = pictures.picture_mask(picture)
    size = picture.size
    candidates = picture_segmenter.picture_candidates(mask, max_segments)
    if candidates is None:
        raise NoInk()
    groups = picture_segmenter.choose_picture_digits(candidates, cnn.predict(candidates.images))
    if not groups:
        raise NoInk()
    return Reading([DigitSpan(g.probabilities, Box(*g.box.rounded(scale)).within(size), None,
                              _unsure(g.probabilities, unsure_threshold)) for g in groups])


# The referee reads the writing's band at most this high: as well as at full size (photos of held-out
# writers: 83.2% exact either way) at a quarter of the cost (thinning grows with the pixels).
REFEREE_ROWS = 128
# Pieces of centre line per digit read beyond which the referee makes no call: its calls there were right
# 28-59% of the time (grids, patterned paper) and cost up to 0.3 s; under it, 65-95%. Never more than
# REFEREE_MOST pieces in all (a 10-digit number), so a long reading cannot make it costly.
REFEREE_PIECES = 6
REFEREE_MOST = 60


@dataclass(frozen=True)
class SegmenterReferee:
    """The segmenter as the referee of two sequence readers that differ (app/reader/line_fusion.py): it
    cuts the ink where they read columns, so it errs differently; only a reading sure of every digit counts."""

    cnn: DigitModel
    unsure_threshold: float

    def __call__(self, band: line.Band, digits: int) -> list[line.LineDigit]:
        """The band's digits, boxes in the picture's pixels, when every one is sure; else none (also where
        its ink falls into far more pieces than `digits` digits have)."""
        crop = band.light[band.y0:band.y1, band.x0:band.x1]
        shrink = min(1.0, REFEREE_ROWS / crop.shape[0])
        if shrink < 1.0:
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * shrink)), REFEREE_ROWS), interpolation=cv2.INTER_AREA)
        try:
            reading = segment_picture(Picture(crop, (crop.shape[1], crop.shape[0])), self.cnn, self.unsure_threshold,
                                      min(REFEREE_PIECES * max(digits, 1), REFEREE_MOST))
        except InputError:  # no digit, or noise: no call (the sequence readers have read it)
            return []
        if any(span.unsure for span in reading.spans):
            return []
        factor = band.factor / shrink  # picture pixels per crop pixel
        return [line.LineDigit(span.probabilities, Box(band.x0 * band.factor + span.box.x * factor,
                                                       band.y0 * band.factor + span.box.y * factor,
                                                       span.box.w * factor, span.box.h * factor), False)
                for span in reading.spans]


def _crop(grey: np.ndarray, box: Box, margin: float = 0.1) -> np.ndarray:
    """The picture inside a digit's box, with a little paper round it."""
    x, y, w, h = box
    pad = margin * max(w, h)
    x0, y0 = max(0, int(x - pad)), max(0, int(y - pad))
    return grey[y0:int(np.ceil(y + h + pad)), x0:int(np.ceil(x + w + pad))]


STROKE_READERS: dict[str, type[StrokeNumberReader]] = {
    "segmenter": DrawnBySegmenter,
    "line": DrawnByLine,
    "fused": DrawnFused,
    "online": DrawnByOnline,
}
PICTURE_READERS: dict[str, type[PictureNumberReader]] = {
    "pretrained": PictureByPretrained,
    "line": PictureByLine,
    "segmenter": PictureBySegmenter,
}
NEEDS_LINE_MODEL = {"line", "fused"}
NEEDS_ONLINE_MODEL = {"online"}


def stroke_reader(models: NumberModels) -> StrokeNumberReader:
    """The drawn-number reader the settings name (the segmenter when the line model is missing)."""
    way = models.settings.number_stroke_reader
    if (way not in STROKE_READERS or (way in NEEDS_LINE_MODEL and models.line is None)
            or (way in NEEDS_ONLINE_MODEL and models.online is None)):
        way = "segmenter"
    return STROKE_READERS[way](models)


def second_look_reader(pictures: PictureNumberReader) -> PictureNumberReader | None:
    """Who reads a picture of one digit again when the CNN is unsure of it: the picture reader itself (the
    pretrained recognizer where it is loaded: on writers neither model saw it answered more real digits than
    the line model, 215 against 198 of 246, and half as many scribbles and letters, 39 against 73:
    docs/accuracy.md), unless that is the segmenter, which cuts a picture with the same CNN."""
    return None if isinstance(pictures, PictureBySegmenter) else pictures


def picture_reader(models: NumberModels) -> PictureNumberReader:
    """The picture reader: the pretrained recognizer when its model is shipped, else the line reader, else
    the segmenter."""
    way = "pretrained" if models.pretrained is not None else "line" if models.line is not None else "segmenter"
    return PICTURE_READERS[way](models)
