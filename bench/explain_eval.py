"""How faithful the "Why?" evidence is, and how well the lookalikes agree, on writers the models never saw
(make eval: the "explanations" block; writes explain_eval.json).

Each cross-validation fold's model (make cv) explains the pen digits of the writers and UNIPEN
contributors it never saw, rendered as the server renders a drawing. Its lookalike bank is built the way
make lookalikes builds the shipped one, but from that fold's training writers only.

- Faithfulness: erase the 10% of the ink pixels the evidence ranks highest for the answer, and, apart,
  a random 10% (the mean of several draws); the evidence wins on a digit when its erasure drops the
  answer's probability more. Deletion curves: the answer's mean probability as 0, 10, ... 100% of the
  ink is erased in evidence order and in random order; the area under each (lower: the ranking found the
  ink that mattered sooner).
- Lookalikes: how often the nearest bank digit's label equals the answer, over confident answers; and
  the embedding's 1-nearest-neighbour accuracy against the true labels.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from app import ROOT
from app.config import Settings
from app.reader import explain, preprocessing
from training import data
from training import lookalikes as bank_builder

STEPS = np.linspace(0, 1, 11)  # erased share of the ink along the deletion curves
RANDOM_DRAWS = 5


def erased(image: np.ndarray, order: np.ndarray, share: float) -> np.ndarray:
    """The image with the first `share` of the ink pixels in `order` (flat indices) set to paper."""
    out = image.copy().reshape(-1)
    out[order[: int(np.ceil(share * len(order)))]] = 0
    return out.reshape(image.shape)


def judge(explainer: explain.Explainer, image: np.ndarray, rng: np.random.Generator) -> dict:
    """One digit: the answer, the evidence's and random erasures' effects, their curves, the nearest lookalike."""
    inside = explainer.inside(image)
    answer = int(inside.probabilities.argmax())
    runner_up = int(np.argsort(-inside.probabilities, kind="stable")[1])
    evidence = explainer.evidence(image, answer, runner_up)["answer"].reshape(-1)
    ink = np.flatnonzero(image.reshape(-1) > explain.INK)
    ranked = ink[np.argsort(-evidence[ink], kind="stable")]
    draws = [rng.permutation(ink) for _ in range(RANDOM_DRAWS)]
    batch = [erased(image, ranked, s) for s in STEPS] + [erased(image, d, s) for d in draws for s in STEPS]
    p = explainer.predict(np.stack(batch))[:, answer].reshape(1 + RANDOM_DRAWS, len(STEPS))
    ten = int(np.argmin(np.abs(STEPS - 0.1)))
    return {"answer": answer, "confidence": float(inside.probabilities[answer]),
            "nearest_label": explainer.bank.nearest(inside.embedding, 1)[0].label,
            "evidence_curve": p[0], "random_curve": p[1:].mean(axis=0),
            "wins": bool(p[0, ten] < p[1:, ten].mean())}


def fold_block(model: Path, pen: list[dict], mnist: dict, per_fold: int, seed: int) -> tuple[list[dict], list[int]]:
    """One fold model's judgements of (a sample of) its held-out digits, with its own training-writer bank."""
    report = json.loads((model.parent / "report.json").read_text())
    writers, contributors = set(report["held_out_writers"]), set(report.get("held_out_contributors", []))
    is_held = [r["writer"] in writers if r["source"] == "pendigits" else r["contributor"] in contributors for r in pen]
    held = [r for r, h in zip(pen, is_held) if h]
    trained = [r for r, h in zip(pen, is_held) if not h]
    rng = np.random.default_rng(seed)
    explainer = explain.Explainer(str(model), None)
    explainer.bank = bank_builder.build(explainer, *bank_builder.select(
        mnist["x_train"], mnist["y_train"], trained, bank_builder.PER_CLASS, rng))
    sample = [held[i] for i in rng.permutation(len(held))[:per_fold]]
    judged = [judge(explainer, preprocessing.render_strokes(r["strokes"]), rng) for r in sample]
    return judged, [r["label"] for r in sample]


