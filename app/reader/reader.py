"""The Reader: everything between a drawing or a picture and an answer, built once by build_reader(settings).

The server (create_app), the CLI (python -m app.predict) and the evaluations in bench/ build it the same
way; only `run` differs: the server passes its bounded pool (app/web/offload.py) so that costly reading
runs off the event loop, the others read in place. Every method returns a typed answer or raises an
InputError (NoInk, TooMuchInk, ...): there is no "None" to turn back into a message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from app.config import Settings
from app.errors import NO_DIGIT_IN_PICTURE, InputError, NoInk
from app.reader import (
    drawn_referee,
    explain,
    level,
    line,
    line_fusion,
    marks,
    online,
    picture_marks,
    pictures,
    preprocessing,
    pretrained,
    segmenter,
)
from app.reader.answers import DigitAnswer, NumberAnswer, answer_drawing, number_answer
from app.reader.drawing import Drawing, written_strokes
from app.reader.models import DigitModel, DrawingFusion
from app.reader.number_readers import (
    DrawnReferee,
    Ink,
    NumberModels,
    PictureNumberReader,
    SegmenterReferee,
    StrokeNumberReader,
    picture_reader,
    second_look_reader,
    stroke_reader,
    strokes_box,
)
from app.reader.picture_process import PicturePool
from app.reader.pictures import Picture
from app.reader.second_look import PictureDigit, read_digit_picture
from app.reader.why import Why

T = TypeVar("T")


def inline(job: Callable[..., T], *args: object) -> T:
    """Run a job here and now: where there is no pool (the CLI, the benches)."""
    return job(*args)


@dataclass
class Reader:
    """Reads digits and numbers, drawn or in pictures, and explains single digits."""

    settings: Settings
    cnn: DigitModel  # the single-digit CNN the answers come from (its sha256 is stored with corrections)
    fusion: DrawingFusion  # the CNN and the pen-path model, for drawings of one digit
    numbers: NumberModels  # what the number readers read with
    stroke_numbers: StrokeNumberReader
    picture_numbers: PictureNumberReader
    why: Why | None  # set by build_reader (it reads pictures through this reader)
    run: Callable = inline  # where costly reading runs, or is waited for (the server: its bounded thread pool)
    picture_process: PicturePool | None = None  # where pictures are decoded and read under a budget
    # A picture of one digit the CNN is unsure of is read again by our line reader (its 0.97 bar was chosen
    # on it: docs/accuracy.md), not by the number reader's fusion; None without the line model.
    second_look: PictureNumberReader | None = None

    def digit(self, drawing: Drawing) -> DigitAnswer:
        """/api/predict: one drawn digit (taps and ticks alone are answered unsure, with too_little_ink)."""
        image = preprocessing.render_strokes(drawing.strokes)
        if not preprocessing.has_ink(image):
            raise NoInk()
        return answer_drawing(self.fusion.predict(drawing.strokes, image), image, drawing,
                              self.settings.tiny_drawing, self.settings.drawing_unsure)

    def digit_in_picture(self, data: bytes) -> PictureDigit:
        """/api/predict/image: a picture of one digit (with the second look), and the 28x28 image the CNN saw;
        read in the budgeted picture process when there is one, waited for in `run`."""
        if self.picture_process is None:
            return self.run(self.read_digit_picture, data)
        reply = self.run(self.picture_process.call, "read_digit_picture", data)
        return PictureDigit(reply["answer"], np.asarray(reply["image"], np.float32))

    def number_in_picture(self, data: bytes) -> NumberAnswer:
        """/api/read/image: a number in a picture's bytes (boxes in the picture's pixels), read as above."""
        if self.picture_process is None:
            return self.run(self.read_number_picture, data)
        return self.run(self.picture_process.call, "read_number_picture", data)["answer"]

    def read_digit_picture(self, data: bytes) -> PictureDigit:
        """digit_in_picture, read here: the picture decoded once for the CNN and the second look."""
        picture = self._decode(data)
        numbers = partial(self._numbers_in, reader=self.second_look) if self.second_look else None
        return read_digit_picture(picture, self.cnn, numbers, self.settings.unsure_threshold,
                                  self.settings.second_look_sure)

    def read_number_picture(self, data: bytes) -> NumberAnswer:
        """number_in_picture, read here."""
        return self._numbers_in(self._decode(data))

    def drawn_number_verdict(self, data: bytes) -> drawn_referee.Verdict:
        """The drawn numbers' referee, read here (the picture process's job), data as drawn_referee.payload
        makes it; no opinion without the recognizer."""
        picture, number = drawn_referee.parsed(data)
        return self.numbers.referee(picture, number) if self.numbers.referee else drawn_referee.NO_OPINION

    def _decode(self, data: bytes) -> Picture:
        return pictures.decode_picture(data, self.settings.max_image_pixels, self.settings.max_lossless_pixels)

    def _numbers_in(self, picture: Picture, reader: PictureNumberReader | None = None) -> NumberAnswer:
        grey, loose = picture_marks.pull_picture_marks(picture.grey)  # a dash must not be read as a 1
        try:
            reading = (reader or self.picture_numbers).read(Picture(grey, picture.size))
        except NoInk:
            raise NoInk(NO_DIGIT_IN_PICTURE) from None
        answer = number_answer(reading, self.settings.unsure_threshold)
        factor = picture.size[0] / picture.grey.shape[1]  # the boxes are in the picture's own pixels
        placed = marks.layout(answer["digits"], [], [corners * factor for corners in loose])
        answer.update(text=placed["text"], marks=placed["marks"])
        return answer

    def number(self, drawing: Drawing) -> NumberAnswer:
        """/api/read: a number drawn as strokes; taps and dots are left out before any work is done."""
        tap = drawing.tap_size(self.settings.tiny_drawing)
        written = written_strokes(drawing.strokes, tap)
        if len(written) > self.settings.number_max_strokes:  # refused before any work: the cost stays bounded
            raise InputError(f"too many strokes to read as one number: at most {self.settings.number_max_strokes}",
                             422)
        if not written:
            raise NoInk()
        writing = set(written)
        taps = [s for i, s in enumerate(drawing.strokes) if i not in writing]
        kept, pulled = marks.pull_marks([drawing.strokes[i] for i in written])  # a dash must not be read as a 1
        digit_strokes = [written[i] for i in kept]
        strokes = [drawing.strokes[i] for i in digit_strokes]
        rise = level.slope(strokes)  # a line written uphill is read level; its boxes stay where it was drawn
        ink = Ink(level.levelled(strokes, rise), tap)
        reading = self.run(self.stroke_numbers.read, ink)
        answer = number_answer(reading, self.settings.unsure_threshold)
        for digit in answer["digits"]:  # indices into the request's strokes, taps and marks counted
            if rise and "strokes" in digit:
                digit["box"] = list(strokes_box([strokes[i] for i in digit["strokes"]]))
            digit["strokes"] = [digit_strokes[i] for i in digit["strokes"]]
        answer.update(marks.layout(answer["digits"], strokes, taps + pulled))
        answer["unsure"] = answer["unsure"] or answer["lines"] > 1  # two lines are not one number
        return answer

    def explain(self, drawing: Drawing) -> dict:
        """/api/explain for a drawing: /api/predict's answer and why."""
        return self.run(self.why.drawing, drawing)

    def explain_picture(self, data: bytes) -> dict:
        """/api/explain for a picture: /api/predict/image's answer and why (its steps each go to the pool)."""
        return self.why.picture(data)

    def describe(self) -> dict[str, str | None]:
        """Which model files answer: the CNN and the pen-path model (None when it is not served)."""
        path_model = self.fusion.path_model
        return {"model": Path(self.cnn.path).name,
                "trajectory_model": Path(path_model.path).name if path_model else None}


