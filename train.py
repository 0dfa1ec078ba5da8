"""Train the Digit Canvas models on MNIST plus real pen digits; save each model, its TFLite export and a report.

    python train.py --pen-data '' --letters 0 --scans 0 --epochs 20 --out models/base  # 1. the MNIST base
    python train.py --init models/base/digit_cnn.keras --epochs 4 --lr 5e-4 --fold 0  # 2. + every pen writer
    python train.py --model trajectory --epochs 20 --fold 0                           # the pen-path model
    python train.py --evaluate models/digit_cnn.keras --data ../shared/data/mnist.npz
    python train.py --export models/trajectory.keras                                  # its TFLite file again

`--fold K` holds out the K-th fold of pen writers (make cv trains one model per fold; make eval
judges each on its own writers). Reads top to bottom: load, build, fit, evaluate, save. The
validation split (held out of the 60,000 training images, plus 10% of the training writers' pen
digits) picks the checkpoint; the test set is touched once, for the final report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from app import preprocessing, trajectory
from training import augment as strokes
from training import data, letters, scans, styles
from training.data import DataError, load_mnist

MODEL_NAME = "digit_cnn.keras"
TFLITE_NAME = "digit_cnn.tflite"
TRAJECTORY_NAME = "trajectory"  # trajectory.keras, trajectory.tflite, trajectory_report.json
REPORT_NAMES = {MODEL_NAME: "report.json", f"{TRAJECTORY_NAME}.keras": f"{TRAJECTORY_NAME}_report.json"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; every one has a default."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH") or None,
                        help="Keras-layout mnist.npz (default: $MNIST_PATH, else keras.datasets.mnist download)")
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or None,
                        help="pendigits JSON of real pen strokes to mix in (default: $PENDIGITS_PATH, else none)")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or None,
                        help="UNIPEN-train JSON of more pen writers to mix in (default: $UNIPEN_PATH, else none)")
    parser.add_argument("--mnist-writers", default=os.environ.get("MNIST_WRITERS_PATH") or None,
                        help="mnist_writers.npz: validation holds out whole MNIST writers (default: "
                             "$MNIST_WRITERS_PATH, else random images)")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training data")
    parser.add_argument("--batch-size", type=int, default=128, help="images per gradient step")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (warm-up, then cosine decay)")
    parser.add_argument("--model", choices=("cnn", "trajectory"), default="cnn",
                        help="cnn: the image model (MNIST and pen digits); trajectory: the pen-path model (pen only)")
    parser.add_argument("--fold", type=int, default=0,
                        help="hold out this cross-validation fold's pen writers (1..--folds); 0: train on all")
    parser.add_argument("--folds", type=int, default=data.FOLDS, help="cross-validation folds of pen writers")
    parser.add_argument("--init", default=None,
                        help="start from this saved model's weights (the fine-tuning stage) instead of at random")
    parser.add_argument("--styles", type=float, default=0.3,
                        help="share of pen digits redrawn in a style the data lacks (app/styles.py)")
    parser.add_argument("--letters", type=float, default=0.03,
                        help="share of each epoch that is traced letters taught to give flat probabilities")
    parser.add_argument("--pen-repeat", type=int, default=2,
                        help="times each training-writer pen digit is drawn (freshly augmented) per epoch")
    parser.add_argument("--traced", type=float, default=0.2,
                        help="share of MNIST digits thinned, traced and redrawn as strokes (the upload path)")
    parser.add_argument("--scans", type=float, default=0.15,
                        help="share of MNIST and pen digits shrunk to a small scan (16x16 most often) and read "
                             "back through the server's picture path (app/scans.py)")
    parser.add_argument("--scribbles", type=float, default=0.05,
                        help="share of each epoch that is random scribbles taught to give flat probabilities")
    parser.add_argument("--validation", type=int, default=5000, help="MNIST training images held out for validation")
    parser.add_argument("--corrections", default=None,
                        help="corrections people sent (python -m app.corrections export FILE.json) to mix in; "
                             "the newest 20%% are held out and reported on")
    parser.add_argument("--corrections-weight", type=int, default=20,
                        help="times each correction is drawn (freshly augmented) per epoch")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--limit", type=int, default=0, help="train on this many MNIST images only (0: all)")
    parser.add_argument("--out", default="models", help="folder for the model, its export, report and plots")
    parser.add_argument("--evaluate", metavar="MODEL", help="print a saved model's test report instead of training")
    parser.add_argument("--export", metavar="MODEL",
                        help="write a saved .keras model's TFLite file beside it (per --quantize) instead of training")
    parser.add_argument("--quantize", choices=("dynamic", "none"), default="dynamic",
                        help="TFLite weights: dynamic: int8 (a quarter of the size and about 5x faster on a CPU, "
                             "probabilities within about 0.01 of float); none: float32")
    return parser.parse_args(argv)


def to_images(x: np.ndarray) -> np.ndarray:
    """uint8 MNIST digits to the model's input: (N, 28, 28, 1) float32 in 0..1."""
    return (x.astype(np.float32) / 255.0)[..., None]


