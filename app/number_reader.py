"""One whole-number reader, built once in create_app and used by the views, the CLI and the benches.

Two implementations stand behind it: the segmenter (cut the ink into digits, classify each, pick the
split by dynamic programming: app/numbers.py) and the sequence reader (a CTC line model over the whole
number: app/line.py). Pictures go to the sequence reader when its model is there; drawings to the way
NUMBER_STROKE_READER names ("segmenter", "line" or "fused"), chosen on held-out writers. Either way the
answer has one layout (app/reading.py) and "no digit" is one exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np

from app import inference, line, offload, reading
from app.inputs import InputError, written_strokes

T = TypeVar("T")
StrokeWay = Literal["segmenter", "line", "fused"]
NO_DIGIT_DRAWN = "no ink: draw a digit first"
NO_DIGIT_IN_PICTURE = "no digit found in the image: send a picture of a written number"



@dataclass
class NumberReader:
    """Reads whole numbers from strokes or pictures; every method raises InputError (422) when there is no digit."""

    digit_model: inference.DigitModel
    line_reader: line.LineReader | None
    unsure_threshold: float
    max_pixels: int
    stroke_way: StrokeWay = "segmenter"
    max_strokes: int = 60  # a number's strokes (taps aside): about 20 digits; past it the reading costs grow
    cnn_check: bool = False  # pictures: the single-digit CNN reads each digit's box too (a disagreement: unsure)
    run: Callable[..., object] = offload.inline  # where the CPU work runs (the server: its decode pool, off the loop)

    def strokes(self, strokes: Sequence[np.ndarray], tiny: float) -> dict:
        """A number drawn as strokes (canvas units; taps under `tiny` are not digits)."""
        # Refused before any work: the cost of a reading stays bounded.
        if len(written_strokes(strokes, tiny)) > self.max_strokes:
            raise InputError(f"too many strokes to read as one number: at most {self.max_strokes}", 422)
        way = self.stroke_way if self.line_reader is not None else "segmenter"
        if way == "line":
            answer = self.run(reading.read_strokes_line, self.line_reader, strokes, self.unsure_threshold, tiny)
        elif way == "fused":
            answer = self.run(reading.read_strokes_fused, self.digit_model, self.line_reader, strokes,
                              self.unsure_threshold, tiny)
        else:
            answer = self.run(reading.read_strokes, self.digit_model, strokes, self.unsure_threshold, tiny)
        if answer is None:
            raise InputError(NO_DIGIT_DRAWN, 422)
        return answer

    def picture(self, data: bytes) -> dict:
        """A number in a picture's bytes (boxes in the picture's pixels)."""
        if self.line_reader is not None:
            answer = self.run(reading.read_picture_line, self.line_reader, data, self.max_pixels,
                              self.unsure_threshold, self.digit_model if self.cnn_check else None)
        else:
            candidates, scale, size = self.run(reading.picture_candidates, data, self.max_pixels)
            answer = reading.read_picture(self.digit_model, candidates, scale, size, self.unsure_threshold)
        if answer is None:
            raise InputError(NO_DIGIT_IN_PICTURE, 422)
        return answer
