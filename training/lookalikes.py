"""Build the lookalike bank (app/reader/lookalikes.py) the "Why?" panel searches: python -m training.lookalikes

A few thousand real training digits, the same number of each digit from each source (MNIST-train,
pendigits, UNIPEN-train), each rendered exactly as the server renders a drawing, embedded by the serving
model's penultimate layer. Rebuild it whenever the CNN changes (make train does): the server refuses a
bank made by another model.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from app import ROOT
from app.reader import explain, lookalikes, preprocessing
from training import data

PER_CLASS = 100  # per digit and source: 3,000 digits, about 1.3 MB compressed


def _pick(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of up to per_class items of each label, in random order within each label."""
    chosen = [rng.permutation(np.flatnonzero(labels == d))[:per_class] for d in range(10)]
    return np.concatenate(chosen).astype(np.int64)


def select(mnist_images: np.ndarray, mnist_labels: np.ndarray, pen: list[dict], per_class: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images 0..1, labels, source numbers) of the bank: per_class of each digit from each source."""
    images, labels, sources = [], [], []
    mnist = _pick(mnist_labels, per_class, rng)
    images.append(mnist_images[mnist].astype(np.float32) / 255)
    labels.append(mnist_labels[mnist])
    sources.append(np.zeros(len(mnist), np.int64))
    for number, name in ((1, "pendigits"), (2, "unipen")):
        records = [r for r in pen if r["source"] == name]
        if not records:
            continue
        chosen = _pick(np.array([r["label"] for r in records]), per_class, rng)
        images.append(np.stack([preprocessing.render_strokes(records[i]["strokes"]) for i in chosen]))
        labels.append(np.array([records[i]["label"] for i in chosen]))
        sources.append(np.full(len(chosen), number))
    return np.concatenate(images), np.concatenate(labels), np.concatenate(sources)


def build(explainer: explain.Explainer, images: np.ndarray, labels: np.ndarray,
          sources: np.ndarray) -> lookalikes.LookalikeBank:
    """The bank of these digits, embedded by the explainer's model."""
    embeddings = np.stack([explainer.inside(image).embedding for image in images])
    pixels = np.round(images * 255).astype(np.uint8)
    return lookalikes.LookalikeBank(pixels, labels, sources, embeddings, explainer.sha256)


def main(argv: list[str] | None = None) -> int:
    """Select, embed and save the bank; print its size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "digit_cnn.tflite"),
                        help="the serving TFLite CNN whose embedding the bank holds")
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH") or "../shared/data/mnist.npz",
                        help="Keras-layout mnist.npz (its training part is used)")
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or "../shared/data/pendigits_train.json",
                        help="pendigits JSON (empty: none)")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or "../shared/data/unipen_train.json",
                        help="UNIPEN-train JSON (empty: none)")
    parser.add_argument("--per-class", type=int, default=PER_CLASS, help="digits of each label from each source")
    parser.add_argument("--seed", type=int, default=0, help="which digits are picked")
    parser.add_argument("--out", default=str(ROOT / "models" / "lookalikes.npz"), help="where to write the bank")
    args = parser.parse_args(argv)
    try:
        mnist, _ = data.load_mnist(args.data)
        pen = data.load_pen(args.pen_data, args.unipen_data)
        explainer = explain.Explainer(args.model, None)
    except (data.DataError, OSError, explain.ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    bank = build(explainer, *select(mnist["x_train"], mnist["y_train"], pen, args.per_class, rng))
    bank.save(args.out)
    counts = np.bincount(bank.sources, minlength=3)
    print(f"{args.out}: {len(bank)} digits ({', '.join(f'{n} {s}' for n, s in zip(counts, lookalikes.SOURCES))}), "
          f"{Path(args.out).stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
