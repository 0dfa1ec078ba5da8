"""The report every run writes beside its model (config, data checksums, held-out writers, accuracy,
history, machine and versions), assembled in one place for every model, and the CNN's plots."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from training.batches import to_images
from training.config import FILES, TrainConfig


def test_report(model, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    """Accuracy, per-class accuracy and confusion matrix on the test digits."""
    predicted = model.predict(to_images(x_test), batch_size=1000, verbose=0).argmax(axis=1)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (y_test, predicted), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {"test_accuracy": float((predicted == y_test).mean()), "per_class_accuracy": per_class.round(4).tolist(),
            "confusion_matrix": confusion.tolist(), "test_predictions": predicted}


def curves_figure(history: dict):
    """Loss and accuracy per epoch (epochs counted from 1, whole numbers only) as a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        epochs = range(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", label="train")
        ax.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
        ax.set(title=key, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 0.5
        ax.legend()
    fig.tight_layout()
    return fig


def save_curves(out: Path, history: dict) -> None:
    """The training curves as training_curves.png."""
    import matplotlib.pyplot as plt

    fig = curves_figure(history)
    fig.savefig(out / "training_curves.png", dpi=90)
    plt.close(fig)


def save_plots(out: Path, history: dict, report: dict, x_test: np.ndarray, y_test: np.ndarray) -> None:
    """Training curves, confusion matrix and a grid of test mistakes, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    save_curves(out, history)
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


def write_report(run, cfg: TrainConfig, checksums: dict, out: Path, args: dict) -> dict:
    """The one report writer: every model's report has the same keys, the CNN's adds its MNIST test figures."""
    import keras
    import tensorflow as tf

    model_name, tflite_name, report_name = FILES[cfg.model]
    test = {k: v for k, v in (run.test or {}).items() if k != "test_predictions"}
    written = {
        "model": model_name, "tflite": tflite_name, "recipe": args.get("recipe"), "config": asdict(cfg),
        "args": args, **checksums, **run.held_out, **run.metrics, **test,
        "parameters": run.model.count_params(), "epochs": cfg.epochs, "best_epoch": run.best_epoch,
        "wall_seconds": round(run.wall_seconds, 1), "history": run.history,
        "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "opencv": cv2.__version__},
    }
    (out / report_name).write_text(json.dumps(written, indent=1) + "\n")
    return written


def summary_line(written: dict, out: Path) -> str:
    """One line for the console: the figures that matter and where the files went."""
    test = f"test accuracy {written['test_accuracy']:.4f} | " if "test_accuracy" in written else ""
    validation = written.get("validation_accuracy", written.get("validation_exact", 0.0))
    return (f"{written['model']}: {test}validation {validation:.4f} | best epoch "
            f"{written['best_epoch']}/{written['epochs']} | {written['wall_seconds'] / 60:.1f} min | saved to {out}/")
