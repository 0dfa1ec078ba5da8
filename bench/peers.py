"""The tools a user could pick instead of ours, read on the very pictures our readers read (make eval).

RapidOCR (pip install rapidocr: PaddleOCR's PP-OCRv6 models with ONNX Runtime, Apache-2.0) is the best
general OCR we measured on handwritten numbers. It is a dev dependency only (requirements/peers.txt,
installed without its dependencies: it would pull a second OpenCV over ours). Its recognizer reads the
whole picture, as a user reads a cropped amount with it (no text detection: a crop is one line); the
number is the digits of its text, and it is unsure when its own score is under its default text_score.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.errors import InputError

DIGITS = set("0123456789")


class RapidOcr:
    """RapidOCR's PP-OCRv6 small recognizer, answering as our readers do: number, unsure, and its text."""

    name = "RapidOCR PP-OCRv6 small (peer)"

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        self.engine = RapidOCR(params={"Global.use_det": False, "Global.use_cls": False,
                                       "Global.log_level": "error"})
        self.text_score = 0.5  # RapidOCR's default Global.text_score

    def number_in_picture(self, data: bytes) -> dict:
        """The digits RapidOCR reads in a picture (encoded bytes, as uploaded); InputError if it is no picture."""
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError("not a picture")
        result = self.engine(image)
        text = "".join(result.txts or ())
        scores = list(result.scores or ())
        return {"number": "".join(c for c in text if c in DIGITS), "text": text, "digits": [],
                "unsure": not scores or min(scores) < self.text_score}


PEERS = {RapidOcr.name: RapidOcr}


def peer(name: str):
    """A peer by its name, built; None when its package is not installed (make dev installs it)."""
    try:
        return PEERS[name]()
    except ImportError:
        return None
