"""How much of the leave-contributors-out error is UNIPEN's doubtful labels (issue 32)?

    python -m bench.label_review --out models     # ~1 min: models/label_review.json, models/unipen_misread.png

Every UNIPEN-train digit is read as /api/predict reads a drawing (the picture and the pen path fused) by the
cross-validation fold that never saw its contributor, exactly as make eval's leave-contributors-out block reads
it. Each misread digit is then looked up in `bench/unipen_review.json`: one person's judgement, made by eye on
the sheet this script draws (the ink, its first point dotted, its index among the file's digits), in four classes
after Vuurpijl et al.'s review of the UNIPEN devset (IWFHR 2004):
- "label": the ink is plainly another digit than its label;
- "cut": not a whole digit (cut after a stroke, a fragment, two marks);
- "ambiguous": a person could read it either way;
- "model": plainly the labelled digit; the model is wrong.
Nothing is dropped from any figure: this only says what the errors are. A misread digit the review has no
entry for (after the models change) is counted as "not reviewed".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from app import ROOT
from bench import scratch_reader
from bench.drawn_eval import natural, read_strokes
from bench.institutions import fold_models
from training import data

REVIEW = Path(__file__).with_name("unipen_review.json")
CLASSES = ("label", "cut", "ambiguous", "model")


def misread(records: list[dict], cv_dir: Path) -> list[dict]:
    """Every UNIPEN digit (data.load_unipen's records) its held-out fold misreads: index, contributor, writer,
    label, reading."""
    folds = fold_models(cv_dir)
    readers = {folder: scratch_reader(MODEL_PATH=str(folder / "digit_cnn.tflite"),
                                      TRAJECTORY_MODEL_PATH=str(folder / "trajectory.tflite"))
               for folder in set(folds.values())}
    out = []
    for index, record in enumerate(records):
        contributor = record["contributor"]
        if contributor in folds:
            answer = read_strokes(readers[folds[contributor]], natural(record["strokes"]))
            if answer["digit"] != record["label"]:
                out.append({"index": index, "contributor": contributor, "writer": record["writer"],
                            "label": record["label"], "read": answer["digit"],
                            "confidence": round(float(answer["confidence"]), 3)})
    return out


def tally(wrong: list[dict], review: dict[str, str], total: int) -> dict:
    """The misread digits by review class, each as a count and as points of the pooled accuracy."""
    counts = Counter(review.get(str(m["index"]), "not reviewed") for m in wrong)
    return {"digits": total, "misread": len(wrong),
            "by_class": {name: {"count": counts.get(name, 0), "points": round(100 * counts.get(name, 0) / total, 3)}
                         for name in (*CLASSES, "not reviewed")}}


def sheet(path: Path, records: list[dict], wrong: list[dict], review: dict[str, str], tile: int = 150) -> None:
    """Every misread digit's ink (its first point dotted), with its index, label -> reading and review class."""
    columns = 10
    rows = max(1, -(-len(wrong) // columns))
    canvas = np.full((rows * (tile + 34), columns * tile), 255, np.uint8)
    for k, miss in enumerate(wrong):
        top, left = (k // columns) * (tile + 34), (k % columns) * tile
        strokes = records[miss["index"]]["strokes"]
        low = np.concatenate(strokes).min(axis=0)
        scale = (tile - 20) / max(float(np.ptp(np.concatenate(strokes), axis=0).max()), 1.0)
        for stroke in strokes:
            points = ((stroke - low) * scale + (left + 10, top + 10)).astype(np.int32)
            cv2.polylines(canvas, [points], False, 0, 2, cv2.LINE_AA)
            cv2.circle(canvas, (int(points[0][0]), int(points[0][1])), 4, 150, -1)
        cv2.rectangle(canvas, (left, top), (left + tile - 1, top + tile - 1), 210, 1)
        lines = (f"{miss['index']}: {miss['label']} -> {miss['read']} ({miss['confidence']:.2f})",
                 f"{miss['contributor']}  {review.get(str(miss['index']), '?')}")
        for n, text in enumerate(lines):
            cv2.putText(canvas, text, (left + 3, top + tile + 13 + 14 * n), cv2.FONT_HERSHEY_SIMPLEX, 0.38, 0, 1,
                        cv2.LINE_AA)
    cv2.imwrite(str(path), canvas)


def main(argv: list[str] | None = None) -> int:
    """Read, tally against the review, print the table, save the JSON and the sheet."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or "../shared/data/unipen_train.json")
    parser.add_argument("--cv-dir", default=str(ROOT / "models" / "cv"))
    parser.add_argument("--review", default=str(REVIEW), help="the judgement file (default: %(default)s)")
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"))
    args = parser.parse_args(argv)
    review_file = json.loads(Path(args.review).read_text())
    if review_file["unipen_sha256"] != data.sha256(args.unipen_data):
        print("warning: the review was made on another unipen_train.json; its indices may not match", file=sys.stderr)
    review = review_file["review"]
    records = data.load_unipen(args.unipen_data)
    wrong = misread(records, Path(args.cv_dir))
    result = tally(wrong, review, len(records))
    print(f"| class | misread digits | points of {len(records)} |\n|---|---:|---:|")
    for name, row in result["by_class"].items():
        print(f"| {name} | {row['count']} | {row['points']:.2f} |")
    points = {name: row["points"] for name, row in result["by_class"].items()}
    print(f"UNIPEN's doubtful labels are at least {points['label'] + points['cut']:.2f} points of the folds' "
          f"{100 * len(wrong) / len(records):.2f}% error ({points['label'] + points['cut'] + points['ambiguous']:.2f} "
          "with the ambiguous digits); both estimates pay them alike")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "label_review.json").write_text(json.dumps({**result, "misread_digits": wrong}, indent=1) + "\n")
    sheet(out / "unipen_misread.png", records, wrong, review)
    return 0


if __name__ == "__main__":
    sys.exit(main())
