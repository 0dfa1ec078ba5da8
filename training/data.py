"""Training data, one loader per source, and the cross-validation folds that hold writers out.

- MNIST (`load_mnist`) and who wrote each MNIST digit (`load_mnist_writers`, for validation by writer);
- pendigits (`load_pendigits`): 30 writers' pen digits in a 500x500 box;
- UNIPEN-train (`load_unipen`): 161 writers of 9 contributors, each device in its own units, normalised
  here per digit to the pendigits box and smoothed where the device was coarse.

Pure numpy: the evaluations and benches load data without TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

Stroke = np.ndarray  # (n, 2) float64 x, y; y grows downward

# Cross-validation folds. Pendigits: the 30 writers fall into FOLDS folds of 6 (writer w is in fold
# (w - 1) % FOLDS + 1). UNIPEN: each of the 9 contributors (institution and device) is held out whole,
# in the fold below (balanced by size; syn alone is 45% of the file). A fold's model never sees its
# writers or contributors; the shipped model (fold 0) sees all.
FOLDS = 5
CONTRIBUTOR_FOLDS = {"syn": 1, "apb": 2, "ced": 3, "cea": 3, "lou": 3, "app": 4, "art": 4, "apa": 5, "imp": 5}
# The last fold's pendigits writers: the whole-number evaluation and the tests' "unseen writers" digits.
EVAL_WRITERS = frozenset({5, 10, 15, 20, 25, 30})
PEN_BOX = 500.0  # pendigits' box; UNIPEN digits are scaled into it
UNIPEN_EXTENT = 300.0  # a normalised UNIPEN digit's longer side in that box
PATH_POINTS = 64  # a coarse device's stroke is resampled no finer than its extent / this


class DataError(Exception):
    """A data file is missing, unreadable or not in the layout its loader expects."""


def sha256(path: str | Path) -> str:
    """The file's sha256, recorded in every report."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_mnist(path: str | None) -> tuple[dict[str, np.ndarray], str]:
    """Load MNIST arrays and the file's sha256; raise DataError on anything malformed."""
    if path is None:
        import keras  # no local file: the Keras download, for machines with internet

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        except Exception as error:  # offline, a proxy, a half-written cache: urllib raises many types
            raise DataError(f"no MNIST file given and the download failed ({type(error).__name__})") from None
        data, digest = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, "keras-download"
    else:
        try:
            digest = sha256(path)
            with np.load(path, allow_pickle=False) as archive:
                data = {key: archive[key] for key in ("x_train", "y_train", "x_test", "y_test")}
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except KeyError as error:
            raise DataError(f"{path}: missing array {error}") from None
        except Exception as error:  # np.load raises many types for a corrupt archive
            raise DataError(f"{path}: not a readable .npz file ({type(error).__name__})") from None
    for part in ("train", "test"):
        x, y = data[f"x_{part}"], data[f"y_{part}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0 or y.shape != (len(x),):
            raise DataError(f"{path}: x_{part} must be (N, 28, 28) with N labels, got {x.shape} and {y.shape}")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
            raise DataError(f"{path}: y_{part} must hold integer labels 0-9")
    return data, digest


def load_mnist_writers(path: str | None, train_count: int) -> np.ndarray | None:
    """The NIST writer of every MNIST training digit (mnist_writers.npz), or None without the file
    or when it does not match the training set (a --limit'ed or other MNIST)."""
    if not path or not Path(path).is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            writers = archive["train_writer"]
    except Exception as error:  # np.load raises many types for a corrupt archive
        raise DataError(f"{path}: not a readable mnist_writers.npz ({type(error).__name__})") from None
    return writers if len(writers) == train_count else None


def validation_split(count: int, size: int, writers: np.ndarray | None, rng: np.random.Generator,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(validation, training) indices of the MNIST training images: whole writers drawn at random
    until at least size images (no writer on both sides), or size random images without writer ids."""
    order = rng.permutation(count)
    if writers is None:
        return order[:size], order[size:]
    chosen, total = [], 0
    ids, counts = np.unique(writers, return_counts=True)
    for i in rng.permutation(len(ids)):
        if total >= size:
            break
        chosen.append(ids[i])
        total += counts[i]
    held = np.isin(writers[order], chosen)
    return order[held], order[~held]


def _strokes(raw: list) -> list[Stroke]:
    """JSON point lists as float arrays; empty strokes dropped."""
    return [np.asarray(s, np.float64).reshape(-1, 2) for s in raw if len(s)]


def load_pendigits(path: str | Path) -> list[dict]:
    """Read pendigits JSON ({label, strokes, writer} records) with strokes as float arrays."""
    with open(path, encoding="utf-8") as file:
        records = json.load(file)
    return [{"label": int(r["label"]), "writer": int(r["writer"]), "source": "pendigits",
             "strokes": _strokes(r["strokes"])} for r in records]


def load_unipen(path: str | Path) -> list[dict]:
    """Read UNIPEN-train JSON ({label, writer "contributor/name", strokes}), every digit normalised
    into the pendigits box (normalise_unipen); digits without ink are skipped."""
    with open(path, encoding="utf-8") as file:
        records = json.load(file)
    out = []
    for r in records:
        drawn = _strokes(r["strokes"])
        if drawn:
            out.append({"label": int(r["label"]), "writer": str(r["writer"]), "source": "unipen",
                        "contributor": str(r["writer"]).split("/")[0], "strokes": normalise_unipen(drawn)})
    return out


def load_pen(pendigits: str | None, unipen: str | None) -> list[dict]:
    """Every pen digit of the sources given (a None or empty path: that source is left out)."""
    return (load_pendigits(pendigits) if pendigits else []) + (load_unipen(unipen) if unipen else [])


def normalise_unipen(drawing: list[Stroke]) -> list[Stroke]:
    """One UNIPEN digit in device units to pendigits' frame: repeated points dropped, each stroke
    resampled along its ink and smoothed over one device unit (72 dpi devices draw staircases a few
    units high: smoothed, they look like the page's dense pointer paths), then scaled so its longer
    side is UNIPEN_EXTENT, centred in the 500 box (aspect kept)."""
    points = np.concatenate(drawing)
    extent = max(float(np.ptp(points, axis=0).max()), 1e-6)
    step = max(_device_unit(points), extent / PATH_POINTS)
    smoothed = [_smooth(_dedupe(s), step, _device_unit(points)) for s in drawing]
    points = np.concatenate(smoothed)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = UNIPEN_EXTENT / max(float((high - low).max()), 1e-6)
    return [(s - (low + high) / 2) * scale + PEN_BOX / 2 for s in smoothed]


def _device_unit(points: np.ndarray) -> float:
    """The smallest step between distinct coordinates: the device's resolution in its own units."""
    steps = np.concatenate([np.diff(np.unique(points[:, 0])), np.diff(np.unique(points[:, 1]))])
    return float(steps.min()) if len(steps) else 1.0


def _dedupe(stroke: Stroke) -> Stroke:
    """The stroke without consecutive repeats of a point (a pen resting)."""
    keep = np.concatenate([[True], np.any(np.diff(stroke, axis=0) != 0, axis=1)])
    return stroke[keep]


def _smooth(stroke: Stroke, step: float, unit: float) -> Stroke:
    """Resample at step along the ink, then a Gaussian over one device unit (ends kept)."""
    distance = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(stroke, axis=0), axis=1))])
    if len(stroke) < 3 or distance[-1] <= 2 * step:
        return stroke
    targets = np.linspace(0, distance[-1], int(distance[-1] / step) + 1)
    path = np.column_stack([np.interp(targets, distance, stroke[:, i]) for i in range(2)])
    sigma = unit / step  # in samples
    if sigma < 0.3:  # a fine device: nothing to smooth
        return path
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(path, ((radius, radius), (0, 0)), mode="edge")
    out = np.column_stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)])
    out[0], out[-1] = path[0], path[-1]
    return out


