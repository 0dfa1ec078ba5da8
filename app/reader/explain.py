"""Why the CNN gave its answer: evidence by occlusion, lookalikes from the bank, and the feature maps.

Evidence is measured, not estimated: each 4x4 patch of ink (stride 2) is erased in turn and every
copy is run through the serving model itself; the drop in a class's log-odds is what that ink counted
for the class (negative: it counted against). The same copies give the answer and the runner-up.
Further copies add a pen dot at each empty place near the digit and keep where that raises the
runner-up: "what would make it a 9". Occlusion asks exactly what the faithfulness test asks (what
happens without this ink), explains the int8 model that answered, not a float copy, and costs about
110 small images (about 10 ms); gradients would need a second, float model kept in step with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from app.reader import lookalikes, models
from app.reader.models import ModelError

PATCH, STRIDE = 4, 2  # occlusion patches: every ink pixel is under four of them
INK = 0.1  # an image pixel above this is ink
NEAR = 3.0  # probe dots go at most this many pixels from the ink
LOOKALIKES, RUNNER_UP_LOOKALIKES = 5, 3
MAPS_PER_LAYER = 6
CHUNK = 16  # images per interpreter call in the evidence batches
_FLOOR = 1e-30  # no log(0): a probability under this is as good as none
LAYER_NOTES = (
    "Finds edges and short pieces of stroke (flat, upright, slanted) wherever they are.",
    "Combines those pieces into corners, curve segments and line ends, on a grid half as fine.",
    "Responds to larger parts: loops, crossings, the bend of a 2 or a 5.",
    "Marks whole-digit parts in their places on a 7x7 grid; the dense layers weigh these maps "
    "to score each digit.",
)
REGIONS = (("top left", "top", "top right"), ("left", "middle", "right"), ("bottom left", "bottom", "bottom right"))


@dataclass(frozen=True)
class Inside:
    """One image's pass through the network: each convolution's maps, the embedding and probabilities."""

    maps: list[np.ndarray]  # (H, W, C) per convolution layer, in order
    embedding: np.ndarray  # the penultimate layer (D,)
    probabilities: np.ndarray  # (10,)


class Explainer:
    """Explains the serving CNN's answers: built once per worker from the model file and the bank."""

    def __init__(self, model_path: str, bank: lookalikes.LookalikeBank | None) -> None:
        self.bank = bank
        # Its own interpreters and lock: an explanation's batches never hold up a prediction.
        self._probe = models.DigitModel(model_path)
        self.sha256 = self._probe.sha256
        self._inside = models.open_interpreter(model_path, keep_tensors=True)
        self._map_tensors, self._embedding_tensor = _inner_tensors(self._inside, model_path)
        self._input = self._inside.get_input_details()[0]["index"]
        self._output = self._inside.get_output_details()[0]["index"]
        self._lock = threading.Lock()

    def inside(self, image: np.ndarray) -> Inside:
        """Run one 28x28 image and keep what every layer made of it."""
        with self._lock:
            self._inside.set_tensor(self._input, np.ascontiguousarray(image, np.float32).reshape(1, 28, 28, 1))
            self._inside.invoke()
            maps = [self._inside.get_tensor(i)[0].copy() for i in self._map_tensors]
            embedding = self._inside.get_tensor(self._embedding_tensor)[0].copy()
            probabilities = self._inside.get_tensor(self._output)[0].copy()
        return Inside(maps, embedding, probabilities)

    def evidence(self, image: np.ndarray, answer: int, runner_up: int) -> dict[str, np.ndarray]:
        """Per-pixel evidence maps (28x28, log-odds units): what the ink counted for the answer and
        for the runner-up (both zero off the ink), and where a dot of ink would raise the runner-up."""
        erased, erase_boxes = _erasures(image)
        dotted, dot_boxes = _dots(image)
        batch = np.concatenate([image[None], erased, dotted])
        odds = log_odds(self.predict(batch))
        base, log_erased, log_dotted = odds[0], odds[1:1 + len(erased)], odds[1 + len(erased):]
        ink = image > INK
        return {
            "answer": _spread(base[answer] - log_erased[:, answer], erase_boxes) * ink,
            "runner_up": _spread(base[runner_up] - log_erased[:, runner_up], erase_boxes) * ink,
            "more_like_runner_up": np.maximum(_spread(log_dotted[:, runner_up] - base[runner_up], dot_boxes), 0)
            * ~ink,
        }

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The serving model's probabilities for any number of images, run CHUNK at a time: one fixed
        batch shape keeps the interpreter's working memory small (a 110-image batch held 30 MB more
        per worker) and never reallocates it."""
        padded = np.zeros((-(-len(images) // CHUNK) * CHUNK, 28, 28), np.float32)
        padded[: len(images)] = images
        return np.concatenate([self._probe.predict(padded[i:i + CHUNK])
                               for i in range(0, len(padded), CHUNK)])[: len(images)]

    def lookalikes(self, embedding: np.ndarray, runner_up: int) -> dict[str, list[lookalikes.Lookalike]]:
        """The bank digits nearest this embedding, and the nearest of the runner-up's class."""
        if self.bank is None:
            return {"nearest": [], "runner_up": []}
        return {"nearest": self.bank.nearest(embedding, LOOKALIKES),
                "runner_up": self.bank.nearest(embedding, RUNNER_UP_LOOKALIKES, label=runner_up)}


