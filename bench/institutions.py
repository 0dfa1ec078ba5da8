"""Does holding out one UNIPEN contributor at a time flatter the estimate? (issue 32)

    python -m bench.institutions out/cv/apple     # a model trained with train.py --held-out apa,apb,app

Each contributor that the given model never saw is read twice, digit by digit as /api/predict reads a
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

from app import ROOT
from bench import scratch_reader
from bench.drawn_eval import contributor_answers, score
from training import data


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


def main(argv: list[str] | None = None) -> int:
    """Read the held-out institution both ways, print the table and save institutions.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="folder with digit_cnn.tflite, trajectory.tflite and report.json of a "
                                          "model trained with --held-out")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or "../shared/data/unipen_train.json")
    parser.add_argument("--cv-dir", default=str(ROOT / "models" / "cv"))
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"))
    args = parser.parse_args(argv)
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