def render_pen(record_strokes: list[np.ndarray], rng: np.random.Generator | None) -> np.ndarray:
    """Render a pen digit the server's way; with rng, freshly augmented and at a varied width."""
    if rng is None:
        return preprocessing.render_strokes(record_strokes)
    width = preprocessing.STROKE_WIDTH * rng.uniform(0.8, 1.2)
    return preprocessing.render_strokes(strokes.augment(record_strokes, rng), width)


def load_corrections(path: str) -> tuple[list[dict], list[dict]]:
    """Exported corrections as pen records, split by time: (older 80% to train on, newest 20% to judge)."""
    with open(path, encoding="utf-8") as file:
        records = json.load(file)
    records.sort(key=lambda r: (r.get("created", ""), r.get("id", 0)))
    corrections = [{"label": int(r["label"]), "strokes": [np.asarray(s, np.float64).reshape(-1, 2)
                                                          for s in r["strokes"]]} for r in records]
    cut = len(corrections) - int(np.ceil(0.2 * len(corrections)))
    return corrections[:cut], corrections[cut:]


def epoch_stream(keras, items: list[tuple[str, int]], example, args):
    """An epoch-long stream of batches over items, reshuffled every epoch; example(kind, i, rng) gives
    one freshly augmented (input, target)."""

    class Stream(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False, max_queue_size=8)
            self.rng = np.random.default_rng(args.seed)
            self.on_epoch_end()

        def __len__(self):
            return int(np.ceil(len(items) / args.batch_size))

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(items))

        def __getitem__(self, index):
            # One generator per batch, seeded by epoch order and index: reproducible in any thread.
            rng = np.random.default_rng([args.seed, int(self.order[0]), index])
            picks = self.order[index * args.batch_size:(index + 1) * args.batch_size]
            inputs, targets = zip(*(example(*items[p], rng) for p in picks))
            return np.stack(inputs), np.stack(targets)

    return Stream()


def pen_items(pen: list[dict], args) -> list[tuple[str, int]]:
    """Each pen digit pen_repeat times an epoch (a correction corrections_weight times)."""
    return [("pen", i) for i in range(len(pen))
            for _ in range(args.corrections_weight if pen[i].get("correction") else args.pen_repeat)]


def styled_pen(record: dict, rng: np.random.Generator, args) -> list[np.ndarray]:
    """A pen digit's strokes, redrawn in a style the data lacks with probability --styles."""
    if rng.random() < args.styles:
        return styles.random_style(record["strokes"], record["label"], rng)
    return record["strokes"]


def one_hot(label: int) -> np.ndarray:
    """The training target of a digit."""
    return np.eye(10, dtype=np.float32)[label]


FLAT = np.full(10, 0.1, np.float32)  # outlier exposure: a non-digit should look like no digit


