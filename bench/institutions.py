"""What flatters the leave-contributors-out estimate? Candidate causes, one at a time (issue 32).

    python -m bench.institutions models/cv/apple     # a model trained with train.py --held-out apa,apb,app
    python -m bench.institutions --placements        # the same digits placed and sampled as others post them

Grouping: each contributor that the given model never saw is read twice, digit by digit as /api/predict reads a
drawing (the picture and the pen path fused): by the cross-validation fold that held it out (make eval's
leave-contributors-out block; that model saw the institution's other contributors) and by the given model,
which saw none of them. A drop from the first to the second is what the folds' grouping hides.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from app import ROOT
from bench import scratch_reader
from bench.drawn_eval import contributor_answers, fitted, natural, read_strokes, score
from training import data

# How a digit reaches /api/predict: as make eval posts it (normalised, the writer's own place), scaled as
# the independent checks post digits, and with the device's raw points instead of the smoothed path.
PLACEMENTS = {
    "normalised, natural place (make eval)": lambda raw: natural(data.normalise_unipen(raw)),
    "normalised, 90% of the canvas height": lambda raw: fitted(data.normalise_unipen(raw), 40, 16, 288),
    "raw device points, 90% of the canvas height": lambda raw: fitted([data._dedupe(s) for s in raw], 40, 16, 288),
    "raw device points, 200 px mid-canvas": lambda raw: fitted([data._dedupe(s) for s in raw], 60, 60, 200),
}


def fold_models(cv_dir: Path) -> dict[str, Path]:
    """Each UNIPEN contributor -> the cross-validation fold folder whose models never saw it."""
    out = {}
    for report in sorted(cv_dir.glob("fold*/report.json")):
        for contributor in json.loads(report.read_text()).get("held_out_contributors", []):
            out[contributor] = report.parent
    return out


def accuracy(folder: Path, records: list[dict]) -> dict[str, dict]:
    """Each contributor's accuracy by the models in folder (CNN and pen-path model fused)."""
    reader = scratch_reader(MODEL_PATH=str(folder / "digit_cnn.tflite"),
                            TRAJECTORY_MODEL_PATH=str(folder / "trajectory.tflite"))
    return {name: score(*pair) for name, pair in contributor_answers(reader, records).items()}


def placements(unipen_path: str, cv_dir: Path, every: int) -> dict[str, dict[str, float]]:
    """Each placement's accuracy per contributor (every `every`-th digit), each read by its own fold."""
    with open(unipen_path, encoding="utf-8") as file:
        raw = json.load(file)[::every]
    right: dict[str, dict[str, list[int]]] = {name: {} for name in PLACEMENTS}
    for contributor, folder in fold_models(cv_dir).items():
        reader = scratch_reader(MODEL_PATH=str(folder / "digit_cnn.tflite"),
                                TRAJECTORY_MODEL_PATH=str(folder / "trajectory.tflite"))
        for record in (r for r in raw if str(r["writer"]).split("/")[0] == contributor):
            strokes = [np.asarray(s, np.float64).reshape(-1, 2) for s in record["strokes"] if len(s)]
            for name, place in PLACEMENTS.items() if strokes else ():
                tally = right[name].setdefault(contributor, [0, 0])
                tally[0] += read_strokes(reader, place(strokes))["digit"] == record["label"]
                tally[1] += 1
    return {name: {c: n / total for c, (n, total) in sorted(row.items())} for name, row in right.items()}


def main(argv: list[str] | None = None) -> int:
    """Read the held-out institution both ways (or the placements), print the table and save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", nargs="?", help="folder with digit_cnn.tflite, trajectory.tflite and "
                                                     "report.json of a model trained with --held-out")
    parser.add_argument("--placements", type=int, nargs="?", const=3, default=0, metavar="EVERY",
                        help="instead: every EVERY-th UNIPEN digit (default 3) read in each placement")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or "../shared/data/unipen_train.json")
    parser.add_argument("--cv-dir", default=str(ROOT / "models" / "cv"))
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"))
    args = parser.parse_args(argv)
    if args.placements:
        table = placements(args.unipen_data, Path(args.cv_dir), args.placements)
        for name, row in table.items():
            cells = " | ".join(f"{c} {a:.2%}" for c, a in row.items())
            print(f"| {name} | {np.mean(list(row.values())):.2%} | {cells} |")
        Path(args.out).mkdir(parents=True, exist_ok=True)
        Path(args.out, "placements.json").write_text(json.dumps(table, indent=1) + "\n")
        return 0
    if not args.model_dir:
        parser.error("name a model folder, or --placements")
    folder = Path(args.model_dir)
    held = json.loads((folder / "report.json").read_text())["held_out_contributors"]
    records = [r for r in data.load_unipen(args.unipen_data) if r["contributor"] in held]
    folds = fold_models(Path(args.cv_dir))
    by_fold = {}
    for name in held:
        by_fold |= accuracy(folds[name], [r for r in records if r["contributor"] == name])
    whole = accuracy(folder, records)
    rows = ["| contributor | digits | its fold (saw the others) | institution held out whole | drop (points) |",
            "|---|---:|---:|---:|---:|"]
    for name in held:
        a, b = by_fold[name]["accuracy"], whole[name]["accuracy"]
        rows.append(f"| {name} | {by_fold[name]['count']} | {a:.2%} | {b:.2%} | {100 * (a - b):.2f} |")
    print("\n".join(rows))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, "institutions.json").write_text(json.dumps(
        {"held_out": held, "model_dir": str(folder), "by_fold": by_fold, "held_out_whole": whole}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
