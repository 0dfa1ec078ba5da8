"""The drawn numbers' referee: the pretrained recognizer reads a drawing rendered as a picture, says how
probable the segmenter's number is there, and what it reads itself (app/reader/number_readers.py asks it
where a digit is not quite sure). The picture does not care in which order the strokes were drawn, nor
how they were split.

With picture processes the recognizer lives in them (a worker holding its own would carry ~75 MB), so
the drawing goes there as a small PNG with the number in front (`payload`, `parsed`) and the verdict comes
back as JSON. A referee that cannot read the picture has no opinion (NO_OPINION).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.errors import InputError
from app.reader import line

METHOD = "drawn_number_verdict"  # the picture process's job name
MAX_DIGITS = 64  # more digits than any drawn number the server reads (number_max_strokes strokes)


@dataclass(frozen=True)
class Verdict:
    """The recognizer on a drawing's picture: P(the number asked about), its own digits (boxes in the
    picture's pixels) and P(its own number)."""

    probability: float
    digits: list[line.LineDigit]
    own_probability: float

    @property
    def number(self) -> str:
        """The digits the recognizer reads."""
        return "".join(str(int(d.probabilities.argmax())) for d in self.digits)

    def as_json(self) -> dict:
        """The verdict as JSON values (the picture process's reply)."""
        return {"probability": self.probability, "own_probability": self.own_probability,
                "digits": [{"probabilities": d.probabilities.tolist(), "box": list(d.box), "unsure": d.unsure}
                           for d in self.digits]}

    @classmethod
    def from_json(cls, value: dict) -> Verdict:
        """A verdict back from its JSON values."""
        digits = [line.LineDigit(np.asarray(d["probabilities"], np.float32), tuple(d["box"]), bool(d["unsure"]))
                  for d in value["digits"]]
        return cls(float(value["probability"]), digits, float(value["own_probability"]))


NO_OPINION = Verdict(1.0, [], 0.0)


class LocalReferee:
    """The recognizer in this process."""

    def __init__(self, reader: line.LineReader) -> None:
        self.reader = reader

    def __call__(self, picture: np.ndarray, number: str) -> Verdict:
        """The recognizer's verdict on the number in the picture; NO_OPINION when it finds no writing there."""
        try:
            look = self.reader.look(line.writing_band(picture))
        except InputError:  # NoInk, TooMuchInk: no opinion
            return NO_OPINION
        return Verdict(line.number_probability(look, number), self.reader.boxed(look), line.number_probability(look))


class ProcessReferee:
    """The recognizer in a picture process (app/reader/picture_process.py), under its budget."""

    def __init__(self, pool) -> None:
        self.pool = pool

    def __call__(self, picture: np.ndarray, number: str) -> Verdict:
        """As LocalReferee, asked of a picture process; NO_OPINION when the job fails (no error)."""
        try:
            return Verdict.from_json(self.pool.call(METHOD, payload(picture, number)))
        except InputError:
            return NO_OPINION


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
