"""Whole numbers by writers the model never saw (make eval): exact-number accuracy through /api/read
(strokes, as the page sends them) and /api/read/image (the same numbers as photos).

Numbers of 2 to 5 digits are composed from one held-out writer's pen digits, stroke order kept:
a common height with jitter, gaps from overlapping (a digit reaching up to 15% of its neighbour's
width back over it) to wide, a wobbling baseline.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from app import ROOT, numbers, preprocessing
from bench import scratch_app
from training import data

HEIGHT = 80.0  # digit height on the canvas, CSS px
GAPS = {  # the space before each digit, as a fraction of the digit height (negative: overlap of widths)
    "overlapping (up to 15%)": (-0.15, 0.0),
    "touching": (0.0, 0.03),
    "normal": (0.08, 0.3),
    "wide": (0.3, 0.7),
}


def compose(records: list[dict], rng: np.random.Generator, gap: str,
            sizes: list[int] | None = None) -> tuple[list[np.ndarray], str, float, float]:
    """One number from one writer's digits: strokes in writing order, the true number, canvas width and height.

    `sizes`, when given, receives each digit's stroke count.
    """
    length = int(rng.integers(2, 6))
    picks = [records[i] for i in rng.integers(0, len(records), length)]
    low_gap, high_gap = GAPS[gap]
    out, x = [], 20.0
    for record in picks:
        points = np.concatenate(record["strokes"])
        low, span = points.min(axis=0), np.ptp(points, axis=0)
        scale = HEIGHT * rng.uniform(0.9, 1.1) / max(span[1], 1.0)
        width = span[0] * scale
        top = 40 + rng.uniform(-0.06, 0.06) * HEIGHT  # baseline wobble
        fraction = rng.uniform(low_gap, high_gap)
        if out:
            x += fraction * (HEIGHT if fraction >= 0 else width)  # an overlap is a share of the digit's own width
        out.extend((s - low) * scale + (x, top) for s in record["strokes"])
        if sizes is not None:
            sizes.append(len(record["strokes"]))
        x += width
    return out, "".join(str(r["label"]) for r in picks), x + 20, 40 + HEIGHT * 1.3 + 40


def photo(points: list[np.ndarray], width: float, height: float, rng: np.random.Generator) -> bytes:
    """The number as a phone would photograph it: a thick dark pen on uneven paper, turned slightly."""
    factor = 3.0
    size = (int(width * factor), int(height * factor))
    paper = np.linspace(205, 240, size[0], dtype=np.float32)[None, :].repeat(size[1], axis=0)
    paper += rng.normal(0, 4, paper.shape).astype(np.float32)
    pen = max(2, int(HEIGHT * factor * 0.08))
    for stroke in points:
        cv2.polylines(paper, [np.round(stroke * factor).astype(np.int32)], False, 45.0, pen, cv2.LINE_AA)
    angle = rng.uniform(-3, 3)
    turn = cv2.getRotationMatrix2D((size[0] / 2, size[1] / 2), angle, 1.0)
    paper = cv2.warpAffine(paper, turn, size, borderMode=cv2.BORDER_REPLICATE)
    return cv2.imencode(".jpg", np.clip(paper, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def group_by_writer(records: list[dict]) -> dict[int, list[dict]]:
    """Records grouped by writer: numbers are written by one writer each."""
    groups = defaultdict(list)
    for record in records:
        groups[record["writer"]].append(record)
    return dict(groups)


def evaluate(client, records: list[dict], count: int, seed: int, pictures: bool) -> dict:
    """Exact-number accuracy by length and gap, digit accuracy inside numbers, for strokes and pictures."""
    rng = np.random.default_rng(seed)
    by_writer = group_by_writer(records)
    writers = sorted(by_writer)
    tallies = {kind: defaultdict(lambda: [0, 0]) for kind in ("strokes", "pictures")}
    digit_tally = {"strokes": [0, 0], "pictures": [0, 0]}
    failures = []
    for i in range(count):
        gap = list(GAPS)[i % len(GAPS)]
        writer = writers[int(rng.integers(len(writers)))]  # not i % len: no writer tied to one gap kind
        points, truth, width, height = compose(by_writer[writer], rng, gap)
        body = {"strokes": [np.round(s, 1).tolist() for s in points], "width": width, "height": height}
        answers = {"strokes": client.post("/api/read", json=body).get_json()}
        if pictures:
            data = {"image": (io.BytesIO(photo(points, width, height, rng)), "number.jpg")}
            answers["pictures"] = client.post("/api/read/image", data=data).get_json()
        for kind, answer in answers.items():
            read = answer.get("number", "")
            for key in ("all", f"length {len(truth)}", f"gap: {gap}"):
                tallies[kind][key][0] += read == truth
                tallies[kind][key][1] += 1
            digit_tally[kind][0] += sum(a == b for a, b in zip(read, truth)) if len(read) == len(truth) else 0
            digit_tally[kind][1] += len(truth)
            if read != truth and len(failures) < 40:
                failures.append({"kind": kind, "truth": truth, "read": read, "gap": gap})
    return {kind: {key: right / total for key, (right, total) in sorted(table.items())}
            for kind, table in tallies.items() if table} | {
        "digits_in_numbers": {k: v[0] / v[1] for k, v in digit_tally.items() if v[1]},
        "counts": {kind: table["all"][1] for kind, table in tallies.items() if table},
        "failures": failures}


def table(summary: dict) -> str:
    """The Markdown table make eval prints."""
    kinds = [k for k in ("strokes", "pictures") if k in summary]
    rows = ["| numbers by held-out writers | " + " | ".join(f"{k} (/api/read{'/image' if k == 'pictures' else ''})"
                                                          for k in kinds) + " |",
            "|---|" + "---:|" * len(kinds)]
    keys = ["all"] + [k for k in summary[kinds[0]] if k.startswith("length")] + \
        [f"gap: {g}" for g in GAPS]
    for key in keys:
        name = f"**exact, {summary['counts'][kinds[0]]} numbers**" if key == "all" else f"exact, {key}"
        rows.append(f"| {name} | " + " | ".join(f"{summary[k][key]:.2%}" for k in kinds) + " |")
    rows.append("| digits inside numbers | " + " | ".join(f"{summary['digits_in_numbers'][k]:.2%}" for k in kinds)
                + " |")
    return "\n".join(rows)


def fit_join_prior(records: list[dict], model_path: str, count: int = 8000, seed: int = 0) -> np.ndarray:
    """Fit app.numbers' join prior (logistic regression on its geometric features) on composed numbers.

    Positives: a digit's next stroke against its strokes so far; negatives: a digit's first stroke
    against the whole digit before it. Gaps are drawn from every kind in GAPS.
    """
    rng = np.random.default_rng(seed)
    by_writer = group_by_writer(records)
    writers = sorted(by_writer)
    model = scratch_app(MODEL_PATH=model_path).extensions["digit_model"]
    features, targets, merged = [], [], []
    for i in range(count):
        sizes: list[int] = []
        writer = writers[int(rng.integers(len(writers)))]
        points, _, _, _ = compose(by_writer[writer], rng, list(GAPS)[i % len(GAPS)], sizes)
        boxes = [numbers._box(s) for s in points]
        scale = numbers._scale(boxes)
        starts = np.cumsum([0, *sizes])
        for start, end in zip(starts[:-1], starts[1:]):
            pairs = [(j, 1.0) for j in range(start + 1, end)] + ([(end, 0.0)] if end < len(boxes) else [])
            for j, target in pairs:  # the next unit joining the run start..j, or starting a new digit
                features.append(numbers.join_features(boxes[j], numbers._union(boxes[start:j]), scale))
                targets.append(target)
                merged.append(preprocessing.render_strokes(points[start:j + 1]))
    reads = np.concatenate([model.predict(np.stack(merged[k:k + 512])) for k in range(0, len(merged), 512)])
    features = [f[:-10] + list(r) for f, r in zip(features, reads)]
    x = np.column_stack([np.ones(len(features)), np.array(features)])
    t = np.array(targets)
    weights = np.zeros(x.shape[1])
    balance = np.where(t == 1, 0.5 / t.mean(), 0.5 / (1 - t.mean()))  # both kinds weigh the same
    for _ in range(6000):  # plain gradient descent on the weighted log loss, a small L2 penalty
        p = 1 / (1 + np.exp(-x @ weights))
        weights -= 0.5 * (x.T @ (balance * (p - t)) / len(t) + 1e-3 * weights)
    p = 1 / (1 + np.exp(-x @ weights))
    print(f"join prior fitted on {int(t.sum())} joins and {int((1 - t).sum())} splits; "
          f"accuracy {((p > 0.5) == t).mean():.4f}; weights {np.round(weights, 3).tolist()}")
    return weights


def main(argv: list[str] | None = None) -> int:
    """Compose numbers from held-out writers, read them through the app, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or None,
                        help="pendigits JSON (default: $PENDIGITS_PATH)")
    parser.add_argument("--numbers", type=int, default=2000, help="numbers to compose")
    parser.add_argument("--seed", type=int, default=7, help="composition seed")
    parser.add_argument("--writers", choices=("held-out", "training"), default="held-out",
                        help="whose digits: the held-out writers (the figure) or the training writers (tuning)")
    parser.add_argument("--no-pictures", action="store_true", help="strokes only (faster)")
    parser.add_argument("--fit-join", action="store_true",
                        help="fit app.numbers.JOIN_WEIGHTS on the training writers and print them")
    parser.add_argument("--model", default=str(ROOT / "models" / "cv" / f"fold{data.FOLDS}" / "digit_cnn.tflite"),
                        help="the digit model: by default the cross-validation model that never saw these writers")
    parser.add_argument("--out", default=str(ROOT / "models"), help="where to write number_eval.json")
    args = parser.parse_args(argv)
    if not args.pen_data:
        parser.error("--pen-data or $PENDIGITS_PATH is required")
    train, held_out = data.split_by_writer(data.load_pendigits(args.pen_data))
    if args.fit_join:
        fit_join_prior(train, args.model)
        return 0
    records = held_out if args.writers == "held-out" else train
    client = scratch_app(MODEL_PATH=args.model).test_client()
    summary = evaluate(client, records, args.numbers, args.seed, not args.no_pictures)
    summary["writers"] = sorted({r["writer"] for r in records})
    print(table(summary))
    if args.writers == "held-out":
        Path(args.out, "number_eval.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