def build_reader(settings: Settings, run: Callable = inline, timed: Callable[[float], object] | None = None,
                 logger: logging.Logger | None = None, explanations: bool = True) -> Reader:
    """Load every model the settings name, once (a missing or broken model fails here, not per request).

    run: where costly reading runs; timed: told the seconds of every model call (the server's metrics);
    explanations: False for a reader that never explains (the picture process), which saves two interpreters.
    """
    cnn = DigitModel(settings.model_path, timed)
    path_model = (DigitModel(settings.trajectory_model_path, timed) if _present(settings.trajectory_model_path)
                  else None)
    fusion = DrawingFusion(cnn, path_model, float(settings.trajectory_weight))
    line_reader = line.LineReader(line.LineModel(settings.line_model_path)) if _present(settings.line_model_path) \
        else None
    # Numbers read with interpreters of their own: a number's candidates are one batch of up to a few
    # hundred digits, and a digit drawn meanwhile must not wait for their lock.
    number_cnn = DigitModel(settings.model_path, timed)
    number_path = DigitModel(settings.trajectory_model_path, timed) if path_model else None
    # The online reader only where drawn numbers are read by it (NUMBER_STROKE_READER=online).
    sequence = (online.OnlineModel(settings.online_model_path)
                if settings.number_stroke_reader == "online" and _present(settings.online_model_path) else None)
    # The pretrained recognizer only where pictures are read in this process: with a picture process, the
    # child holds its own (the worker would carry ~75 MB it reaches through the child anyway).
    recognizer = (line.LineReader(pretrained.PretrainedModel(settings.picture_model_path))
                  if not settings.picture_process and _present(settings.picture_model_path) else None)
    # One picture process per thread that waits for it (the server's decode threads; one elsewhere).
    processes = PicturePool(settings, settings.decode_threads) if settings.picture_process else None
    models = NumberModels(number_cnn, line_reader, settings,
                          DrawingFusion(number_cnn, number_path, float(settings.trajectory_weight)), sequence,
                          segmenter.join_prior(Path(settings.join_prior_path)),  # read once; refused if unfit
                          picture_recognizer(settings, recognizer, line_reader, number_cnn),
                          drawn_number_referee(settings, recognizer, processes))
    pictures = picture_reader(models)
    reader = Reader(settings, cnn, fusion, models, stroke_reader(models), pictures, why=None, run=run,
                    picture_process=processes, second_look=second_look_reader(pictures))
    if explanations:
        explainer = explain.explainer(settings.model_path, settings.lookalikes_path,
                                      logger or logging.getLogger("app.reader"))
        reader.why = Why(explainer, fusion, reader.digit_in_picture, settings.drawing_unsure,
                         settings.tiny_drawing, run)
    return reader


