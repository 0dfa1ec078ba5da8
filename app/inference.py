"""Run the exported TFLite digit model with LiteRT (no TensorFlow in the serving process)."""

from __future__ import annotations

import base64
import threading

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from app import preprocessing

# Below this top probability an answer is flagged "unsure": chosen on the validation split so
# that about 1% of real digits and most scribbles fall under it (see bench/drawn_eval.py).
UNSURE_THRESHOLD = 0.75


class DigitModel:
    """The digit classifier: (N, 28, 28) images in 0..1 to (N, 10) probabilities."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._interpreter()  # load now, so a missing or broken model fails at start, not per request

    def _interpreter(self) -> Interpreter:
        """This thread's interpreter: LiteRT interpreters must not be shared between threads."""
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            # One thread per interpreter: the model is tiny, and workers already use every core.
            interpreter = Interpreter(model_path=self.path, num_threads=1)
            interpreter.allocate_tensors()
            self._local.interpreter, self._local.batch = interpreter, 1
            self._local.input = interpreter.get_input_details()[0]["index"]
            self._local.output = interpreter.get_output_details()[0]["index"]
        return interpreter

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of 28x28 float images (white ink on black, 0..1)."""
        interpreter = self._interpreter()
        local = self._local
        batch = np.ascontiguousarray(images, np.float32).reshape(-1, 28, 28, 1)
        if len(batch) != local.batch:
            interpreter.resize_tensor_input(local.input, batch.shape)
            interpreter.allocate_tensors()
            local.batch = len(batch)
        interpreter.set_tensor(local.input, batch)
        interpreter.invoke()
        return interpreter.get_tensor(local.output).copy()


def answer_picture(model: DigitModel, gray: np.ndarray, unsure_threshold: float) -> dict | None:
    """The API answer for a photo or scan (uint8 grey), or None when it holds no ink."""
    image = preprocessing.image_to_mnist(gray)
    if not image.any():
        return None
    return describe(model.predict(image[None])[0], image, unsure_threshold)


def describe(probabilities: np.ndarray, image: np.ndarray, unsure_threshold: float) -> dict:
    """The API answer for one image: digit, probabilities, confidence, unsure flag and a preview."""
    probabilities = probabilities.astype(np.float64)
    probabilities /= probabilities.sum()  # float32 softmax sums to 1 +- 1e-7; make the JSON exact-ish
    digit = int(probabilities.argmax())
    confidence = float(probabilities[digit])
    return {
        "digit": digit,
        "probabilities": [round(float(p), 6) for p in probabilities],
        "confidence": round(confidence, 6),
        "unsure": confidence < unsure_threshold,
        "preview": preview_data_url(image),
    }


def preview_data_url(image: np.ndarray) -> str:
    """The 28x28 image the network saw, as a PNG data URL the page can show."""
    pixels = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    ok, png = cv2.imencode(".png", pixels)
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii")
