"""Run the exported TFLite models with LiteRT (no TensorFlow in the serving process): the image CNN,
and for drawings, the trajectory model fused with it."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import warnings
from collections.abc import Callable

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from app import inputs, trajectory

# Below this top probability an answer is flagged "unsure": chosen on the validation split so
# that about 1% of real digits and most scribbles fall under it (see bench/drawn_eval.py).
UNSURE_THRESHOLD = 0.75


class ModelError(Exception):
    """A model file that is missing or not a TFLite model."""


def open_interpreter(path: str, keep_tensors: bool = False) -> Interpreter:
    """A one-thread LiteRT interpreter for the file, its tensors allocated; ModelError names the file.
    keep_tensors: every intermediate tensor stays readable after invoke (the explainer's feature maps)."""
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such model file (the shipped models are in models/; make train makes them)")
    try:
        with warnings.catch_warnings():  # LiteRT calls keeping tensors "for debugging": a few hundred KB here
            warnings.simplefilter("ignore", UserWarning)
            interpreter = Interpreter(model_path=path, num_threads=1, experimental_preserve_all_tensors=keep_tensors)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise ModelError(f"{path}: not a TFLite model ({str(error).splitlines()[0][:200]})") from None
    return interpreter


class DigitModel:
    """A TFLite classifier: a batch of inputs of its own shape ((28, 28) images in 0..1 for the CNN,
    (64, 5) pen paths for the trajectory model) to (N, 10) probabilities."""

    def __init__(self, path: str, timed: Callable[[float], object] | None = None) -> None:
        self.path = str(path)
        self.timed = timed  # called with the seconds of each predict (the metrics)
        # Loaded now, so a missing or broken model fails at start, not per request. One interpreter
        # per process, one thread inside it, used under a lock (interpreters are not thread-safe):
        # a digit takes well under 0.1 ms (int8 weights), and the workers already use every core.
        self._interpreter = open_interpreter(self.path)
        with open(self.path, "rb") as file:  # which model answered, stored with every correction
            self.sha256 = hashlib.sha256(file.read()).hexdigest()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape = tuple(int(d) for d in self._interpreter.get_input_details()[0]["shape"][1:])
        self._batch = 1
        self._lock = threading.Lock()

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of inputs (28x28 images: white ink on black, 0..1)."""
        batch = np.ascontiguousarray(images, np.float32).reshape(-1, *self._shape)
        started = time.perf_counter()
        with self._lock:
            if len(batch) != self._batch:
                self._interpreter.resize_tensor_input(self._input, batch.shape)
                self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            probabilities = self._interpreter.get_tensor(self._output).copy()
        if self.timed is not None:
            self.timed(time.perf_counter() - started)
        return probabilities


class DrawingReader:
    """Reads a drawing twice, as the picture it makes (the CNN) and as the path the pen took (the
    trajectory model), and fuses the two: a weighted geometric mean of their probabilities."""

    def __init__(self, image_model: DigitModel, path_model: DigitModel | None, path_weight: float) -> None:
        self.image_model, self.path_model, self.path_weight = image_model, path_model, path_weight

    def predict(self, strokes: list[np.ndarray], image: np.ndarray) -> np.ndarray:
        """The ten probabilities for one drawing: its strokes and the 28x28 image they render to."""
        return self.parts(strokes, image)["fused"]

    def parts(self, strokes: list[np.ndarray], image: np.ndarray) -> dict[str, np.ndarray | None]:
        """Each model's probabilities and their fusion: {"picture", "path" (None without it), "fused"}."""
        seen = self.image_model.predict(image[None])[0]
        if self.path_model is None or self.path_weight <= 0:
            return {"picture": seen, "path": None, "fused": seen}
        traced = self.path_model.predict(trajectory.features(strokes)[None])[0]
        # Log-space averaging: each model can veto a class the other is unsure of (1e-7: no log 0).
        logits = (1 - self.path_weight) * np.log(seen + 1e-7) + self.path_weight * np.log(traced + 1e-7)
        fused = np.exp(logits - logits.max())
        return {"picture": seen, "path": traced, "fused": (fused / fused.sum()).astype(np.float32)}


def answer_drawing(probabilities: np.ndarray, image: np.ndarray, strokes: list[np.ndarray], tiny: float,
                   unsure_threshold: float) -> dict:
    """The API answer for a drawing: as describe(), and taps and tiny ticks (one, or several far apart,
    none `tiny` across) are no digit: unsure, with too_little_ink so the page can say why."""
    answer = describe(probabilities, image, unsure_threshold)
    answer["too_little_ink"] = inputs.largest_stroke(strokes) < tiny
    answer["unsure"] = answer["unsure"] or answer["too_little_ink"]
    return answer


def answer_image(model: DigitModel, image: np.ndarray, unsure_threshold: float) -> dict:
    """The API answer for one MNIST-framed 28x28 image: run the model and describe the result."""
    return describe(model.predict(image[None])[0], image, unsure_threshold)


def describe(probabilities: np.ndarray, image: np.ndarray, unsure_threshold: float) -> dict:
    """The API answer for one image: digit, probabilities, confidence, unsure flag and a preview."""
    return {**summarize(probabilities, unsure_threshold), "preview": preview_data_url(image)}


def summarize(probabilities: np.ndarray, unsure_threshold: float) -> dict:
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
