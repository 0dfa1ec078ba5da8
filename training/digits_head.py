"""Fit the pretrained recognizer's output layer to handwritten numbers (make pretrained, after the cut).

PP-OCRv6 small learned from printed and written text of every kind; its last layer (120 features per
column -> blank, digits, marks) was never asked to tell a continental 1 from a 7 or a crossed 7 from a 4.
Everything before that layer stays as PaddleOCR trained it: the features of each column are computed
once per picture, and only the 120 x 28 layer is fitted on them with CTC, starting from the pretrained
weights and pulled back towards them (an L2 penalty on the change), so it adapts without forgetting.

Pictures are composed by training/lines.py from the line model's training writers only (MNIST training
writers outside its validation split, the last fold's training pen writers); every tenth pen writer is
held back to validate. No evaluation writer is ever used.

    python -m training.digits_head [--model models/digits_rec.onnx] [--pictures 30000]

rewrites the model's output layer in place and adds a "head" section to its report (digits_rec.json).
Not part of make pretrained: the shipped recognizer keeps PaddleOCR's layer, because the refit moved the
independent photos by nothing beyond noise and read digits in pictures of noise (docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from app import ROOT
from app.errors import InputError
from app.reader import line, pretrained
from training import data, lines
from training.config import RECIPES
from training.pretrained import NOTICE as CUT_NOTICE
from training.pretrained import OUTPUT_LAYER

FEATURES = "p2o.pd_op.transpose.8.0"  # what the output layer reads: (1, columns, 120)
NOTICE = CUT_NOTICE + ", then refitted to handwritten numbers (training/digits_head.py)"
CHUNK = 250  # pictures per feature job: each has its own seed, so the set is the same on any core count


@dataclass(frozen=True)
class HeadConfig:
    """Everything that shapes the fit (recorded in the report)."""

    pictures: int = 30_000
    validation_pictures: int = 3_000
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    l2: float = 1e-3  # pull towards the pretrained weights: without it the layer drifts to our generator's paper
    seed: int = 11


def split_writers(mnist: dict, mnist_writers: np.ndarray | None, pen: list[dict]) -> tuple[list, list]:
    """(training, validating) writers: the line recipe's MNIST training writers and 9 in 10 of its fold's
    training pen writers; every tenth pen writer validates. Evaluation writers are never in either."""
    recipe = RECIPES["line"]
    pen_train, _ = data.split_fold(pen, recipe.fold, recipe.folds, recipe.held_out_contributors())
    pen_writers = lines.pen_writers(pen_train)
    validating = pen_writers[5::10] or pen_writers[:1]
    training = [w for w in pen_writers if not any(w is v for v in validating)]
    if mnist and mnist_writers is not None:
        # The split line_calibration fits the unsure thresholds on is left out here as well.
        training = lines.line_recipe_mnist_writers(mnist, mnist_writers)[1] + training
    return training, validating


def feature_model(path: str):
    """An ONNX Runtime session of the recognizer that also returns the output layer's input features."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(path)
    model.graph.output.append(onnx.helper.make_tensor_value_info(FEATURES, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one process per core instead
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


_job: dict = {}  # the writers and model path each feature process inherits (fork), not pickled per job


def _features_of_chunk(chunk: int) -> tuple[list[np.ndarray], list[str]]:
    """CHUNK pictures of seed (seed, chunk): each one's (columns, 120) features and its digits."""
    if "session" not in _job:
        _job["session"] = feature_model(_job["model"])
    rng = np.random.default_rng([_job["seed"], chunk])
    features, labels = [], []
    for _ in range(min(CHUNK, _job["count"] - chunk * CHUNK)):
        grey, digits, _ = lines.picture(_job["writers"][int(rng.integers(len(_job["writers"])))], rng)
        try:  # the very strip the server cuts for the recognizer
            paper = line.strip_of(line.writing_band(grey), pretrained.ROWS).paper
        except InputError:
            continue
        features.append(_job["session"].run([FEATURES], {"x": pretrained.network_input(paper)})[0][0])
        labels.append(digits)
    return features, labels


def picture_features(model: str, writers: list, count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Features and digits of `count` composed pictures by the writers, on every core."""
    return on_every_core(_features_of_chunk, _job, count, model=model, writers=writers, seed=seed)


def on_every_core(work, state: dict, count: int, **job) -> tuple[list, list[str]]:
    """`work(chunk)` -> (items, labels) for every CHUNK of `count` pictures, one process per core; each
    process inherits `state` (the worker module's dict, filled with `job` and the count) by fork."""
    state.clear()
    state.update(job, count=count)
    chunks = range((count + CHUNK - 1) // CHUNK)
    cores = min(os.cpu_count() or 1, len(chunks))
    if cores <= 1:
        parts = [work(c) for c in chunks]
    else:
        with multiprocessing.get_context("fork").Pool(cores) as pool:
            parts = pool.map(work, chunks)
    return [item for items, _ in parts for item in items], [label for _, labels in parts for label in labels]


def output_layer(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's output layer: weights (120, classes) and bias (classes,)."""
    import onnx
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    return values[f"{OUTPUT_LAYER}.w_0"], values[f"{OUTPUT_LAYER}.b_0"]


def _batch(features: list[np.ndarray], labels: list[str], rows) -> tuple[np.ndarray, ...]:
    """Padded features, their lengths, padded targets (digit d is class d + 1) and target lengths."""
    lengths = np.array([features[i].shape[0] for i in rows], np.int32)
    x = np.zeros((len(rows), lengths.max(), features[rows[0]].shape[1]), np.float32)
    targets = np.zeros((len(rows), max(1, max(len(labels[i]) for i in rows))), np.int32)
    for k, i in enumerate(rows):
        x[k, :lengths[k]] = features[i]
        targets[k, :len(labels[i])] = [int(d) + 1 for d in labels[i]]
    return x, lengths, targets, np.array([len(labels[i]) for i in rows], np.int32)


def exact(features: list[np.ndarray], labels: list[str], weights: np.ndarray, bias: np.ndarray) -> float:
    """Share of pictures read exactly with this output layer, decoded as the server decodes."""
    right = 0
    for f, label in zip(features, labels):
        logits = f @ weights + bias
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        columns = pretrained.fold_marks(probabilities / probabilities.sum(axis=1, keepdims=True))
        right += line.number_of(line.greedy_decode(columns)) == label
    return right / max(len(labels), 1)


def fit(features: list[np.ndarray], labels: list[str], weights: np.ndarray, bias: np.ndarray,
        cfg: HeadConfig) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The output layer fitted with CTC from (weights, bias), pulled towards them; and each epoch's mean loss."""
    import tensorflow as tf

    tf.random.set_seed(cfg.seed)
    start = tf.constant(weights)
    w, b = tf.Variable(weights), tf.Variable(bias)
    steps = cfg.epochs * ((len(features) + cfg.batch_size - 1) // cfg.batch_size)
    optimiser = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(cfg.lr, steps))
    rng, losses = np.random.default_rng(cfg.seed), []
    for _ in range(cfg.epochs):
        order, total = rng.permutation(len(features)), 0.0
        for first in range(0, len(order), cfg.batch_size):
            x, lengths, targets, target_lengths = _batch(features, labels, order[first:first + cfg.batch_size])
            with tf.GradientTape() as tape:
                logits = tf.matmul(x, w) + b
                loss = tf.reduce_mean(tf.nn.ctc_loss(targets, logits, target_lengths, lengths,
                                                     logits_time_major=False, blank_index=0))
                penalised = loss + cfg.l2 * tf.reduce_sum(tf.square(w - start))
            optimiser.apply_gradients(zip(tape.gradient(penalised, [w, b]), [w, b]))
            total += float(loss) * len(x)
        losses.append(round(total / len(features), 4))
        print(f"epoch {len(losses)}: CTC loss {losses[-1]}", flush=True)
    return w.numpy(), b.numpy(), losses


def write_output_layer(path: str, weights: np.ndarray, bias: np.ndarray) -> None:
    """Replace the model file's output layer weights and bias (same shapes)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    for initializer in model.graph.initializer:
        value = {f"{OUTPUT_LAYER}.w_0": weights, f"{OUTPUT_LAYER}.b_0": bias}.get(initializer.name)
        if value is not None:
            initializer.CopyFrom(numpy_helper.from_array(value.astype(np.float32), initializer.name))
    props = {entry.key: entry.value for entry in model.metadata_props}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {**props, "notice": NOTICE})
    onnx.checker.check_model(model)
    onnx.save(model, path)


class FitRefusedError(Exception):
    """A fit that cannot start: the one-line reason."""


def prepared(description: str, defaults, argv: list[str] | None,
             resumable: bool = False) -> tuple[argparse.Namespace, object, list, list]:
    """What a fit of the recognizer needs (this one and training/digits_finetune.py): the arguments (with
    --resume if resumable), the config (every field of `defaults` is a flag), and the (training, validating)
    writers. Raises FitRefusedError without pen data or a cut model, for a model already fitted to numbers,
    or for too few writers."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default=str(ROOT / "models" / "digits_rec.onnx"), help="the cut recognizer")
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH") or None, help="mnist.npz ($MNIST_PATH)")
    parser.add_argument("--mnist-writers", default=os.environ.get("MNIST_WRITERS_PATH") or None,
                        help="mnist_writers.npz ($MNIST_WRITERS_PATH)")
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or None, help="pendigits JSON")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or None, help="UNIPEN-train JSON")
    for field, value in asdict(defaults).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    if resumable:
        parser.add_argument("--resume", action="store_true",
                            help="go on from the state an interrupted run left beside the model (same flags)")
    args = parser.parse_args(argv)
    cfg = type(defaults)(**{field: getattr(args, field) for field in asdict(defaults)})
    if not args.pen_data or not Path(args.model).is_file():
        raise FitRefusedError("pass --pen-data (or set PENDIGITS_PATH) and a cut --model (make pretrained)")
    report_path = Path(args.model).with_suffix(".json")
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    if "head" in report or "finetune" in report:  # a second fit would start from the first, not the pretrained one
        raise FitRefusedError(f"{args.model} is already refitted: cut it again first (python -m training.pretrained)")
    mnist = data.load_mnist(args.data)[0] if args.data else {}
    mnist_writers = data.load_mnist_writers(args.mnist_writers, len(mnist["x_train"])) \
        if mnist and args.mnist_writers else None
    training, validating = split_writers(mnist, mnist_writers, data.load_pen(args.pen_data, args.unipen_data))
    if not training or not validating:
        raise FitRefusedError("too few writers to train and validate on (the fold's held-out ones are never used)")
    return args, cfg, training, validating


def data_hashes(args: argparse.Namespace) -> dict[str, str]:
    """The SHA-256 of every data file a fit read."""
    return {name: data.sha256(path) for name, path in (("mnist", args.data), ("mnist_writers", args.mnist_writers),
                                                       ("pendigits", args.pen_data), ("unipen", args.unipen_data))
            if path}


def main(argv: list[str] | None = None) -> int:
    """Compose, compute features, fit, check on the validating writers, write the layer and the report."""
    started = time.time()
    try:
        args, cfg, training, validating = prepared(__doc__.split("\n\n")[0], HeadConfig(), argv)
    except FitRefusedError as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    report_path = Path(args.model).with_suffix(".json")
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    features, labels = picture_features(args.model, training, cfg.pictures, cfg.seed)
    checks = picture_features(args.model, validating, cfg.validation_pictures, cfg.seed + 1)
    pictured = time.time()
    weights, bias = output_layer(args.model)
    before = exact(*checks, weights, bias)
    new_weights, new_bias, losses = fit(features, labels, weights, bias, cfg)
    after = exact(*checks, new_weights, new_bias)
    cut_sha256 = data.sha256(args.model)
    write_output_layer(args.model, new_weights, new_bias)
    head = {"config": asdict(cfg), "training_writers": len(training), "validating_writers": len(validating),
            "pictures": len(labels), "validation_pictures": len(checks[1]), "losses": losses,
            "validation_exact_before": round(before, 4), "validation_exact_after": round(after, 4),
            "picture_seconds": round(pictured - started), "fit_seconds": round(time.time() - pictured),
            "data_sha256": data_hashes(args), "cut_sha256": cut_sha256, "sha256": data.sha256(args.model)}
    report_path.write_text(json.dumps({**report, "notice": NOTICE, "head": head, "sha256": head["sha256"]},
                                      indent=1) + "\n")
    print(f"validating writers' pictures read exactly: {before:.2%} -> {after:.2%} "
          f"({len(checks[1])} pictures; features {head['picture_seconds']} s, fit {head['fit_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
