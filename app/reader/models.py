"""Run the exported TFLite models with LiteRT (no TensorFlow in the serving process): the image CNN,
and for drawings, the trajectory model fused with it (the answers' layout: app/reader/answers.py)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import warnings
from collections.abc import Callable

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from app.reader import trajectory


class ModelError(Exception):
    """A model file that is missing or not a TFLite model."""


def open_interpreter(path: str, keep_tensors: bool = False) -> Interpreter:
    """A one-thread LiteRT interpreter for the file, its tensors allocated; ModelError names the file.
    keep_tensors: every intermediate tensor stays readable after invoke (the explainer's feature maps)."""
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such model file (restore it with git checkout -- models/, or make train)")
    try:
        with warnings.catch_warnings():  # LiteRT calls keeping tensors "for debugging": a few hundred KB here
            warnings.simplefilter("ignore", UserWarning)
            interpreter = Interpreter(model_path=path, num_threads=1, experimental_preserve_all_tensors=keep_tensors)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise ModelError(f"{path}: not a TFLite model ({str(error).splitlines()[0][:200]})") from None
    return interpreter


class SequenceModel:
    """A model whose input's length varies (a strip's width, a path's points): the interpreter is resized
    when a call's shape differs from the last one's, under a lock (one interpreter, many threads)."""

    def __init__(self, path: str, blank: np.ndarray) -> None:
        self.path = str(path)
        self._interpreter = open_interpreter(self.path)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple = ()
        self._lock = threading.Lock()
        self.run(blank)  # a broken file fails at start

    def run(self, one: np.ndarray) -> np.ndarray:
        """The model's output for one input (a batch of one)."""
        batch = np.ascontiguousarray(one, np.float32)[None]
        with self._lock:
            if batch.shape != self._shape:  # lengths step in a few sizes: a handful of shapes, resized as needed
                self._interpreter.resize_tensor_input(self._input, batch.shape)
                self._interpreter.allocate_tensors()
                self._shape = batch.shape
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output)[0].copy()


# The most inputs one interpreter call takes: a picture can propose thousands of candidate digits, and
# one batch of them all needs its activations at once (gigabytes for 20,000), past the picture process's
# memory cap, where LiteRT fails to allocate (a RuntimeError, not a MemoryError). In chunks of this
# size a batch needs about 25 MB whatever its length, and is no slower (2,000 digits: 188 ms against 206).
MAX_BATCH = 256


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
        if not len(batch):  # nothing to read (a picture with no candidate digit): LiteRT cannot size for it
            return np.zeros((0, int(self._interpreter.get_output_details()[0]["shape"][-1])), np.float32)
        started = time.perf_counter()
        with self._lock:
            probabilities = np.concatenate([self._invoke(batch[first:first + MAX_BATCH])
                                            for first in range(0, len(batch), MAX_BATCH)])
        if self.timed is not None:
            self.timed(time.perf_counter() - started)
        return probabilities

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        """One batch of at most MAX_BATCH through the interpreter (under the lock)."""
        if len(batch) != self._batch:
            self._interpreter.resize_tensor_input(self._input, batch.shape)
            self._interpreter.allocate_tensors()
            self._batch = len(batch)
        self._interpreter.set_tensor(self._input, batch)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()


class DrawingFusion:
    """Reads a drawing twice, as the picture it makes (the CNN) and as the path the pen took (the
    trajectory model), and fuses the two: a weighted geometric mean of their probabilities."""

    def __init__(self, image_model: DigitModel, path_model: DigitModel | None, path_weight: float) -> None:
        self.image_model, self.path_model, self.path_weight = image_model, path_model, path_weight

    def predict(self, strokes: list[np.ndarray], image: np.ndarray) -> np.ndarray:
        """The ten probabilities for one drawing: its strokes and the 28x28 image they render to."""
        return self.parts(strokes, image)["fused"]

    def fuse_many(self, drawings: list[list[np.ndarray]], seen: np.ndarray) -> np.ndarray:
        """predict for several drawings whose CNN probabilities (seen) are already known: the pen-path
        model in one call, then the same fusion."""
        if self.path_model is None or self.path_weight <= 0:
            return seen
        traced = self.path_model.predict(trajectory.features_many(drawings))
        return _fuse(seen, traced, self.path_weight)

    def parts(self, strokes: list[np.ndarray], image: np.ndarray) -> dict[str, np.ndarray | None]:
        """Each model's probabilities and their fusion: {"picture", "path" (None without it), "fused"}."""
        seen = self.image_model.predict(image[None])[0]
        if self.path_model is None or self.path_weight <= 0:
            return {"picture": seen, "path": None, "fused": seen}
        traced = self.path_model.predict(trajectory.features(strokes)[None])[0]
        return {"picture": seen, "path": traced, "fused": _fuse(seen[None], traced[None], self.path_weight)[0]}


def _fuse(seen: np.ndarray, traced: np.ndarray, path_weight: float) -> np.ndarray:
    """Rows of CNN and pen-path probabilities fused: a weighted geometric mean, renormalised. Log-space
    averaging lets each model veto a class the other is unsure of (1e-7: no log 0)."""
    logits = (1 - path_weight) * np.log(seen + 1e-7) + path_weight * np.log(traced + 1e-7)
    fused = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (fused / fused.sum(axis=1, keepdims=True)).astype(np.float32)
