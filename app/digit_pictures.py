"""A picture of one digit, read as /api/predict/image answers it (the API, corrections, Why? and the CLI).

The single-digit CNN reads the MNIST-framed picture. When it is unsure (and the picture's "ink" is
plausible for a digit: a blot stays unsure), the sequence reader (app/line.py), trained on photos of
numbers on plain, ruled, gridded and boxed paper in uneven light, takes a second look: its answer
stands when it reads exactly one digit and is sure of it. A confident CNN answer is never replaced, so
the second look costs nothing on the pictures the CNN already reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app import inference, offload, pictures
from app.inputs import InputError
from app.number_reader import NumberReader

NO_DIGIT = "no digit found in the image: it looks blank"
# The sequence reader must be this sure of its one digit to replace an unsure CNN answer.
SECOND_LOOK_SURE = 0.97  # at 0.97 no more confidently wrong answers than the CNN alone (docs/accuracy.md)


@dataclass(frozen=True)
class PictureReader:
    """Reads pictures of one digit; built once (create_app, the CLI) from the models it needs."""

    model: inference.DigitModel
    numbers: NumberReader | None  # the second look; None: the CNN alone
    max_pixels: int
    unsure_threshold: float
    run: Callable = offload.inline  # where decoding runs (the server: its pool, off the event loop)

    def read(self, data: bytes) -> tuple[dict, np.ndarray]:
        """The answer for a picture of one digit and the 28x28 image the CNN saw; 422 when it holds no ink."""
        image, implausible = self.run(pictures.digit_picture, data, self.max_pixels)
        if not image.any():
            raise InputError(NO_DIGIT, 422)
        answer = {**inference.answer_image(self.model, image, self.unsure_threshold), "reader": "digit"}
        if implausible:  # "ink" filling the frame (a blot, a thumb) is no digit, whoever reads it
            return {**answer, "unsure": True}, image
        second = one_digit(self.numbers, data) if answer["unsure"] and self.numbers is not None else None
        if second is not None:
            answer = {**inference.summarize(np.asarray(second["probabilities"]), self.unsure_threshold),
                      "preview": answer["preview"], "reader": "line"}
        return answer, image


def one_digit(numbers: NumberReader, data: bytes) -> dict | None:
    """The sequence reader's digit when it reads exactly one and is sure of it; None otherwise."""
    if numbers.line_reader is None:
        return None
    try:
        answer = numbers.picture(data)
    except InputError:  # no digit, or too much ink: the CNN's unsure answer stands
        return None
    digits = answer["digits"]
    sure = len(digits) == 1 and not answer["unsure"] and digits[0]["confidence"] >= SECOND_LOOK_SURE
    return digits[0] if sure else None