def summary(judged: list[dict], labels: list[int], unsure_below: float) -> dict:
    """The explanations block from every fold's judgements."""
    confident = [j for j in judged if j["confidence"] >= unsure_below]
    evidence = np.mean([j["evidence_curve"] for j in judged], axis=0)
    random = np.mean([j["random_curve"] for j in judged], axis=0)
    return {
        "digits": len(judged),
        "faithfulness_wins": float(np.mean([j["wins"] for j in judged])),
        "deletion_area_evidence": float(np.trapezoid(evidence, STEPS)),
        "deletion_area_random": float(np.trapezoid(random, STEPS)),
        "deletion_curve_evidence": [round(float(v), 4) for v in evidence],
        "deletion_curve_random": [round(float(v), 4) for v in random],
        "confident_answers": len(confident),
        "nearest_agrees_with_answer": float(np.mean([j["nearest_label"] == j["answer"] for j in confident])),
        "knn1_accuracy": float(np.mean([j["nearest_label"] == label for j, label in zip(judged, labels)])),
        "cnn_accuracy": float(np.mean([j["answer"] == label for j, label in zip(judged, labels)])),
    }


def main(argv: list[str] | None = None) -> int:
    """Judge every fold, print the block, write explain_eval.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or "../shared/data/pendigits_train.json",
                        help="pendigits JSON (held-out writers explained, the rest in the fold's bank)")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or "../shared/data/unipen_train.json",
                        help="UNIPEN-train JSON (held-out contributors explained; empty: none)")
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH") or "../shared/data/mnist.npz",
                        help="Keras-layout mnist.npz (its training part goes into each fold's bank)")
    parser.add_argument("--cv-dir", default=str(ROOT / "models" / "cv"), help="fold*/digit_cnn.tflite (make cv)")
    parser.add_argument("--per-fold", type=int, default=400, help="held-out digits explained per fold")
    parser.add_argument("--seed", type=int, default=7, help="which digits, which random erasures")
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"), help="folder for explain_eval.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    models = sorted(Path(args.cv_dir).glob("fold*/digit_cnn.tflite"))
    if not models:
        print(f"error: no fold*/digit_cnn.tflite under {args.cv_dir}; run make cv first", file=sys.stderr)
        return 2
    pen = data.load_pen(args.pen_data, args.unipen_data)
    mnist, _ = data.load_mnist(args.data)
    judged, labels = [], []
    for fold, model in enumerate(models, start=1):
        fold_judged, fold_labels = fold_block(model, pen, mnist, args.per_fold, args.seed + fold)
        judged += fold_judged
        labels += fold_labels
        print(f"{model.parent.name}: {len(fold_judged)} digits ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr)
    block = {**summary(judged, labels, Settings().unsure_threshold), "folds": len(models),
             "seconds": round(time.perf_counter() - started, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "explain_eval.json").write_text(json.dumps(block, indent=1) + "\n")
    print(f"Explanations, {block['digits']} pen digits by writers and contributors each fold's model never saw:\n")
    print("| measure | value |\n|---|---|")
    print(f"| evidence's top 10% of ink erased drops the answer more than a random 10% | "
          f"{block['faithfulness_wins']:.1%} of digits |")
    print(f"| deletion curve area, evidence order / random order (lower: faster drop) | "
          f"{block['deletion_area_evidence']:.3f} / {block['deletion_area_random']:.3f} |")
    print(f"| nearest lookalike's label = the answer ({block['confident_answers']} confident answers) | "
          f"{block['nearest_agrees_with_answer']:.2%} |")
    print(f"| 1-nearest-neighbour accuracy of the embedding (true labels) | {block['knn1_accuracy']:.2%} "
          f"(the CNN: {block['cnn_accuracy']:.2%}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
