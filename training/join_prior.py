"""Fit the whole-number reader's join prior and write it to models/join_prior.json (app/segmenter.py loads it).

    python -m training.join_prior --fold 5 --out models/join_prior.json

The prior is a logistic regression on app.segmenter.join_features: whether the next stroke joins the digit
being written or starts the next one. It is fitted on numbers composed from a fold's training writers' pen
digits, both sources (never the writers and contributors the fold holds out, on which the number evaluation
judges it), read by that fold's classifier.
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
        boxes = [segmenter.box_of(s) for s in points]
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


def fitted_prior(records: list[dict], model_path: str, numbers: int, seed: int) -> dict:
    """The join prior fitted on numbers composed from these records, read by this digit model: the JSON
    object app/reader/segmenter.py loads, with what it was fitted on."""
    x, t = examples(records, models.DigitModel(model_path), numbers, seed)
    weights = fit(x, t)
    accuracy = float((((1 / (1 + np.exp(-x @ weights))) > 0.5) == t).mean())
    return {"weights": np.round(weights, 4).tolist(), "temperature": TEMPERATURE, "floor": FLOOR,
            "features": ["intercept", "overlap", "gap", "lead", "centre", "height", "tops", "bottoms",
                         "overlap of the wider", "run height", *(f"merged reads as {d}" for d in range(10))],
            "fitted_on": {"joins": int(t.sum()), "splits": int((1 - t).sum()), "accuracy": round(accuracy, 4),
                          "writers": len({r["writer"] for r in records}), "model": Path(model_path).name,
                          "model_sha256": data.sha256(model_path), "numbers": numbers, "seed": seed}}


def main(argv: list[str] | None = None) -> int:
    """Fit on the training writers' composed numbers and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or None,
                        help="pendigits JSON (default: $PENDIGITS_PATH); the fold's held-out writers are left out")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or None,
                        help="UNIPEN-train JSON (default: $UNIPEN_PATH); the fold's held-out contributors are left out")
    parser.add_argument("--fold", type=int, default=data.FOLDS,
                        help="fit on this fold's training writers (default: the last, which the number evaluation "
                             "holds out)")
    parser.add_argument("--model", default=None,
                        help="the digit model reading the merged strokes (default: the fold's, which never saw its "
                             "held-out writers)")
    parser.add_argument("--numbers", type=int, default=8000, help="numbers to compose")
    parser.add_argument("--seed", type=int, default=0, help="composition seed")
    parser.add_argument("--out", default=str(ROOT / "models" / "join_prior.json"), help="the JSON file to write")
    args = parser.parse_args(argv)
    if not args.pen_data or not Path(args.pen_data).is_file():
        print("error: pass the pendigits JSON with --pen-data (or set PENDIGITS_PATH)", file=sys.stderr)
        return 2
    train, _ = data.split_fold(data.load_pen(args.pen_data, args.unipen_data), args.fold)
    model = args.model or str(ROOT / "models" / "cv" / f"fold{args.fold}" / "digit_cnn.tflite")
    prior = fitted_prior(train, model, args.numbers, args.seed)
    prior["fitted_on"] |= {"fold": args.fold, "pen_data_sha256": data.sha256(args.pen_data),
                           "unipen_data_sha256": data.sha256(args.unipen_data) if args.unipen_data else None}
    Path(args.out).write_text(json.dumps(prior, indent=1) + "\n")
    fitted = prior["fitted_on"]
    print(f"join prior fitted on {fitted['joins']} joins and {fitted['splits']} splits; accuracy "
          f"{fitted['accuracy']:.4f}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
