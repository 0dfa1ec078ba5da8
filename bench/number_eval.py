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

from app import ROOT
from bench import scratch_app
from training import data
from training.compose import GAPS, HEIGHT, compose, group_by_writer


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
    parser.add_argument("--model", default=str(ROOT / "models" / "cv" / f"fold{data.FOLDS}" / "digit_cnn.tflite"),
                        help="the digit model: by default the cross-validation model that never saw these writers")
    parser.add_argument("--out", default=str(ROOT / "models"), help="where to write number_eval.json")
    args = parser.parse_args(argv)
    if not args.pen_data:
        parser.error("--pen-data or $PENDIGITS_PATH is required")
    train, held_out = data.split_by_writer(data.load_pendigits(args.pen_data))
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