def explainer(model_path: str, bank_path: str, logger: logging.Logger) -> Explainer:
    """The server's explainer; without a usable bank it still explains, with no lookalikes (and says why once)."""
    model = Explainer(model_path, None)
    try:
        model.bank = lookalikes.LookalikeBank.load(bank_path, model.sha256) if bank_path else None
    except lookalikes.BankError as error:
        logger.warning("explanations without lookalikes: %s", error)
    return model


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of every class: unlike log p it does not saturate at a confident answer, so
    erasing ink from a 99.99% digit still shows what that ink did."""
    p = np.maximum(np.asarray(probabilities, np.float64), _FLOOR)
    # 1 - p as the sum of the other classes, in float64: exact enough down to p = 1 - 1e-12.
    rest = np.maximum(p.sum(axis=-1, keepdims=True) - p, _FLOOR)
    return np.log(p) - np.log(rest)


def _inner_tensors(interpreter, path: str) -> tuple[list[int], int]:
    """The tensors to read: each convolution's output (ReLU fused in) and the last dense layer's input."""
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    convolutions = [int(op["outputs"][0]) for op in ops if op["op_name"] == "CONV_2D"]
    dense = [op for op in ops if op["op_name"] == "FULLY_CONNECTED"]
    if not convolutions or not dense:
        raise ModelError(f"{path}: no convolution or dense layer to explain")
    return convolutions, int(dense[-1]["inputs"][0])


def _patch_tops(size: int = 28) -> np.ndarray:
    """Top-left corners of the occlusion grid, one axis (patches may hang over the edge)."""
    return np.arange(-(PATCH - STRIDE), size, STRIDE)


def _windows(image: np.ndarray) -> np.ndarray:
    """Each grid patch's pixels: (rows, cols, PATCH, PATCH), the image padded with paper."""
    pad = PATCH - STRIDE
    padded = np.pad(image, pad)
    return sliding_window_view(padded, (PATCH, PATCH))[::STRIDE, ::STRIDE][: len(_patch_tops()), : len(_patch_tops())]


def _box(top: int, left: int) -> tuple[slice, slice]:
    """A patch's pixels in the 28x28 image (clipped)."""
    return slice(max(top, 0), top + PATCH), slice(max(left, 0), left + PATCH)


def _erasures(image: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """The image with each inked patch erased in turn, and those patches."""
    tops = _patch_tops()
    rows, cols = np.nonzero(_windows(image).max(axis=(2, 3)) > INK)
    boxes = [_box(tops[r], tops[c]) for r, c in zip(rows, cols)]
    batch = np.repeat(image[None], len(boxes), axis=0)
    for i, box in enumerate(boxes):
        batch[i][box] = 0
    return batch, boxes


def _dots(image: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """The image with a 2x2 pen dot (about a stroke's width here) added in turn at each empty place on
    the patch grid within NEAR pixels of the ink, where a writer would add to a digit (closing a gap,
    lengthening a bar); and the patches round those dots."""
    ink = (image > INK).astype(np.uint8)
    if not ink.any():
        return np.zeros((0, 28, 28), np.float32), []
    distance = cv2.distanceTransform(1 - ink, cv2.DIST_L2, 3)  # pixels to the nearest ink
    # A dot's 2x2 is the middle of a patch: its top-left pixel is one in from the patch's.
    corners = _patch_tops() + 1
    inside = corners[(corners >= 0) & (corners <= 26)]
    ys, xs = np.meshgrid(inside, inside, indexing="ij")
    nearest = np.minimum.reduce([distance[ys + dy, xs + dx] for dy in (0, 1) for dx in (0, 1)])
    chosen = (nearest >= 1) & (nearest <= NEAR)
    batch = np.repeat(image[None], int(chosen.sum()), axis=0)
    boxes = []
    for i, (y, x) in enumerate(zip(ys[chosen], xs[chosen])):
        batch[i, y:y + 2, x:x + 2] = 1.0
        boxes.append(_box(int(y) - 1, int(x) - 1))
    return batch, boxes


def _spread(scores: np.ndarray, boxes: Sequence[tuple[slice, slice]]) -> np.ndarray:
    """Per-patch scores as a 28x28 map: each pixel the mean of the patches over it."""
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    for score, box in zip(scores, boxes):
        total[box] += score
        count[box] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def region_of(weights: np.ndarray, image: np.ndarray) -> str:
    """Where most of a map's weight lies, in thirds of the ink's bounding box ("top left", "middle"...)."""
    ys, xs = np.nonzero(image > INK)
    y0, x0 = ys.min(), xs.min()
    height, width = ys.max() - y0 + 1, xs.max() - x0 + 1
    mass = np.zeros((3, 3))
    for y, x in zip(*np.nonzero(weights > 0)):
        mass[min(2, 3 * max(y - y0, 0) // height), min(2, 3 * max(x - x0, 0) // width)] += weights[y, x]
    row, col = np.unravel_index(int(mass.argmax()), mass.shape)
    return REGIONS[row][col]


def caption(evidence: dict[str, np.ndarray], image: np.ndarray, answer: int, runner_up: int) -> str:
    """A plain-language sentence or three naming, by position, the ink that counted and what would change it."""
    support, against = np.maximum(evidence["answer"], 0), np.maximum(-evidence["answer"], 0)
    if support.sum() <= 0:
        return f"No single part of the ink decides the {answer}: erasing any small piece leaves the answer as it is."
    parts = [f"The ink at the {region_of(support, image)} counts most for {answer}."]
    if against.sum() > 0.25 * support.sum():
        parts.append(f"The ink at the {region_of(against, image)} counts against it.")
    more = evidence["more_like_runner_up"]
    if more.max() > np.log(2):  # a dot that at least doubles the runner-up's probability
        parts.append(f"More ink at the {region_of(more, image)} would make it look more like {a_or_an(runner_up)}.")
    return " ".join(parts)


def a_or_an(digit: int) -> str:
    """'a 4', 'an 8'."""
    return f"{'an' if digit == 8 else 'a'} {digit}"