def fold_of(record: dict, folds: int = FOLDS) -> int:
    """The cross-validation fold (1..folds) a pen digit's writer (pendigits) or contributor (UNIPEN) is held out in."""
    if record.get("source") == "unipen":
        return (CONTRIBUTOR_FOLDS[record["contributor"]] - 1) % folds + 1
    return (int(record["writer"]) - 1) % folds + 1


def split_fold(records: list[dict], fold: int, folds: int = FOLDS,
               contributors: frozenset[str] | None = None) -> tuple[list[dict], list[dict]]:
    """(training, held out) for one fold; fold 0 holds nothing out (the shipped model's split). With
    `contributors`, those UNIPEN contributors are held out instead of the fold's (an institution whole)."""
    def held_out(record: dict) -> bool:
        if contributors is not None and record.get("source") == "unipen":
            return record["contributor"] in contributors
        return bool(fold) and fold_of(record, folds) == fold

    held = [held_out(r) for r in records]
    return [r for r, h in zip(records, held) if not h], [r for r, h in zip(records, held) if h]


def held_out_names(held_out: list[dict]) -> dict[str, list]:
    """What a fold held out, for its report: pendigits writers and UNIPEN contributors."""
    return {"held_out_writers": sorted({r["writer"] for r in held_out if r.get("source") != "unipen"}),
            "held_out_contributors": sorted({r["contributor"] for r in held_out if r.get("source") == "unipen"})}


def split_by_writer(records: list[dict], held_out_writers: frozenset | set = EVAL_WRITERS,
                    ) -> tuple[list[dict], list[dict]]:
    """Split records into (training writers, held-out writers); no writer is in both."""
    train = [r for r in records if r["writer"] not in held_out_writers]
    held_out = [r for r in records if r["writer"] in held_out_writers]
    return train, held_out


def load_corrections(path: str) -> tuple[list[dict], list[dict]]:
    """Exported corrections as pen records, split by time: (older 80% to train on, newest 20% to judge)."""
    with open(path, encoding="utf-8") as file:
        records = json.load(file)
    records.sort(key=lambda r: (r.get("created", ""), r.get("id", 0)))
    corrections = [{"label": int(r["label"]), "strokes": [np.asarray(s, np.float64).reshape(-1, 2)
                                                          for s in r["strokes"]]} for r in records]
    cut = len(corrections) - int(np.ceil(0.2 * len(corrections)))
    return corrections[:cut], corrections[cut:]
