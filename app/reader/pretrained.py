"""A recognizer pretrained on real text, read as a digits-only line model: PP-OCRv6 small's recognition
network (PaddleOCR, Apache-2.0) with its output cut to the CTC blank, the digits and a few marks
(training/pretrained.py, make pretrained), run with ONNX Runtime.

It reads the same strip the line reader cuts out (app/reader/line.py: the writing's band with a margin),
48 rows high, paper white and ink black as the text it learned from; its columns come back in the line
model's layout (ten digits, then a blank), so the line reader's decoding, boxes and calibration serve it
unchanged. A mark ("-", "=", "#", ...) counts as blank there: it separates digits and is never one.
"""

from __future__ import annotations

import os

import numpy as np

from app.reader import line
from app.reader.models import ModelError

DIGITS = "0123456789"
# Marks written round amounts and inside numbers: read as themselves so that none is forced into a digit.
MARKS = "-=#.,/:*+_~()'\"$ "
ROWS = 48  # the recognizer's input height
STRIDE = 8  # strip pixels per output column (its downsampling across)
# Two threads: a 6-digit picture is read in 22 ms instead of 26 with one (in process). Three bench runs
# on this noisy 2-core machine did not show the second thread hurting drawings under a flood of pictures
# (drawing p99 25.8 and 27.0 ms with two, 36.7 with one).
THREADS = 2
MIN_WIDTH = 320  # strip columns: narrower strips are padded (with zeros, as the recognizer trained)


class PretrainedModel:
    """The cut-down recognizer: a strip cut out of a picture, 48 rows high -> (width / 8, 11) column
    probabilities over the ten digits and the blank (marks folded into the blank)."""

    rows, stride = ROWS, STRIDE

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self._session = _session(self.path)
        self._input = self._session.get_inputs()[0].name
        classes = self._session.get_outputs()[0].shape[-1]
        if classes != 1 + len(DIGITS) + len(MARKS):
            raise ModelError(f"{path}: {classes} classes, not the blank, digits and marks (make pretrained)")
        self.columns(np.ones((ROWS, MIN_WIDTH), np.float32))  # a broken file fails at start

    def read_strip(self, strip: line.Strip) -> np.ndarray:
        """Per-column probabilities for a cut-out strip: the recognizer reads the picture as it is
        (its grey paper), not the ink mask the line model reads."""
        return self.columns(strip.paper)

    def columns(self, paper: np.ndarray) -> np.ndarray:
        """Per-column probabilities, the ten digits then the blank (marks added to it), for a (48, width)
        grey strip, paper light, 0..1."""
        return fold_marks(self._session.run(None, {self._input: network_input(paper)})[0][0])


def network_input(paper: np.ndarray) -> np.ndarray:
    """The recognizer's input for a (48, width) grey strip, paper light, 0..1: (1, 3, 48, width) in -1..1,
    padded with zeros (mid-grey) to MIN_WIDTH, as PaddleOCR pads every line it trains on."""
    image = np.zeros((1, 3, ROWS, max(MIN_WIDTH, paper.shape[1])), np.float32)
    image[0, :, :, :paper.shape[1]] = 2.0 * paper - 1.0
    return image


def fold_marks(probabilities: np.ndarray) -> np.ndarray:
    """The recognizer's (columns, blank + digits + marks) probabilities in the line model's layout: the ten
    digits, then the blank with every mark added to it."""
    digits = probabilities[:, 1:1 + len(DIGITS)]
    rest = probabilities[:, :1] + probabilities[:, 1 + len(DIGITS):].sum(axis=1, keepdims=True)
    return np.concatenate([digits, rest], axis=1)


def _session(path: str):
    """An ONNX Runtime session for the file, THREADS threads; ModelError names a missing or broken file."""
    import onnxruntime as ort

    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such model file (restore it with git checkout -- models/, or make pretrained)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: spinning saved no time here and cost a third more CPU per
    # picture, billed to the picture process's CPU budget and taken from the other worker.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its shape-inference warnings are not ours to fix
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a bad file
        raise ModelError(f"{path}: not an ONNX model ({str(error).splitlines()[0][:200]})") from None
