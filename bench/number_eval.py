"""Whole numbers by writers the models never saw (make eval): exact-number accuracy through /api/read
(strokes, as the page sends them) and /api/read/image (the same numbers as photos), reader by reader.

Numbers of 2 to 5 digits are composed from one held-out writer's pen digits (training/compose.py), stroke
order kept, for each pen source apart: the last fold's pendigits writers and its UNIPEN contributors
(institutions and devices never trained on; every model read with is that fold's). Each drawn number
is also read with its strokes finished late (a 7 crossed, a 4 finished after the next digit: the
"delayed strokes" row), and each of its digits alone, as /api/predict reads it, to measure what reading
inside a number costs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from app import ROOT
from bench import answer_or_none, page_drawing, peers, scratch_reader
from training import data
from training.compose import GAPS, HEIGHT, compose, delayed, group_by_writer

CV_DIR = ROOT / "models" / "cv"  # the folds' models (make cv)


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


# The readers compared: (what is read, the settings). The older picture readers stay as comparison
# columns, and the peer (bench/peers.py) reads the same photos beside them.
READERS = {
    "strokes: segmenter": ("strokes", {"NUMBER_STROKE_READER": "segmenter"}),
    "strokes: line": ("strokes", {"NUMBER_STROKE_READER": "line"}),
    "strokes: fused": ("strokes", {"NUMBER_STROKE_READER": "fused"}),
    "strokes: online": ("strokes", {"NUMBER_STROKE_READER": "online"}),
    "photos: pretrained alone": ("pictures", {}),  # what /api/read/image serves
    "photos: pretrained + line (fused)": ("pictures", {"PICTURE_FUSION": True}),
    "photos: line reader": ("pictures", {"PICTURE_MODEL_PATH": ""}),
    "photos: cut and classify": ("pictures", {"PICTURE_MODEL_PATH": "", "LINE_MODEL_PATH": ""}),
    f"photos: {peers.RapidOcr.name}": ("pictures", None),  # not ours: bench/peers.py
}


def evaluate(readers: dict[str, tuple[str, object]], records: list[dict], count: int, seed: int) -> dict:
    """Exact-number accuracy by length and gap, digit accuracy inside numbers and the unsure rate on
    right and wrong numbers, for every reader (name -> (kind, Reader)): strokes read as /api/read reads
    what the page sends, photos as /api/read/image reads them."""
    rng = np.random.default_rng(seed)
    by_writer = group_by_writer(records)
    writers = sorted(by_writer)
    tallies = {name: defaultdict(lambda: [0, 0]) for name in readers}
    extra = {name: {"digits": [0, 0], "unsure_right": [0, 0], "unsure_wrong": [0, 0]} for name in readers}
    failures = []
    gaps = {name: {"digits": 0, "alone": 0, "inside": 0, "split": 0, "merged": 0} for name in readers}
    alone_reader = next((reader for kind, reader in readers.values() if kind == "strokes"), None)
    for i in range(count):
        gap = list(GAPS)[i % len(GAPS)]
        writer = writers[int(rng.integers(len(writers)))]  # not i % len: no writer tied to one gap kind
        sizes: list[int] = []
        points, truth, width, height = compose(by_writer[writer], rng, gap, sizes)
        drawing = page_drawing(points, width, height)
        owners = np.repeat(np.arange(len(sizes)), sizes)  # the true digit of each stroke
        alone = alone_right(alone_reader, points, truth, sizes) if alone_reader else None
        late_points, _ = delayed(points, sizes)
        late_drawing = page_drawing(late_points, width, height) if any(s > 1 for s in sizes[:-1]) else None
        picture = photo(points, width, height, rng) if any(k == "pictures" for k, _ in readers.values()) else b""
        for name, (kind, reader) in readers.items():
            answer = (answer_or_none(reader.number, drawing) if kind == "strokes"
                      else answer_or_none(reader.number_in_picture, picture)) or {"number": "", "unsure": True}
            read = answer["number"]
            for key in ("all", f"length {len(truth)}", f"gap: {gap}"):
                tallies[name][key][0] += read == truth
                tallies[name][key][1] += 1
            tally = extra[name]
            tally["digits"][0] += sum(a == b for a, b in zip(read, truth)) if len(read) == len(truth) else 0
            tally["digits"][1] += len(truth)
            if kind == "strokes" and alone is not None:
                gap_tally(gaps[name], answer, truth, owners, alone)
            if kind == "strokes" and late_drawing is not None:  # the same number, strokes finished late
                late = answer_or_none(reader.number, late_drawing) or {"number": ""}
                tallies[name]["delayed strokes"][0] += late["number"] == truth
                tallies[name]["delayed strokes"][1] += 1
            flags = tally["unsure_right" if read == truth else "unsure_wrong"]
            flags[0] += bool(answer.get("unsure"))
            flags[1] += 1
            if read != truth and len(failures) < 60:
                failures.append({"reader": name, "truth": truth, "read": read, "gap": gap})
    return {name: {key: right / total for key, (right, total) in sorted(table.items())}
            for name, table in tallies.items()} | {
        "digits_in_numbers": {n: t["digits"][0] / max(t["digits"][1], 1) for n, t in extra.items()},
        "unsure_when_right": {n: t["unsure_right"][0] / max(t["unsure_right"][1], 1) for n, t in extra.items()},
        "unsure_when_wrong": {n: t["unsure_wrong"][0] / max(t["unsure_wrong"][1], 1) for n, t in extra.items()},
        "digit_alone_and_inside": {name: digit_gap(g) for name, g in gaps.items() if g["digits"]},
        "counts": {name: table["all"][1] for name, table in tallies.items()},
        "readers": list(readers), "failures": failures}


def alone_right(reader, points: list[np.ndarray], truth: str, sizes: list[int]) -> list[bool]:
    """Whether each digit of a composed number is read right alone, as /api/predict reads it: its own
    strokes on a canvas of their own, with the page's margins."""
    right, start = [], 0
    for label, size in zip(truth, sizes):
        strokes = points[start:start + size]
        start += size
        low = np.concatenate(strokes).min(axis=0)
        moved = [s - low + 40 for s in strokes]
        extent = np.concatenate(moved).max(axis=0) + 40
        answer = answer_or_none(reader.digit, page_drawing(moved, max(extent), max(extent)))
        right.append(bool(answer) and str(answer["digit"]) == label and not answer.get("too_little_ink"))
    return right


