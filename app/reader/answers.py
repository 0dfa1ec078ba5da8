"""The answers' layout, one place for all: a digit (ten probabilities, confidence, unsure, the image the
network saw) and a whole number (its digits left to right, each with its box and strokes)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import NamedTuple, TypedDict

import cv2
import numpy as np

from app.reader.drawing import Drawing


class Box(NamedTuple):
    """A box in a drawing's or a picture's units: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    def rounded(self, scale: float = 1.0) -> list[float]:
        """As the JSON answer gives it: scaled, to 0.1 unit."""
        return [round(v * scale, 1) for v in self]

    def within(self, size: tuple[int, int]) -> Box:
        """Clipped to a picture of `size` (width, height), rounded to 0.1 px."""
        left, top = min(max(self.x, 0.0), size[0]), min(max(self.y, 0.0), size[1])
        return Box(round(left, 1), round(top, 1), round(min(self.x + self.w, size[0]) - left, 1),
                   round(min(self.y + self.h, size[1]) - top, 1))


class Summary(TypedDict):
    """One read digit: the winner, the ten probabilities (summing to 1), its confidence and the unsure flag."""

    digit: int
    probabilities: list[float]
    confidence: float
    unsure: bool


class DigitAnswer(Summary, total=False):
    """/api/predict's and /api/predict/image's answer."""

    preview: str  # the 28x28 image the network saw, a PNG data URL
    too_little_ink: bool  # drawings: only taps and ticks
    reader: str  # pictures: "digit" (the CNN) or "line" (the second look)
    number_hint: str  # pictures: an unsure digit where the number reader surely reads a whole number


class NumberDigit(Summary, total=False):
    """One digit of a number: a Summary, its box, and (drawings) the indices of its strokes."""

    box: list[float]
    strokes: list[int]


class NumberAnswer(TypedDict, total=False):
    """/api/read's and /api/read/image's answer: the number, its digits, whether any is unsure, its text with
    the marks that are not digits (points, commas, dashes, a minus: app/reader/marks.py), and for a drawing
    its lines of writing."""

    number: str
    digits: list[NumberDigit]
    unsure: bool
    text: str
    marks: list[dict]
    lines: int


@dataclass(frozen=True)
class DigitSpan:
    """One digit a number reader read: its probabilities over the ten digits, its box, the strokes it is
    made of (drawings; None for pictures) and whether the reader doubts it."""

    probabilities: np.ndarray
    box: Box
    strokes: list[int] | None
    unsure: bool

    @property
    def confidence(self) -> float:
        """The winner's share of the ten probabilities."""
        return float(self.probabilities.max() / max(float(self.probabilities.sum()), 1e-12))


@dataclass(frozen=True)
class Reading:
    """A number reader's digits, left to right, and whether the reading as a whole is doubtful (a digit
    may be missing, or two readers disagree)."""

    spans: list[DigitSpan]
    doubtful: bool = False

    @property
    def number(self) -> str:
        """The digits as a string."""
        return "".join(str(int(s.probabilities.argmax())) for s in self.spans)


def number_answer(reading: Reading, unsure_threshold: float) -> NumberAnswer:
    """The JSON answer for a number reader's reading: each span a digit with its box (and strokes)."""
    digits = []
    for span in reading.spans:
        digit: NumberDigit = {**summarize(span.probabilities, unsure_threshold), "box": list(span.box),
                              "unsure": span.unsure}
        if span.strokes is not None:
            digit["strokes"] = span.strokes
        digits.append(digit)
    return {"number": "".join(str(d["digit"]) for d in digits), "digits": digits,
            "unsure": any(d["unsure"] for d in digits) or reading.doubtful}


def answer_drawing(probabilities: np.ndarray, image: np.ndarray, drawing: Drawing, tiny_share: float,
                   unsure_threshold: float) -> DigitAnswer:
    """The API answer for a drawing: as describe(), and taps and tiny ticks (one, or several far apart,
    none tiny across) are no digit: unsure, with too_little_ink so the page can say why."""
    answer = describe(probabilities, image, unsure_threshold)
    answer["too_little_ink"] = drawing.only_taps(tiny_share)
    answer["unsure"] = answer["unsure"] or answer["too_little_ink"]
    return answer


def describe(probabilities: np.ndarray, image: np.ndarray, unsure_threshold: float) -> DigitAnswer:
    """The API answer for one image: digit, probabilities, confidence, unsure flag and a preview."""
    return {**summarize(probabilities, unsure_threshold), "preview": preview_data_url(image)}


def summarize(probabilities: np.ndarray, unsure_threshold: float) -> Summary:
    """One answer's digit, probabilities (rounded, summing to 1), confidence and unsure flag."""
    probabilities = probabilities.astype(np.float64)
    probabilities /= probabilities.sum()  # float32 softmax sums to 1 +- 1e-7; make the JSON exact-ish
    digit = int(probabilities.argmax())
    confidence = float(probabilities[digit])
    return {
        "digit": digit,
        "probabilities": [round(float(p), 6) for p in probabilities],
        "confidence": round(confidence, 6),
        "unsure": confidence < unsure_threshold,
    }


def image_png(image: np.ndarray) -> bytes:
    """A 28x28 image (0..1) as PNG bytes."""
    pixels = cv2.convertScaleAbs(image, alpha=255.0)  # x255, rounded and clipped to uint8 in one pass
    return cv2.imencode(".png", pixels)[1].tobytes()


def preview_data_url(image: np.ndarray) -> str:
    """The 28x28 image the network saw, as a PNG data URL the page can show."""
    return "data:image/png;base64," + base64.b64encode(image_png(image)).decode("ascii")
