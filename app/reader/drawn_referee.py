"""The drawn numbers' referee: the pretrained recognizer reads a drawing rendered as a picture and says how
probable the segmenter's number is there (app/reader/number_readers.py asks it where a digit is not
quite sure). The picture does not care in which order the strokes were drawn, nor how they were split.

With picture processes the recognizer lives in them (a worker holding its own would carry ~75 MB), so
the drawing goes there as a small PNG with the number in front: `payload` and `parsed` are that format.
A referee that cannot read the picture has no opinion: the probability is 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.errors import InputError
from app.reader import line

METHOD = "drawn_number_probability"  # the picture process's job name
MAX_DIGITS = 64  # more digits than any drawn number the server reads (number_max_strokes strokes)


class LocalReferee:
    """The recognizer in this process."""

    def __init__(self, reader: line.LineReader) -> None:
        self.reader = reader

    def __call__(self, picture: np.ndarray, number: str) -> float:
        """P(number | the recognizer's columns for the picture); 1 when it finds no writing there."""
        try:
            look = self.reader.look(line.writing_band(picture))
        except InputError:  # NoInk, TooMuchInk: no opinion
            return 1.0
        return line.number_probability(look, number)


class ProcessReferee:
    """The recognizer in a picture process (app/reader/picture_process.py), under its budget."""

    def __init__(self, pool) -> None:
        self.pool = pool

    def __call__(self, picture: np.ndarray, number: str) -> float:
        """As LocalReferee, asked of a picture process; 1 when the job fails (no opinion, no error)."""
        try:
            return float(self.pool.call(METHOD, payload(picture, number))["probability"])
        except InputError:
            return 1.0


def payload(picture: np.ndarray, number: str) -> bytes:
    """The job's bytes: the digits, a newline, the grey picture as PNG."""
    return number.encode("ascii") + b"\n" + cv2.imencode(".png", picture)[1].tobytes()


def parsed(data: bytes) -> tuple[np.ndarray, str]:
    """(picture, number) from a job's bytes; InputError for anything else."""
    number, _, png = data.partition(b"\n")
    picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE) if png else None
    if not number.isdigit() or len(number) > MAX_DIGITS or picture is None:
        raise InputError("not a drawn number's picture")
    return picture, number.decode("ascii")
