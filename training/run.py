"""One training run, the same shape for every model: load what the config needs, split, build, fit, evaluate.

    data = load_data(cfg, sources); run = train(cfg, data, out); save(run, cfg, data, out)

Splits: a fold's pen writers and UNIPEN contributors are held out whole (training.data); of the rest,
10% of the pen digits and (for the CNN) whole MNIST writers validate, to pick the best epoch. The MNIST
test set is touched once, for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.reader import line, trajectory
from training import batches, data, fit, letters, lines, models, report
from training.config import FILES, TrainConfig


@dataclass(frozen=True)
class Sources:
    """Where the data lives; None (or empty) leaves a source out."""

    mnist: str | None = None
    pendigits: str | None = None
    unipen: str | None = None
    mnist_writers: str | None = None
    corrections: str | None = None


@dataclass
class Data:
    """Everything a run reads, loaded once."""

    mnist: dict[str, np.ndarray]
    pen: list[dict]
    corrections: list[dict]
    corrections_val: list[dict]
    mnist_writers: np.ndarray | None
    checksums: dict[str, str | None]


@dataclass
class Run:
    """A fitted model and what the report says about it."""

    model: object
    history: dict
    wall_seconds: float
    best_epoch: int
    held_out: dict
    metrics: dict = field(default_factory=dict)
    test: dict | None = None  # the CNN's MNIST test report (with predictions, for the plots)


def load_data(cfg: TrainConfig, sources: Sources) -> Data:
    """Load the sources a config uses (the trajectory model needs no MNIST); DataError or OSError/ValueError
    on a bad file."""
    mnist, mnist_sha256 = data.load_mnist(sources.mnist) if cfg.model in ("cnn", "line") else ({}, None)
    pen = data.load_pen(sources.pendigits, sources.unipen) if cfg.pen else []
    corrections, corrections_val = data.load_corrections(sources.corrections) if sources.corrections else ([], [])
    writers = data.load_mnist_writers(sources.mnist_writers, len(mnist["x_train"])) if mnist else None
    checksums = {"data_sha256": mnist_sha256,
                 "pen_data_sha256": data.sha256(sources.pendigits) if cfg.pen and sources.pendigits else None,
                 "unipen_data_sha256": data.sha256(sources.unipen) if cfg.pen and sources.unipen else None,
                 "mnist_writers_sha256": data.sha256(sources.mnist_writers) if writers is not None else None,
                 "corrections_sha256": data.sha256(sources.corrections) if sources.corrections else None}
    return Data(mnist, pen, corrections, corrections_val, writers, checksums)


def split_pen(pen: list[dict], cfg: TrainConfig, rng: np.random.Generator) -> tuple[dict, list[dict], list[dict]]:
    """What the fold holds out (its pendigits writers and UNIPEN contributors), then the other digits
    split into (training, 10% validation)."""
    pen_train, held_out = data.split_fold(pen, cfg.fold, cfg.folds, cfg.held_out_contributors())
    order = rng.permutation(len(pen_train))
    cut = len(pen_train) // 10
    return data.held_out_names(held_out), [pen_train[i] for i in order[cut:]], [pen_train[i] for i in order[:cut]]


def train(cfg: TrainConfig, loaded: Data, out: Path, resume: bool = False) -> Run:
    """Split, build (or start from cfg.init), fit keeping the best epoch (resume: from the interrupted run's
    last finished epoch in out), and evaluate."""
    import keras

    keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    letter_bank = letters.training_letters() if cfg.letters and cfg.model not in ("line", "online") else []
    setup = {"cnn": _cnn_inputs, "trajectory": _trajectory_inputs, "line": _line_inputs,
             "online": _online_inputs}[cfg.model]
    held_out, stream, validation, extra = setup(keras, cfg, loaded, rng, letter_bank)
    builders = {"cnn": models.build_cnn, "trajectory": models.build_trajectory_model, "line": models.build_line,
                "online": models.build_online}
    model = keras.saving.load_model(cfg.init, compile=False) if cfg.init else builders[cfg.model](keras)
    print(f"{cfg.model}: {model.count_params():,} parameters; {extra.pop('describe')}")
    # The CNN keeps its best validation accuracy. The other models keep their lowest validation loss:
    # pen paths of known writers reach 100% within a few epochs, and the first epoch there is not the best.
    monitor = "val_accuracy" if cfg.model == "cnn" else "val_loss"
    model, history, wall_seconds = fit.fit_best(keras, model, stream, validation, out / FILES[cfg.model][0], cfg,
                                                monitor=monitor, resume=resume)
    pick = np.argmax(history["val_accuracy"]) if cfg.model == "cnn" else np.argmin(history["val_loss"])
    run = Run(model, history, wall_seconds, int(pick) + 1, {**held_out, "training_letters": len(letter_bank)})
    if cfg.model in ("line", "online"):
        run.metrics["validation_exact"] = _exact_numbers(model, validation)
        return run
    run.metrics["validation_accuracy"] = _accuracy(model, *validation)
    if cfg.model == "cnn":
        run.metrics["train_accuracy"] = _accuracy(model, *extra["train"])
        run.test = report.test_report(model, loaded.mnist["x_test"], loaded.mnist["y_test"])
        if loaded.checksums["corrections_sha256"]:
            run.metrics["corrections"] = _corrections_report(model, loaded)
    return run


def _cnn_inputs(keras, cfg: TrainConfig, loaded: Data, rng: np.random.Generator, letter_bank: list):
    """The CNN's held-out names, batch stream, validation set and training images."""
    mnist = loaded.mnist
    if not 0 < cfg.validation < len(mnist["x_train"]):
        raise ValueError(f"--validation {cfg.validation} must be between 1 and the training set size")
    val_idx, train_idx = data.validation_split(len(mnist["x_train"]), cfg.validation, loaded.mnist_writers, rng)
    if cfg.limit:
        train_idx = train_idx[:cfg.limit]
    x_train, y_train = batches.to_images(mnist["x_train"][train_idx]), mnist["y_train"][train_idx]
    held_out, pen_train, pen_val = split_pen(loaded.pen, cfg, rng)
    if cfg.limit:  # a smoke run is small in every source, not only MNIST
        pen_train = pen_train[:cfg.limit]
    x_val = np.concatenate([batches.to_images(mnist["x_train"][val_idx]),
                            *(batches.render_pen(r["strokes"], None)[None, ..., None] for r in pen_val)])
    y_val = np.concatenate([mnist["y_train"][val_idx], [r["label"] for r in pen_val]]).astype(int)
    pen_train += [{**r, "correction": True} for r in loaded.corrections]
    stream = batches.make_batches(keras, x_train[..., 0], y_train, pen_train, letter_bank, cfg)
    held_out["validation_by_writer"] = loaded.mnist_writers is not None
    balanced = " (an equal share per source)" if cfg.balance_sources else ""
    describe = (f"{len(x_train):,} MNIST + {len(pen_train):,} pen digits x{cfg.pen_repeat}{balanced}; "
                f"validation {len(x_val):,}")
    return held_out, stream, (x_val, y_val), {"train": (x_train, y_train), "describe": describe}


