"""Fitting and exporting, the same for every model: Adam with warm-up and cosine decay, the best
epoch checkpointed, then a TFLite file (int8 weights by default) for the server's LiteRT runtime.

Every epoch also leaves what `train.py --resume` needs in `<model>.resume/` beside the model (Keras's
BackupAndRestore: the weights with the optimizer's state and the epoch; here: the history and config):
a run cut off (a session's end, a lost machine) continues from its last finished epoch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from training import quiet_native_output
from training.config import FILES, TrainConfig


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


def ctc_loss(keras):
    """CTC over the line model's column probabilities; targets are [length, digits..., padding]."""
    ops = keras.ops

    def loss(y_true, y_pred):
        lengths = ops.cast(y_true[:, 0], "int32")
        labels = ops.cast(y_true[:, 1:], "int32")
        columns = ops.full((ops.shape(y_pred)[0],), ops.shape(y_pred)[1], dtype="int32")
        # log of a softmax is a valid logit: CTC's own log-softmax leaves it unchanged
        return ops.ctc_loss(labels, ops.log(y_pred + 1e-7), lengths, columns, mask_index=10)

    return loss


def resume_dir(checkpoint: Path) -> Path:
    """Where a run keeps what --resume needs: beside its model, the model's name with .resume."""
    return checkpoint.with_suffix(".resume")


def resumed_history(backup: Path, cfg: TrainConfig) -> tuple[dict[str, list[float]], float]:
    """The history and fitting seconds of the interrupted run whose backup this is, cut to its last saved
    epoch; ValueError when there is none to resume or it ran with another config."""
    try:
        saved = json.loads((backup / "history.json").read_text())
        epoch = json.loads((backup / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        raise ValueError(f"--resume: no interrupted run to resume in {backup.parent} (no finished epoch in "
                         f"{backup.name}/)") from None
    current = asdict(cfg)
    if saved["config"] != current:
        changed = sorted(k for k in saved["config"] if saved["config"][k] != current.get(k))
        raise ValueError(f"--resume: the interrupted run in {backup.parent} had other settings ({', '.join(changed)});"
                         " give the same flags, or start afresh without --resume")
    # The history is written before the weights: a cut between the two leaves one epoch too many here.
    return {key: values[:epoch] for key, values in saved["history"].items()}, float(saved["seconds"])


def _history_log(keras, backup: Path, cfg: TrainConfig, history: dict, past_seconds: float, started: float):
    """A callback that adds each epoch's logs to `history` and writes it (and the config) into the backup."""

    class HistoryLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            backup.mkdir(parents=True, exist_ok=True)
            (backup / "history.json").write_text(json.dumps(
                {"config": asdict(cfg), "history": history, "seconds": past_seconds + time.perf_counter() - started}))

    return HistoryLog()


def fit_best(keras, model, batches, validation, checkpoint: Path, cfg: TrainConfig, monitor: str = "val_accuracy",
             resume: bool = False):
    """Compile (Adam, warm-up then cosine decay), fit, and return the checkpointed best model,
    its history and the fit's wall time in seconds. validation: (inputs, labels) for the classifiers,
    a dataset of batches for the line model (trained with CTC). resume: continue the interrupted run
    whose backup lies beside the checkpoint (ValueError when there is none)."""
    steps = cfg.epochs * len(batches)
    schedule = keras.optimizers.schedules.CosineDecay(
        cfg.lr / 10, decay_steps=max(1, steps - steps // 10), alpha=0.01,
        warmup_target=cfg.lr, warmup_steps=steps // 10)
    if cfg.model in ("line", "online"):
        model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=5.0), loss=ctc_loss(keras))
    else:
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="categorical_crossentropy",
                      metrics=[digit_accuracy_metric(keras)])
        validation = (validation[0], keras.utils.to_categorical(validation[1], 10))
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    backup = resume_dir(checkpoint)
    history, past_seconds = resumed_history(backup, cfg) if resume else ({}, 0.0)
    if not resume:
        shutil.rmtree(backup, ignore_errors=True)  # a fresh run never continues an old one by accident
    for _ in range(len(history.get(monitor, []))):
        batches.on_epoch_end()  # the stream's shuffle where the uninterrupted run would have it
    best_so_far = (min if "loss" in monitor else max)(history[monitor]) if history.get(monitor) else None
    started = time.perf_counter()
    # The history log before BackupAndRestore: the weights saved after it never get ahead of the history.
    model.fit(batches, epochs=cfg.epochs, verbose=1 if sys.stdout.isatty() and not os.environ.get("CI") else 2,
              validation_data=validation,
              callbacks=[keras.callbacks.ModelCheckpoint(checkpoint, monitor=monitor,
                                                         mode="min" if "loss" in monitor else "max",
                                                         save_best_only=True, initial_value_threshold=best_so_far),
                         _history_log(keras, backup, cfg, history, past_seconds, started),
                         keras.callbacks.BackupAndRestore(str(backup))])
    wall_seconds = past_seconds + time.perf_counter() - started
    best = keras.saving.load_model(checkpoint, compile=False)
    best.save(checkpoint)  # again without the optimizer's state: a third of the size to ship
    return best, history, wall_seconds


def export_tflite(model, path: Path, quantize: str = "dynamic") -> None:
    """Write the TFLite flatbuffer the server runs with LiteRT; "dynamic": int8 weights, float in and out."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize == "dynamic":
        # Dynamic-range quantization: weights stored as int8, activations quantized on the fly.
        # The CNN's 2.4 MB dense layer dominated each request's memory traffic (see docs, Speed).
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with quiet_native_output():  # the converter prints every captured tensor and its own notices
        flatbuffer = converter.convert()
    path.write_bytes(flatbuffer)


def export_saved(path: str, quantize: str) -> int:
    """--export: a saved model's TFLite file beside it (digit_cnn.keras -> digit_cnn.tflite); the exit status."""
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as error:
        print(f"error: {path}: not a saved Keras model ({str(error).splitlines()[0][:200]})", file=sys.stderr)
        return 2
    target = Path(path).with_suffix(".tflite")
    export_tflite(model, target, quantize)
    # The report written beside the model says which export it now has.
    report_names = {model_name: report_name for model_name, _, report_name in FILES.values()}
    report_path = target.parent / report_names.get(Path(path).name, "")
    if report_path.is_file():
        import tensorflow as tf

        report = json.loads(report_path.read_text())
        report["tflite_export"] = {"quantize": quantize, "bytes": target.stat().st_size, "tensorflow": tf.__version__}
        report_path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {target} ({target.stat().st_size:,} bytes, quantize={quantize})")
    return 0
