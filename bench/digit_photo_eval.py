"""Photos of ONE digit on the paper people write on, by writers no model trained on, read through
POST /api/predict/image (make eval; writes digit_photo_eval.json).

Each picture is one held-out writer's digit (MNIST test writers, the last fold's pendigits writers and
UNIPEN contributors) on plain, ruled, gridded, underlined, boxed, patterned or separator-marked paper,
in uneven light, tilted, blurred and JPEG-compressed as training/lines.py composes them (its own seed).
They are read by the CNN of the fold that never saw those writers, alone and with the second look
(app/reader/second_look.py: the sequence reader, which never saw them either, when the CNN is unsure).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from app import ROOT
from bench import answer_or_none, scratch_reader
from bench.line_eval import add_writer_arguments, held_out_writers
from training import lines

READERS = {"CNN alone": {"LINE_MODEL_PATH": "", "PICTURE_MODEL_PATH": ""},
           "CNN, then the line model when unsure": {"PICTURE_MODEL_PATH": ""},
           "CNN, then the recognizer when unsure": {}}


def compose(sources: dict[str, list[lines.Writer]], per_paper: int, seed: int) -> list[dict]:
    """per_paper one-digit pictures on each kind of paper, the sources taken in turn."""
    rng = np.random.default_rng(seed)
    names = sorted(sources)
    out = []
    for paper in lines.PAPERS:
        for i in range(per_paper):
            writers = sources[names[i % len(names)]]
            grey, truth, _ = lines.picture(writers[int(rng.integers(len(writers)))], rng, length=1, paper=paper)
            out.append({"png": cv2.imencode(".png", grey)[1].tobytes(), "truth": int(truth), "paper": paper})
    return out


def judge(reader, pictures: list[dict]) -> dict[str, dict[str, float]]:
    """Per paper (and all): the share read right and sure, unsure (or no digit found), and wrong yet sure,
    each picture read as /api/predict/image reads it."""
    verdicts: dict[str, list[str]] = {}
    for picture in pictures:
        body = answer_or_none(lambda data: reader.digit_in_picture(data).answer, picture["png"])
        if body is None or body["unsure"]:
            verdict = "unsure"
        else:
            verdict = "right" if body["digit"] == picture["truth"] else "wrong"
        for key in (picture["paper"], "all"):
            verdicts.setdefault(key, []).append(verdict)
    return {key: {**{v: round(found.count(v) / len(found), 4) for v in ("right", "unsure", "wrong")},
                  "count": len(found)} for key, found in verdicts.items()}


def table(results: dict[str, dict]) -> str:
    """Markdown: a row per paper, right / unsure / confidently wrong for each reader."""
    names = list(results)
    lines_out = ["| paper | " + " | ".join(f"{n}: right / unsure / wrong" for n in names) + " |",
                 "|---|" + "---:|" * len(names)]
    for paper in [*lines.PAPERS, "all"]:
        cells = [f"{r[paper]['right']:.1%} / {r[paper]['unsure']:.1%} / {r[paper]['wrong']:.1%}"
                 for r in results.values()]
        lines_out.append(f"| {paper} ({results[names[0]][paper]['count']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines_out)


def main(argv: list[str] | None = None) -> int:
    """Compose, read with each reader, print the table, save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_writer_arguments(parser)  # --fold: the fold whose writers neither model saw
    parser.add_argument("--cv-dir", default=str(ROOT / "models" / "cv"), help="foldN/digit_cnn.tflite (make cv)")
    parser.add_argument("--per-paper", type=int, default=150, help="pictures per kind of paper")
    parser.add_argument("--seed", type=int, default=20261201, help="composition seed (training used others)")
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"), help="where to write digit_photo_eval.json")
    args = parser.parse_args(argv)
    model = Path(args.cv_dir, f"fold{args.fold}", "digit_cnn.tflite")
    for path in (args.data, args.mnist_writers, model):
        if not Path(path).is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 2
    sources = held_out_writers(args.data, args.mnist_writers, args.pen_data, args.unipen_data, args.fold)
    pictures = compose(sources, args.per_paper, args.seed)
    results = {name: judge(scratch_reader(MODEL_PATH=str(model), **config), pictures)
               for name, config in READERS.items()}
    print(f"One digit per picture, {len(pictures)} pictures by writers neither model saw "
          f"({', '.join(f'{n}: {len(w)}' for n, w in sources.items())}):\n")
    print(table(results))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, "digit_photo_eval.json").write_text(json.dumps(
        {"model": str(model.relative_to(ROOT)) if model.is_relative_to(ROOT) else str(model), "seed": args.seed,
         "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