def _trajectory_inputs(keras, cfg: TrainConfig, loaded: Data, rng: np.random.Generator, letter_bank: list):
    """The trajectory model's held-out names, batch stream and validation paths."""
    if not loaded.pen:
        raise ValueError("the trajectory model learns from pen strokes: pass --pen-data (or set PENDIGITS_PATH)")
    held_out, pen_train, pen_val = split_pen(loaded.pen, cfg, rng)
    if cfg.limit:
        pen_train = pen_train[:cfg.limit]
    pen_train += [{**r, "correction": True} for r in loaded.corrections]
    x_val = np.stack([trajectory.features(r["strokes"]) for r in pen_val])
    y_val = np.array([r["label"] for r in pen_val])
    stream = batches.make_trajectory_batches(keras, pen_train, letter_bank, cfg)
    describe = f"{len(pen_train):,} pen digits x{cfg.pen_repeat}; validation {len(x_val):,}"
    return held_out, stream, (x_val, y_val), {"describe": describe}


def _line_inputs(keras, cfg: TrainConfig, loaded: Data, rng: np.random.Generator, letter_bank: list):
    """The line model's held-out names, picture stream and fixed validation pictures. Numbers are composed
    from one writer's digits: MNIST training writers (whole writers validate) and the fold's training pen
    writers; the fold's pen writers and contributors and every MNIST test writer are never used."""
    mnist = loaded.mnist
    if loaded.mnist_writers is None:
        raise ValueError("the line model composes numbers from one writer's digits: pass --mnist-writers "
                         "(or set MNIST_WRITERS_PATH)")
    val_idx, train_idx = data.validation_split(len(mnist["x_train"]), cfg.validation, loaded.mnist_writers, rng)
    if cfg.limit:
        train_idx = train_idx[:cfg.limit]
    pen_train, held_out = data.split_fold(loaded.pen, cfg.fold, cfg.folds, cfg.held_out_contributors())
    pen_writers = lines.pen_writers(pen_train)
    cut = max(1, len(pen_writers) // 10) if len(pen_writers) > 1 else 0
    order = rng.permutation(len(pen_writers))

    def by_writer(idx):
        return lines.mnist_writers(mnist["x_train"][idx], mnist["y_train"][idx], loaded.mnist_writers[idx])
    training = by_writer(train_idx) + [pen_writers[i] for i in order[cut:]]
    validating = by_writer(val_idx) + [pen_writers[i] for i in order[:cut]]
    stream = batches.make_line_batches(keras, training, cfg)
    validation = _fixed(keras, batches.fixed_line_batches(validating, max(cfg.batch_size, cfg.pictures // 20),
                                                          cfg.batch_size, cfg.seed + 1))
    describe = (f"{len(training):,} writers ({cfg.pictures:,} pictures an epoch); validation {len(validating)} "
                f"writers")
    return {**data.held_out_names(held_out), "mnist_test_writers_held_out": True}, stream, validation, \
        {"describe": describe}


def _online_inputs(keras, cfg: TrainConfig, loaded: Data, rng: np.random.Generator, letter_bank: list):
    """The online reader's held-out names, number stream and fixed validation numbers: composed from the
    fold's training pen writers, a tenth of them (by writer) validating; the fold's writers never used."""
    if not loaded.pen:
        raise ValueError("the online reader learns from pen strokes: pass --pen-data (or set PENDIGITS_PATH)")
    pen_train, held_out = data.split_fold(loaded.pen, cfg.fold, cfg.folds, cfg.held_out_contributors())
    if cfg.limit:  # a smoke run: a few digits of every writer
        pen_train = [r for k, r in enumerate(pen_train) if k % max(1, len(pen_train) // cfg.limit) == 0]
    writers = sorted({r["writer"] for r in pen_train}, key=str)
    validating = set(writers[5::10] or writers[:1])  # the same writers whatever the seed: a run continued
    # from another (online-more) never validates on writers the first trained on
    by_source: dict[str, dict] = {}
    for record in pen_train:
        side = "validation" if record["writer"] in validating else "training"
        by_source.setdefault(side, {}).setdefault(record["source"], {}).setdefault(record["writer"], []).append(record)
    if "validation" not in by_source or "training" not in by_source:
        raise ValueError("the online reader needs pen digits by at least two writers")
    stream = batches.make_online_batches(keras, by_source["training"], cfg)
    validation = _fixed(keras, batches.fixed_online_batches(by_source["validation"], max(cfg.batch_size,
                                                            cfg.pictures // 20), cfg.batch_size, cfg.seed + 1))
    describe = (f"{len(writers) - len(validating)} writers ({cfg.pictures:,} numbers an epoch); validation "
                f"{len(validating)} writers")
    return data.held_out_names(held_out), stream, validation, {"describe": describe}


def _fixed(keras, fixed: list):
    """A list of ready batches as a Keras dataset (the line model's validation)."""

    class Fixed(keras.utils.PyDataset):
        def __len__(self):
            return len(fixed)

        def __getitem__(self, index):
            return fixed[index]

    return Fixed()


def _exact_numbers(model, validation) -> float:
    """Share of validation pictures whose greedy-decoded digits are exactly right."""
    right = total = 0
    for k in range(len(validation)):
        images, targets = validation[k]
        for columns, target in zip(model.predict(images, verbose=0), targets):
            read = line.number_of(line.greedy_decode(columns))
            right += read == "".join(str(int(d)) for d in target[1:1 + int(target[0])])
            total += 1
    return right / max(total, 1)


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Share of x the model reads as y."""
    return float((model.predict(x, batch_size=1000, verbose=0).argmax(axis=1) == y).mean())


def _corrections_report(model, loaded: Data) -> dict:
    """The newest corrections, never trained on: does the model now get them right?"""
    held = loaded.corrections_val
    x = (np.stack([batches.render_pen(r["strokes"], None) for r in held])[..., None] if held
         else np.zeros((0, 28, 28, 1), np.float32))
    return {"file_sha256": loaded.checksums["corrections_sha256"], "trained_on": len(loaded.corrections),
            "held_out_newest": len(held),
            "held_out_accuracy": _accuracy(model, x, np.array([r["label"] for r in held])) if held else None}


def save(run: Run, cfg: TrainConfig, loaded: Data, out: Path, args: dict) -> dict:
    """Write the TFLite export, the CNN's plots and the report beside the checkpointed model; the report."""
    model_name, tflite_name, report_name = FILES[cfg.model]
    fit.export_tflite(run.model, out / tflite_name, cfg.quantize)
    if run.test is not None:
        report.save_plots(out, run.history, run.test, loaded.mnist["x_test"], loaded.mnist["y_test"])
    written = report.write_report(run, cfg, loaded.checksums, out, args)
    print(report.summary_line(written, out))
    return written