def picture_recognizer(settings: Settings, recognizer: line.LineReader | None, line_reader: line.LineReader | None,
                       cnn: DigitModel):
    """The pretrained recognizer of pictures of numbers; with picture_fusion, fused with the line reader
    when both are shipped (where they differ, the line model's second look and the segmenter, with the
    CNN, as referee); None without it."""
    if recognizer is None or line_reader is None or not settings.picture_fusion:
        return recognizer
    # The second look has an interpreter of its own: its wider strips would resize the first's every time.
    wider = line.LineReader(line.LineModel(settings.line_model_path), line_reader.calibration,
                            line_fusion.SECOND_STRETCH)
    return line_fusion.FusedLineReader([recognizer, line_reader], [1.0, line_fusion.LINE_WEIGHT],
                                       SegmenterReferee(cnn, settings.unsure_threshold),
                                       [(wider, line_fusion.SECOND_WEIGHT)])


def drawn_number_referee(settings: Settings, recognizer: line.LineReader | None,
                         processes: PicturePool | None) -> DrawnReferee | None:
    """The drawn numbers' referee: the recognizer here, or in the picture processes; None when it is not
    shipped or never asked (drawn_referee_below 0)."""
    if settings.drawn_referee_below <= 0 or not _present(settings.picture_model_path):
        return None
    if processes is not None:
        return drawn_referee.ProcessReferee(processes)
    return drawn_referee.LocalReferee(recognizer) if recognizer else None


def _present(path: str) -> bool:
    """A model path that is set and names a file (an empty path or a missing file: that model is not served)."""
    return bool(path) and os.path.exists(path)
