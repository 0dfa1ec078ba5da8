"""A picture of one digit, read as /api/predict/image answers it (the API, corrections, Why? and the CLI).

The single-digit CNN reads the MNIST-framed picture. When it is unsure (and the picture's "ink" is
plausible for a digit: a blot stays unsure), the sequence reader (app/reader/line.py), trained on photos
of numbers on plain, ruled, gridded and boxed paper in uneven light, takes a second look: its answer
stands when it reads exactly one digit and is sure of it (settings.second_look_sure: at 0.97 no more
confidently wrong answers than the CNN alone, docs/accuracy.md). A confident CNN answer is never
replaced, so the second look costs nothing on the pictures the CNN already reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.errors import BLANK_PICTURE, InputError, NoInk
from app.reader import pictures
from app.reader.answers import DigitAnswer, NumberAnswer, NumberDigit, describe, summarize
from app.reader.models import DigitModel
from app.reader.pictures import Picture

ReadNumber = Callable[[Picture], NumberAnswer]  # a picture -> the number it holds (or InputError)


@dataclass(frozen=True)
class PictureDigit:
    """A picture of one digit as answered, and the 28x28 image the CNN saw (stored with a correction)."""

    answer: DigitAnswer
    image: np.ndarray


def read_digit_picture(picture: Picture, cnn: DigitModel, numbers: ReadNumber | None, unsure_threshold: float,
                       sure: float) -> PictureDigit:
    """The answer for a picture of one digit (the second look reads the same decoded picture); NoInk when it
    is blank."""
    image, implausible = pictures.digit_image(picture)
    if not image.any():
        raise NoInk(BLANK_PICTURE)
    answer: DigitAnswer = {**describe(cnn.predict(image[None])[0], image, unsure_threshold), "reader": "digit"}
    if implausible:  # "ink" filling the frame (a blot, a thumb) is no digit, whoever reads it
        return PictureDigit({**answer, "unsure": True}, image)
    if not answer["unsure"] or numbers is None:
        return PictureDigit(answer, image)
    read = number_read(numbers, picture)
    second = one_digit(read, sure)
    if second is not None:
        answer = {**summarize(np.asarray(second["probabilities"]), unsure_threshold),
                  "preview": answer["preview"], "reader": "line"}
    elif read is not None and len(read["digits"]) >= 2 and not read["unsure"]:
        answer = {**answer, "number_hint": read["number"]}  # a whole number: the page suggests Number mode
    return PictureDigit(answer, image)


def number_read(numbers: ReadNumber, picture: Picture) -> NumberAnswer | None:
    """What the number reader reads in the picture; None when it finds no digit (or too much ink)."""
    try:
        return numbers(picture)
    except InputError:  # the CNN's unsure answer stands
        return None


def one_digit(read: NumberAnswer | None, sure: float) -> NumberDigit | None:
    """The number reader's digit when it read exactly one and is at least `sure` of it; None otherwise."""
    if read is None:
        return None
    digits = read["digits"]
    confident = len(digits) == 1 and not read["unsure"] and digits[0]["confidence"] >= sure
    return digits[0] if confident else None
