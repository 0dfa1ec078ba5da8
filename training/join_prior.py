"""Fit the whole-number reader's join prior and write it to models/join_prior.json (app/segmenter.py loads it).

    python -m training.join_prior --model models/cv/fold5/digit_cnn.tflite --out models/join_prior.json

The prior is a logistic regression on app.segmenter.join_features: whether the next stroke joins the digit
being written or starts the next one. It is fitted on numbers composed from the training writers' pen
digits (never the held-out writers of the number evaluation), with the classifier that never saw those.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from app import ROOT
from app.reader import models, preprocessing, segmenter
from training import data
from training.compose import GAPS, compose, group_by_writer

TEMPERATURE = 2.0  # > 1 softens the prior: styles the training writers rarely used (a 4 in two strokes
# with a gap) must stay possible when the classifier is sure of them
FLOOR = 0.02  # the geometry advises, the classifier decides


def examples(records: list[dict], model: models.DigitModel, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features with an intercept column, targets): a digit's next stroke against its strokes so far (1),
    a digit's first stroke against the whole digit before it (0); gaps of every kind in GAPS, and each pen
    source's writers in turn (UNIPEN's many writers would otherwise drown pendigits' few)."""
    rng = np.random.default_rng(seed)
    by_writer = group_by_writer(records)
    sources = sorted({r["source"] for r in records})
    writers = {source: sorted({r["writer"] for r in records if r["source"] == source}) for source in sources}
    features, targets, merged = [], [], []
    for i in range(count):
        sizes: list[int] = []
        names = writers[sources[i % len(sources)]]
        writer = names[int(rng.integers(len(names)))]
        points, _, _, _ = compose(by_writer[writer], rng, list(GAPS)[i % len(GAPS)], sizes)
        boxes = [segmenter._box(s) for s in points]
        scale = segmenter._scale(boxes)
        starts = np.cumsum([0, *sizes])
        for start, end in zip(starts[:-1], starts[1:]):
            pairs = [(j, 1.0) for j in range(start + 1, end)] + ([(end, 0.0)] if end < len(boxes) else [])
            for j, target in pairs:  # the next unit joining the run start..j, or starting a new digit
                features.append(segmenter.join_features(boxes[j], segmenter._union(boxes[start:j]), scale))
                targets.append(target)
                merged.append(preprocessing.render_strokes(points[start:j + 1]))
    reads = np.concatenate([model.predict(np.stack(merged[k:k + 512])) for k in range(0, len(merged), 512)])
    features = [f[:-10] + list(r) for f, r in zip(features, reads)]
    return np.column_stack([np.ones(len(features)), np.array(features)]), np.array(targets)


def fit(x: np.ndarray, t: np.ndarray, steps: int = 6000) -> np.ndarray:
    """Logistic regression weights: plain gradient descent on the class-balanced log loss, a small L2 penalty."""
    weights = np.zeros(x.shape[1])
    balance = np.where(t == 1, 0.5 / t.mean(), 0.5 / (1 - t.mean()))  # both kinds weigh the same
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ weights))
        weights -= 0.5 * (x.T @ (balance * (p - t)) / len(t) + 1e-3 * weights)
    return weights


def main(argv: list[str] | None = None) -> int:
    """Fit on the training writers' composed numbers and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or None,
                        help="pendigits JSON (default: $PENDIGITS_PATH); the number evaluation's writers are left out")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or None,
                        help="UNIPEN-train JSON (default: $UNIPEN_PATH); the evaluation's contributors are left out")
    parser.add_argument("--model", default=str(ROOT / "models" / "cv" / f"fold{data.FOLDS}" / "digit_cnn.tflite"),
                        help="the digit model reading the merged strokes (default: the fold model that never saw "
                             "the evaluation's writers)")
    parser.add_argument("--numbers", type=int, default=8000, help="numbers to compose")
    parser.add_argument("--seed", type=int, default=0, help="composition seed")
    parser.add_argument("--out", default=str(ROOT / "models" / "join_prior.json"), help="the JSON file to write")
    args = parser.parse_args(argv)
    if not args.pen_data or not Path(args.pen_data).is_file():
        print("error: pass the pendigits JSON with --pen-data (or set PENDIGITS_PATH)", file=sys.stderr)
        return 2
    train, _ = data.split_fold(data.load_pen(args.pen_data, args.unipen_data), data.FOLDS)
    x, t = examples(train, models.DigitModel(args.model), args.numbers, args.seed)
    weights = fit(x, t)
    accuracy = float((((1 / (1 + np.exp(-x @ weights))) > 0.5) == t).mean())
    prior = {"weights": np.round(weights, 4).tolist(), "temperature": TEMPERATURE, "floor": FLOOR,
             "features": ["intercept", "overlap", "gap", "lead", "centre", "height", "tops", "bottoms",
                          "overlap of the wider", "run height",
                          *(f"merged reads as {d}" for d in range(10))],
             "fitted_on": {"joins": int(t.sum()), "splits": int((1 - t).sum()), "accuracy": round(accuracy, 4),
                           "pen_data_sha256": data.sha256(args.pen_data),
                           "unipen_data_sha256": data.sha256(args.unipen_data) if args.unipen_data else None,
                           "writers": len({r["writer"] for r in train}), "model": Path(args.model).name,
                           "model_sha256": data.sha256(args.model), "numbers": args.numbers, "seed": args.seed}}
    Path(args.out).write_text(json.dumps(prior, indent=1) + "\n")
    print(f"join prior fitted on {int(t.sum())} joins and {int((1 - t).sum())} splits; accuracy {accuracy:.4f}; "
          f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