def gap_tally(tally: dict, answer: dict, truth: str, owners: np.ndarray, alone: list[bool]) -> None:
    """Each true digit of a number, read alone and inside it: right inside means one answer digit made of
    exactly its strokes, with its label; split, its strokes in several answer digits; merged, an answer
    digit holding strokes of several true digits. Strokes the reader set aside (taps and ticks under
    TINY_DRAWING, marks) are in no answer digit and are not asked for: a pen's touch-down beside a digit
    read right does not make it wrong."""
    groups = [set(d.get("strokes", [])) for d in answer.get("digits", [])]
    kept = set().union(*groups)
    for k, label in enumerate(truth):
        own = set(np.flatnonzero(owners == k).tolist())
        holders = [i for i, g in enumerate(groups) if g & own]
        tally["digits"] += 1
        tally["alone"] += alone[k]
        tally["split"] += len(holders) > 1
        tally["merged"] += any(len({int(owners[s]) for s in groups[i]}) > 1 for i in holders)
        tally["inside"] += (len(holders) == 1 and groups[holders[0]] == own & kept
                            and str(answer["digits"][holders[0]]["digit"]) == label)


def digit_gap(tally: dict) -> dict:
    """Per-digit accuracy alone and inside numbers, their gap, and the split and merge rates."""
    n = tally["digits"]
    return {"digits": n, "alone": tally["alone"] / n, "inside": tally["inside"] / n,
            "gap_points": 100 * (tally["alone"] - tally["inside"]) / n, "split": tally["split"] / n,
            "merged": tally["merged"] / n}