def make_batches(keras, x_mnist, y_mnist, pen, letter_bank, args):
    """An epoch-long stream of augmented batches: MNIST, pen digits (corrections among them, weighted;
    some redrawn in styles the data lacks; some read back from small scans) and flat-target scribbles and letters."""
    items = [("mnist", i) for i in range(len(x_mnist))] + pen_items(pen, args)
    scribbles, letter_count = int(args.scribbles * len(items)), int(args.letters * len(items))
    items += [("scribble", 0)] * scribbles
    items += [("letter", i % len(letter_bank)) for i in range(letter_count if letter_bank else 0)]

    def scanned(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # No draw at all with --scans 0: the base's batches stay exactly what they were before scans.
        return scans.as_scanned(image, rng) if args.scans and rng.random() < args.scans else image

    def example(kind: str, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if kind == "mnist":
            image = strokes.augment_image(x_mnist[i], rng)
            if rng.random() < args.traced:  # MNIST styles through the stroke renderer, as uploads go
                traced = preprocessing.skeleton_strokes(image > 0.3)
                image = render_pen(traced, rng) if traced else image
            return scanned(image, rng)[..., None], one_hot(y_mnist[i])
        if kind == "pen":
            return scanned(render_pen(styled_pen(pen[i], rng, args), rng), rng)[..., None], one_hot(pen[i]["label"])
        drawing = strokes.random_scribble(rng) if kind == "scribble" else letter_bank[i]
        return render_pen(drawing, rng)[..., None], FLAT

    return epoch_stream(keras, items, example, args)


def make_trajectory_batches(keras, pen, letter_bank, args):
    """An epoch-long stream of pen paths (augmented, some in styles the data lacks) and flat-target outliers."""
    items = pen_items(pen, args)
    items += [("outlier", i) for i in range(int((args.scribbles + args.letters) * len(items)))]

    def example(kind: str, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if kind == "pen":
            return trajectory.features(strokes.augment(styled_pen(pen[i], rng, args), rng)), one_hot(pen[i]["label"])
        if letter_bank and rng.random() < args.letters / (args.scribbles + args.letters):
            drawing = letter_bank[rng.integers(len(letter_bank))]
        else:
            drawing = strokes.random_scribble(rng)
        return trajectory.features(strokes.augment(drawing, rng)), FLAT

    return epoch_stream(keras, items, example, args)


def build_trajectory_model(keras) -> object:
    """A small 1-D CNN over the resampled pen path: two conv pairs, then average and max over time."""
    layers = keras.layers

    def conv(x, filters, kernel):
        x = layers.Conv1D(filters, kernel, padding="same", use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization()(x))

    inputs = keras.Input((trajectory.POINTS, trajectory.FEATURES), name="path")
    x = layers.MaxPooling1D()(conv(conv(inputs, 64, 5), 64, 5))
    x = conv(layers.MaxPooling1D()(conv(conv(x, 128, 3), 128, 3)), 192, 3)
    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(layers.Dropout(0.3)(x))
    return keras.Model(inputs, outputs, name="trajectory")


def train_trajectory(keras, tf, args, pen: list[dict], corrections: list[dict]) -> int:
    """The pen-path model: load and split the pen writers, build, fit, evaluate on validation, save."""
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    held_out, pen_train, pen_val = split_pen(pen, args, rng)
    pen_train += [{**r, "correction": True} for r in corrections]
    x_val = np.stack([trajectory.features(r["strokes"]) for r in pen_val])
    y_val = np.array([r["label"] for r in pen_val])
    letter_bank = letters.training_letters() if args.letters else []
    batches = make_trajectory_batches(keras, pen_train, letter_bank, args)

    model = keras.saving.load_model(args.init, compile=False) if args.init else build_trajectory_model(keras)
    print(f"{model.count_params():,} parameters; {len(pen_train):,} pen digits x{args.pen_repeat}; "
          f"validation {len(x_val):,}")
    out = Path(args.out)
    # Validation loss, not accuracy: pen paths of known writers reach 100% within a few epochs,
    # and the first epoch to get there is not the best model.
    model, history, wall_seconds = fit_best(keras, model, batches, x_val, y_val,
                                            out / f"{TRAJECTORY_NAME}.keras", args, monitor="val_loss")

    export_tflite(model, out / f"{TRAJECTORY_NAME}.tflite", args.quantize)
    validation = float((model.predict(x_val, verbose=0).argmax(axis=1) == y_val).mean())
    report = {
        "model": f"{TRAJECTORY_NAME}.keras", "tflite": f"{TRAJECTORY_NAME}.tflite", "args": vars(args),
        **pen_sources(args), **held_out, "training_letters": len(letter_bank),
        "validation_accuracy": validation, "parameters": model.count_params(), "epochs": args.epochs,
        "best_epoch": int(np.argmin(history["val_loss"])) + 1, "wall_seconds": round(wall_seconds, 1),
        "history": history, "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    (out / REPORT_NAMES[f"{TRAJECTORY_NAME}.keras"]).write_text(json.dumps(report, indent=1) + "\n")
    print(f"trajectory validation {validation:.4f} | best epoch {report['best_epoch']}/{args.epochs} | "
          f"{wall_seconds / 60:.1f} min | saved to {out}/")
    return 0


def split_pen(pen: list[dict], args, rng: np.random.Generator) -> tuple[dict[str, list], list[dict], list[dict]]:
    """What the fold holds out (its pendigits writers and UNIPEN contributors), then the other digits
    split into (training, 10% validation)."""
    pen_train, held_out = data.split_fold(pen, args.fold, args.folds)
    order = rng.permutation(len(pen_train))
    cut = len(pen_train) // 10
    return data.held_out_names(held_out), [pen_train[i] for i in order[cut:]], [pen_train[i] for i in order[:cut]]


def pen_sources(args) -> dict:
    """The pen files trained on and their checksums, for the report."""
    return {"pen_data_sha256": data.sha256(args.pen_data) if args.pen_data else None,
            "unipen_data_sha256": data.sha256(args.unipen_data) if args.unipen_data else None}


def fit_best(keras, model, batches, x_val: np.ndarray, y_val: np.ndarray, checkpoint: Path, args,
             monitor: str = "val_accuracy"):
    """Compile (Adam, warm-up then cosine decay), fit, and return the checkpointed best model,
    its history and the fit's wall time in seconds."""
    steps = args.epochs * len(batches)
    schedule = keras.optimizers.schedules.CosineDecay(
        args.lr / 10, decay_steps=max(1, steps - steps // 10), alpha=0.01,
        warmup_target=args.lr, warmup_steps=steps // 10)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="categorical_crossentropy",
                  metrics=[digit_accuracy_metric(keras)])
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fitted = model.fit(batches, epochs=args.epochs, verbose=2 if os.environ.get("CI") else 1,
                       validation_data=(x_val, keras.utils.to_categorical(y_val, 10)),
                       callbacks=[keras.callbacks.ModelCheckpoint(checkpoint, monitor=monitor,
                                                                  mode="min" if "loss" in monitor else "max",
                                                                  save_best_only=True)])
    wall_seconds = time.perf_counter() - started
    best = keras.saving.load_model(checkpoint, compile=False)
    best.save(checkpoint)  # again without the optimizer's state: a third of the size to ship
    return best, {key: [float(v) for v in values] for key, values in fitted.history.items()}, wall_seconds


def build_model(keras) -> object:
    """A small batch-normalised CNN: 5x5 stem, two 3x3 blocks, one dense layer."""
    layers = keras.layers

    def conv(x, filters, kernel=3):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization()(x))

    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.MaxPooling2D()(conv(inputs, 32, 5))
    x = layers.Dropout(0.2)(layers.MaxPooling2D()(conv(conv(x, 48), 48)))
    # The dense layer sees the whole 7x7 map. Pooling it to 3x3 first cut the weights from 2.4 to
    # 0.4 MB and 0.1 ms per request, but lost accuracy: validation 99.54% against 99.68% (30 epochs).
    x = layers.Flatten()(conv(x, 96))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Dense(128, use_bias=False)(x)))
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(layers.Dropout(0.4)(x))
    return keras.Model(inputs, outputs, name="digit_cnn")


def digit_accuracy_metric(keras):
    """Accuracy over real digits only: scribbles (flat targets) have no right answer."""

    class DigitAccuracy(keras.metrics.Metric):
        def __init__(self, name="accuracy", **kwargs):
            super().__init__(name=name, **kwargs)
            self.correct = self.add_weight(name="correct", initializer="zeros")
            self.total = self.add_weight(name="total", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            ops = keras.ops
            is_digit = ops.cast(ops.max(y_true, axis=-1) > 0.5, "float32")
            hit = ops.cast(ops.argmax(y_true, -1) == ops.argmax(y_pred, -1), "float32")
            self.correct.assign_add(ops.sum(hit * is_digit))
            self.total.assign_add(ops.sum(is_digit))

        def result(self):
            return self.correct / keras.ops.maximum(self.total, 1.0)

    return DigitAccuracy()


def export_tflite(model, path: Path, quantize: str = "dynamic") -> None:
    """Write the TFLite flatbuffer the server runs with LiteRT; "dynamic": int8 weights, float in and out."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize == "dynamic":
        # Dynamic-range quantization: weights stored as int8, activations quantized on the fly.
        # The CNN's 2.4 MB dense layer dominated each request's memory traffic (see README, Speed).
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    path.write_bytes(converter.convert())


def export_saved(path: str, quantize: str) -> int:
    """--export: a saved model's TFLite file beside it (digit_cnn.keras -> digit_cnn.tflite)."""
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as error:
        print(f"error: {path}: not a saved Keras model ({error})", file=sys.stderr)
        return 2
    target = Path(path).with_suffix(".tflite")
    export_tflite(model, target, quantize)
    # The report train.py wrote beside the model says which export it now has.
    report_path = target.parent / REPORT_NAMES.get(Path(path).name, "")
    if report_path.is_file():
        import tensorflow as tf

        report = json.loads(report_path.read_text())
        report["tflite_export"] = {"quantize": quantize, "bytes": target.stat().st_size, "tensorflow": tf.__version__}
        report_path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {target} ({target.stat().st_size:,} bytes, quantize={quantize})")
    return 0


def test_report(model, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    """Accuracy, per-class accuracy and confusion matrix on the test digits."""
    predicted = model.predict(to_images(x_test), batch_size=1000, verbose=0).argmax(axis=1)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (y_test, predicted), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {"test_accuracy": float((predicted == y_test).mean()), "per_class_accuracy": per_class.round(4).tolist(),
            "confusion_matrix": confusion.tolist(), "test_predictions": predicted}


def save_plots(out: Path, history: dict, report: dict, x_test: np.ndarray, y_test: np.ndarray) -> None:
    """Training curves, confusion matrix and a grid of test mistakes, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(history[key], label="train")
        ax.plot(history[f"val_{key}"], label="validation")
        ax.set(title=key, xlabel="epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "training_curves.png", dpi=90)

    fig, ax = plt.subplots(figsize=(6, 5.5))
    confusion = np.array(report["confusion_matrix"])
    ax.imshow(np.log1p(confusion), cmap="Blues")
    for (row, col), count in np.ndenumerate(confusion):
        ax.text(col, row, count, ha="center", va="center", fontsize=7, color="white" if row == col else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
           title=f"Test confusion matrix ({report['test_accuracy']:.2%})")
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=90)

    wrong = np.flatnonzero(report["test_predictions"] != y_test)[:60]
    columns = 10
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.0, rows * 1.2), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(x_test[i], cmap="gray")
        ax.set_title(f"{y_test[i]} → {report['test_predictions'][i]}", fontsize=8)
    fig.suptitle("Test digits it gets wrong (true → predicted)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "mistakes.png", dpi=90)
    plt.close("all")


def main(argv: list[str] | None = None) -> int:
    """Train a model (or, with --evaluate, report on one; with --export, re-export one); the exit status."""
    args = parse_args(argv)
    if args.export:
        return export_saved(args.export, args.quantize)
    try:
        # The trajectory model learns from pen paths only: no MNIST to load (nor to download).
        mnist, data_sha256 = load_mnist(args.data) if args.model == "cnn" or args.evaluate else ({}, None)
        pen = data.load_pen(args.pen_data, args.unipen_data) if not args.evaluate else []
        corrections, corrections_val = (load_corrections(args.corrections) if args.corrections and not args.evaluate
                                        else ([], []))
    except DataError as error:
        print(f"error: {error}; pass a Keras-layout mnist.npz with --data (or set MNIST_PATH)", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"error: {args.pen_data}, {args.unipen_data} or {args.corrections}: not a pen-digit JSON file "
              f"({error}); fix --pen-data, --unipen-data or --corrections", file=sys.stderr)
        return 2

    import keras
    import tensorflow as tf

    if args.evaluate:
        report = test_report(keras.saving.load_model(args.evaluate, compile=False), mnist["x_test"], mnist["y_test"])
        print(f"test accuracy {report['test_accuracy']:.4f} on {len(mnist['y_test'])} images")
        print("per class", " ".join(f"{d}:{a:.4f}" for d, a in enumerate(report["per_class_accuracy"])))
        return 0

    if not 0 <= args.fold <= args.folds:
        print(f"error: --fold {args.fold} must be between 0 (no fold held out) and --folds {args.folds}",
              file=sys.stderr)
        return 2
    if args.model == "trajectory":
        if not pen:
            print("error: the trajectory model learns from pen strokes: pass --pen-data (or set PENDIGITS_PATH)",
                  file=sys.stderr)
            return 2
        return train_trajectory(keras, tf, args, pen, corrections)
    if not 0 < args.validation < len(mnist["x_train"]):
        print(f"error: --validation {args.validation} must be between 1 and the training set size", file=sys.stderr)
        return 2

    # Load: hold a shuffled validation split out of the training images (and 10% of the pen digits).
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    writers = data.load_mnist_writers(args.mnist_writers, len(mnist["x_train"]))
    val_idx, train_idx = data.validation_split(len(mnist["x_train"]), args.validation, writers, rng)
    if args.limit:
        train_idx = train_idx[:args.limit]
    x_train, y_train = to_images(mnist["x_train"][train_idx]), mnist["y_train"][train_idx]
    held_out, pen_train, pen_val = split_pen(pen, args, rng)
    x_val = np.concatenate([to_images(mnist["x_train"][val_idx]), *(render_pen(r["strokes"], None)[None, ..., None]
                                                                   for r in pen_val)])
    y_val = np.concatenate([mnist["y_train"][val_idx], [r["label"] for r in pen_val]]).astype(int)
    pen_train += [{**r, "correction": True} for r in corrections]
    letter_bank = letters.training_letters() if args.letters else []
    batches = make_batches(keras, x_train[..., 0], y_train, pen_train, letter_bank, args)

    # Build (or, for fine-tuning, start from a trained model).
    model = keras.saving.load_model(args.init, compile=False) if args.init else build_model(keras)
    print(f"{model.count_params():,} parameters; {len(x_train):,} MNIST + {len(pen_train):,} pen digits "
          f"x{args.pen_repeat}; validation {len(x_val):,}")

    # Fit: keep the weights of the epoch with the best validation accuracy.
    out = Path(args.out)
    model, history, wall_seconds = fit_best(keras, model, batches, x_val, y_val, out / MODEL_NAME, args)
    best_epoch = int(np.argmax(history["val_accuracy"])) + 1

    # Evaluate: training and validation accuracy, then the test set once.
    def accuracy(x, y):
        return float((model.predict(x, batch_size=1000, verbose=0).argmax(axis=1) == y).mean())

    report = test_report(model, mnist["x_test"], mnist["y_test"])
    if args.corrections:  # the newest corrections, never trained on: does the model now get them right?
        x_corr = np.stack([render_pen(r["strokes"], None) for r in corrections_val])[..., None] if corrections_val \
            else np.zeros((0, 28, 28, 1), np.float32)
        report["corrections"] = {
            "file_sha256": hashlib.sha256(Path(args.corrections).read_bytes()).hexdigest(),
            "trained_on": len(corrections), "held_out_newest": len(corrections_val),
            "held_out_accuracy": accuracy(x_corr, np.array([r["label"] for r in corrections_val]))
            if corrections_val else None}
        print(f"corrections: trained on {len(corrections)}, newest {len(corrections_val)} held out: accuracy "
              f"{report['corrections']['held_out_accuracy']}")
    save_plots(out, history, report, mnist["x_test"], mnist["y_test"])
    report.pop("test_predictions")

    # Save: the Keras model (already written by the checkpoint), its TFLite export and the report.
    export_tflite(model, out / TFLITE_NAME, args.quantize)
    report = {
        "model": MODEL_NAME, "tflite": TFLITE_NAME, "args": vars(args), "data_sha256": data_sha256,
        **pen_sources(args), **held_out, "validation_by_writer": writers is not None,
        "training_letters": len(letter_bank),
        "train_accuracy": accuracy(x_train, y_train), "validation_accuracy": accuracy(x_val, y_val),
        **report, "parameters": model.count_params(), "epochs": args.epochs, "best_epoch": best_epoch,
        "wall_seconds": round(wall_seconds, 1), "history": history,
        "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "opencv": cv2.__version__},
    }
    (out / REPORT_NAMES[MODEL_NAME]).write_text(json.dumps(report, indent=1) + "\n")
    print(f"test accuracy {report['test_accuracy']:.4f} | validation {report['validation_accuracy']:.4f} | "
          f"best epoch {best_epoch}/{args.epochs} | {wall_seconds / 60:.1f} min | saved to {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