def table(summary: dict, source: str = "held-out writers") -> str:
    """The Markdown table make eval prints for one source: one column per reader."""
    names = summary["readers"]
    rows = [f"| numbers by {source} | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    keys = ["all"] + [k for k in summary[names[0]] if k.startswith("length")] + [f"gap: {g}" for g in GAPS]
    keys += ["delayed strokes"] if any("delayed strokes" in summary[n] for n in names) else []
    for key in keys:
        label = f"**exact, {summary['counts'][names[0]]} numbers**" if key == "all" else f"exact, {key}"
        rows.append(f"| {label} | " + " | ".join(f"{summary[n][key]:.2%}" if key in summary[n] else "–"
                                                 for n in names) + " |")
    for label, field in (("digits inside numbers", "digits_in_numbers"),
                         ("right numbers flagged unsure", "unsure_when_right"),
                         ("wrong numbers flagged unsure", "unsure_when_wrong")):
        rows.append(f"| {label} | " + " | ".join(f"{summary[field][n]:.2%}" for n in names) + " |")
    gaps = summary.get("digit_alone_and_inside", {})
    if gaps:
        rows += ["", f"| each digit of the numbers by {source} | " + " | ".join(gaps) + " |",
                 "|---|" + "---:|" * len(gaps)]
        for label, field, fmt in (("read alone (/api/predict)", "alone", "{:.2%}"),
                                  ("read inside its number", "inside", "{:.2%}"),
                                  ("gap (points)", "gap_points", "{:.2f}"),
                                  ("split into several digits", "split", "{:.2%}"),
                                  ("merged with a neighbour", "merged", "{:.2%}")):
            rows.append(f"| {label} | " + " | ".join(fmt.format(g[field]) for g in gaps.values()) + " |")
    return "\n".join(rows)


SOURCES = {"pendigits writers": "pendigits", "UNIPEN contributors": "unipen"}


def by_source(records: list[dict]) -> dict[str, list[dict]]:
    """Pen digits by source, under the tables' names (a source with no digit here is left out)."""
    return {name: [r for r in records if r["source"] == source] for name, source in SOURCES.items()
            if any(r["source"] == source for r in records)}


def every_fold(records: list[dict], numbers: int, seed: int, prior_numbers: int = 8000,
               cv_dir: Path = CV_DIR) -> dict:
    """The shipped reader (the segmenter) on every fold's held-out writers and contributors, each fold read by
    its own models and a join prior fitted on its own training writers: per source, each fold's exact rate
    and the pooled figures."""
    pooled: dict[str, dict] = {}
    for fold, reader, held_out in fold_readers(records, prior_numbers, cv_dir):
        for name, held in by_source(held_out).items():
            result = evaluate({"segmenter": ("strokes", reader)}, held, numbers, seed + fold)
            pooled.setdefault(name, {"folds": {}})["folds"][fold] = _fold_figures(result, "segmenter", held)
    return {name: result | _pooled(list(result["folds"].values())) for name, result in pooled.items()}


def fold_readers(records: list[dict], prior_numbers: int = 8000, cv_dir: Path = CV_DIR):
    """For every fold: (fold, the shipped reader with that fold's models (cv_dir/fold<N>) and a join prior fitted
    on its own training writers, its held-out records). The drawn numbers' referee (the pretrained recognizer)
    was fine-tuned on every pen writer but the line recipe's fold's held-out ones: on the other folds it is
    not asked, so that no figure rests on a model that saw the writers."""
    from training.config import RECIPES
    from training.join_prior import fitted_prior

    with tempfile.TemporaryDirectory() as scratch:
        for fold in range(1, data.FOLDS + 1):
            models = Path(cv_dir, f"fold{fold}")
            prior = Path(scratch, f"join_prior_fold{fold}.json")
            train, held_out = data.split_fold(records, fold)
            prior.write_text(json.dumps(fitted_prior(train, str(models / "digit_cnn.tflite"), prior_numbers, 0)))
            clean = {} if fold == RECIPES["line"].fold else {"DRAWN_REFEREE_BELOW": 0.0}
            yield fold, scratch_reader(MODEL_PATH=str(models / "digit_cnn.tflite"), JOIN_PRIOR_PATH=str(prior),
                                       TRAJECTORY_MODEL_PATH=str(models / "trajectory.tflite"), **clean), held_out


def _fold_figures(result: dict, reader: str, held: list[dict]) -> dict:
    """One fold's figures for one source, from evaluate's result."""
    return {"exact": result[reader]["all"], "delayed strokes": result[reader].get("delayed strokes", 0.0),
            "gap_points": result["digit_alone_and_inside"][reader]["gap_points"],
            "unsure_when_wrong": result["unsure_when_wrong"][reader],
            "unsure_when_right": result["unsure_when_right"][reader],
            "numbers": result["counts"][reader], "writers": len({r["writer"] for r in held}),
            "rows": {key: rate for key, rate in result[reader].items() if key.startswith(("length", "gap: "))}}


def _pooled(folds: list[dict]) -> dict:
    """Every fold together: the mean and worst exact rate, and unsure rates over all wrong and right numbers."""
    wrong = [(1 - f["exact"]) * f["numbers"] for f in folds]
    right = [f["exact"] * f["numbers"] for f in folds]
    return {"exact": float(np.mean([f["exact"] for f in folds])), "worst": float(min(f["exact"] for f in folds)),
            "delayed strokes": float(np.mean([f["delayed strokes"] for f in folds])),
            "gap_points": float(np.mean([f["gap_points"] for f in folds])),
            "unsure_when_wrong": sum(f["unsure_when_wrong"] * w for f, w in zip(folds, wrong)) / max(sum(wrong), 1),
            "unsure_when_right": sum(f["unsure_when_right"] * r for f, r in zip(folds, right)) / max(sum(right), 1),
            "writers": sum(f["writers"] for f in folds),
            # Every fold reads as many numbers, each length and gap in turn: the mean of its rates is the pooled rate.
            "rows": {key: float(np.mean([f["rows"][key] for f in folds if key in f["rows"]]))
                     for key in dict.fromkeys(k for f in folds for k in f["rows"])}}


def fold_table(pooled: dict) -> str:
    """The Markdown table of every fold: one row per pen source."""
    folds = sorted({fold for result in pooled.values() for fold in result["folds"]}, key=int)
    rows = ["| drawn numbers, every fold held out | writers | " + " | ".join(f"fold {f}" for f in folds)
            + " | exact (worst) | delayed strokes | gap (points) | wrong / right flagged unsure |",
            "|---|---:|" + "---:|" * len(folds) + "---:|---:|---:|---:|"]
    for name, r in pooled.items():
        cells = [f"{r['folds'][f]['exact']:.2%}" if f in r["folds"] else "–" for f in folds]
        rows.append(f"| {name} | {r['writers']} | " + " | ".join(cells)
                    + f" | **{r['exact']:.2%}** ({r['worst']:.2%}) | {r['delayed strokes']:.2%} | {r['gap_points']:.2f}"
                    f" | {r['unsure_when_wrong']:.1%} / {r['unsure_when_right']:.1%} |")
    return "\n".join(rows)


def fold_rows_table(pooled: dict) -> str:
    """The Markdown table of every fold pooled, row by row: each length and each kind of gap, one column per
    pen source (the targets hold in every row, not only on average)."""
    names = [name for name in pooled if pooled[name].get("rows")]
    if not names:
        return ""
    keys = list(dict.fromkeys(k for name in names for k in pooled[name]["rows"]))
    keys = sorted(k for k in keys if k.startswith("length")) + [f"gap: {g}" for g in GAPS if f"gap: {g}" in keys]
    rows = ["| drawn numbers, every fold held out, by row | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names)]
    for key in keys:
        rows.append(f"| {key} | " + " | ".join(f"{pooled[n]['rows'][key]:.2%}" if key in pooled[n]["rows"] else "–"
                                              for n in names) + " |")
    return "\n".join(rows)


def reader_for(name: str, models: Path):
    """The reader a column names: ours with the fold's models and the column's settings, or the peer
    (None when it is not installed)."""
    kind, settings = READERS[name]
    if settings is None:
        return peers.peer(name.split(": ", 1)[1])
    return scratch_reader(MODEL_PATH=str(models / "digit_cnn.tflite"),
                          TRAJECTORY_MODEL_PATH=str(models / "trajectory.tflite"), **settings)


def main(argv: list[str] | None = None) -> int:
    """Compose numbers from held-out writers of each source, read them through the app, print and save the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or None,
                        help="pendigits JSON (default: $PENDIGITS_PATH)")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or None,
                        help="UNIPEN-train JSON (default: $UNIPEN_PATH); its held-out contributors get their own table")
    parser.add_argument("--numbers", type=int, default=2000, help="numbers to compose per source")
    parser.add_argument("--seed", type=int, default=7, help="composition seed")
    parser.add_argument("--fold", type=int, default=data.FOLDS,
                        help="whose digits and which models: the fold's held-out writers and contributors, read "
                             "by models/cv/fold<N> (0: the training writers of the last fold, for tuning)")
    parser.add_argument("--every-fold", type=int, default=0, metavar="NUMBERS",
                        help="also read NUMBERS numbers per source of every fold's held-out writers with the shipped "
                             "reader (each fold's models and join prior)")
    parser.add_argument("--cv-dir", default=str(CV_DIR), help="the folds' models, fold<N>/digit_cnn.tflite (make cv)")
    parser.add_argument("--readers", default=",".join(READERS),
                        help=f"comma-separated readers to compare (of: {', '.join(READERS)})")
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"),
                        help="where to write number_eval.json (default: out/eval; make figures: models/)")
    args = parser.parse_args(argv)
    if not args.pen_data:
        parser.error("--pen-data or $PENDIGITS_PATH is required")
    records = data.load_pen(args.pen_data, args.unipen_data)
    train, held_out = data.split_fold(records, args.fold or data.FOLDS)
    sources = by_source(held_out if args.fold else train)  # --fold 0, tuning: never the held-out writers
    models = Path(args.cv_dir, f"fold{args.fold or data.FOLDS}")
    readers = {name: (READERS[name][0], reader_for(name, models)) for name in args.readers.split(",")}
    for name in [n for n, (_, r) in readers.items() if r is None]:
        print(f"{name}: not installed (make dev), left out", file=sys.stderr)
        del readers[name]
    summary: dict = {"fold": args.fold, "sources": {}}
    for name, held in sources.items():
        result = evaluate(readers, held, args.numbers, args.seed)
        result["writers"] = sorted({r["writer"] for r in held})
        summary["sources"][name] = result
        print(f"\n{name} ({len(result['writers'])} writers)\n\n{table(result, name)}", flush=True)
    if args.every_fold:
        summary["every_fold"] = every_fold(records, args.every_fold, args.seed, cv_dir=args.cv_dir)
        print(f"\n{fold_table(summary['every_fold'])}\n\n{fold_rows_table(summary['every_fold'])}", flush=True)
    if args.fold == data.FOLDS:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        Path(args.out, "number_eval.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
