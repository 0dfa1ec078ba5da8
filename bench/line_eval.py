"""Pictures of whole numbers by writers no model trained on, read through POST /api/read/image (make eval).

Numbers of 1 to 8 digits are composed from ONE held-out writer's digits (MNIST test writers, the last
fold's pendigits writers, the UNIPEN contributors the line model never saw) on every kind of paper
(training/lines.py, with its own seed), and read by the pretrained recognizer, by our own line reader and
cut-and-classify segmenter, and by the peer (bench/peers.py: RapidOCR) on the same pictures. Prints
exact-number rates by source, length, gap and paper, digit accuracy inside numbers, how often right and
wrong numbers are flagged unsure, and where our reader and the peer disagree; writes line_eval.json to
--out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from app import ROOT
from bench import answer_or_none, peers, scratch_reader
from training import data, lines

READERS = {"pretrained alone": {}, "pretrained + line (fused)": {"PICTURE_FUSION": True},  # the first is served
           "line reader": {"PICTURE_MODEL_PATH": ""},
           "line reader + CNN check": {"PICTURE_MODEL_PATH": "", "LINE_CNN_CHECK": True},
           "cut and classify": {"PICTURE_MODEL_PATH": "", "LINE_MODEL_PATH": ""},
           peers.RapidOcr.name: None}  # not ours: bench/peers.py


def held_out_writers(mnist_path: str, writers_path: str, pen_path: str | None, unipen_path: str | None,
                     fold: int) -> dict[str, list[lines.Writer]]:
    """Writers by source whose digits no model trained on: MNIST test writers, the fold's pen writers and
    contributors."""
    with np.load(mnist_path) as mnist, np.load(writers_path) as writers:
        sources = {"MNIST test writers": lines.mnist_writers(mnist["x_test"], mnist["y_test"], writers["test_writer"])}
    if pen_path:
        _, held = data.split_fold(data.load_pendigits(pen_path), fold)
        sources["pendigits, held-out writers"] = lines.pen_writers(held)
    if unipen_path:
        _, held = data.split_fold(data.load_unipen(unipen_path), fold)
        sources["UNIPEN, held-out contributors"] = lines.pen_writers(held)
    return {name: writers for name, writers in sources.items() if writers}


def add_writer_arguments(parser: argparse.ArgumentParser) -> None:
    """The data options of the evaluations that compose pictures from held-out writers' digits."""
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH") or "../shared/data/mnist.npz",
                        help="Keras-layout mnist.npz (its test writers' digits)")
    parser.add_argument("--mnist-writers", default=os.environ.get("MNIST_WRITERS_PATH")
                        or "../shared/data/mnist_writers.npz", help="mnist_writers.npz")
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or None, help="pendigits JSON")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or None, help="UNIPEN-train JSON")
    parser.add_argument("--fold", type=int, default=data.FOLDS,
                        help="the pen fold held out of the line model's training (its report names it)")


def compose_set(sources: dict[str, list[lines.Writer]], count: int, seed: int) -> list[dict]:
    """count pictures, spread evenly over sources, lengths 1-8, gaps and papers (every kind equally)."""
    rng = np.random.default_rng(seed)
    names = sorted(sources)
    out = []
    for i in range(count):
        source = names[i % len(names)]
        writer = sources[source][int(rng.integers(len(sources[source])))]
        length = 1 + (i // len(names)) % lines.MAX_DIGITS
        gap = list(lines.GAPS)[(i // (len(names) * lines.MAX_DIGITS)) % len(lines.GAPS)]
        paper = lines.PAPERS[int(rng.integers(len(lines.PAPERS)))]
        grey, truth, _ = lines.picture(writer, rng, length=length, gap=gap, paper=paper)
        png = cv2.imencode(".png", grey)[1].tobytes()
        out.append({"png": png, "truth": truth, "source": source, "length": length, "gap": gap, "paper": paper})
    return out


def read_all(reader, pictures: list[dict]) -> list[dict]:
    """Read every picture as /api/read/image does; the number ('' when none was found), the unsure flag, and
    the reading's time."""
    answers = []
    for picture in pictures:
        started = time.perf_counter()
        body = answer_or_none(reader.number_in_picture, picture["png"]) or {"number": "", "unsure": True}
        seconds = time.perf_counter() - started
        answers.append({"number": body["number"], "unsure": bool(body["unsure"]), "seconds": seconds})
    return answers


def summarise(pictures: list[dict], answers: list[dict]) -> dict:
    """Exact rates overall and by source, length, gap and paper; digits inside numbers; unsure on right and wrong."""
    tallies = defaultdict(lambda: [0, 0])
    digits = [0, 0]
    unsure = {"right": [0, 0], "wrong": [0, 0]}
    for picture, answer in zip(pictures, answers):
        exact = answer["number"] == picture["truth"]
        for key in ("all", f"source: {picture['source']}", f"length {picture['length']}", f"gap: {picture['gap']}",
                    f"paper: {picture['paper']}"):
            tallies[key][0] += exact
            tallies[key][1] += 1
        if len(answer["number"]) == len(picture["truth"]):
            digits[0] += sum(a == b for a, b in zip(answer["number"], picture["truth"]))
        digits[1] += len(picture["truth"])
        flag = unsure["right" if exact else "wrong"]
        flag[0] += answer["unsure"]
        flag[1] += 1
    return {"exact": {key: right / total for key, (right, total) in tallies.items()},
            "count": len(pictures), "digits_in_numbers": digits[0] / max(digits[1], 1),
            "unsure_when_right": unsure["right"][0] / max(unsure["right"][1], 1),
            "unsure_when_wrong": unsure["wrong"][0] / max(unsure["wrong"][1], 1),
            "wrong": unsure["wrong"][1],
            "p50_ms": float(np.median([a["seconds"] for a in answers]) * 1000)}


def table(results: dict[str, dict]) -> str:
    """The Markdown table: one column per reader."""
    readers = list(results)
    keys = list(next(iter(results.values()))["exact"])
    order = sorted(keys, key=lambda k: (k != "all", not k.startswith("source"), not k.startswith("length"),
                                        not k.startswith("gap"), k))
    lines_out = ["| pictures of numbers, held-out writers | " + " | ".join(readers) + " |",
                 "|---|" + "---:|" * len(readers)]
    for key in order:
        name = f"**exact, {results[readers[0]]['count']} numbers**" if key == "all" else f"exact, {key}"
        lines_out.append(f"| {name} | " + " | ".join(f"{results[r]['exact'][key]:.2%}" for r in readers) + " |")
    for label, field in (("digits inside numbers", "digits_in_numbers"), ("right numbers flagged unsure",
                                                                           "unsure_when_right"),
                         ("wrong numbers flagged unsure", "unsure_when_wrong")):
        lines_out.append(f"| {label} | " + " | ".join(f"{results[r][field]:.2%}" for r in readers) + " |")
    lines_out.append("| p50 per picture (in process, ms) | " + " | ".join(f"{results[r]['p50_ms']:.1f}"
                                                                            for r in readers) + " |")
    return "\n".join(lines_out)


def disagreement(pictures: list[dict], ours: list[dict], peer: list[dict], examples: int = 16) -> dict:
    """Where our reader and the peer read a picture differently: how many, who was right, and the first
    `examples` of them (index, truth, both readings)."""
    differ = [i for i, (a, b) in enumerate(zip(ours, peer)) if a["number"] != b["number"]]
    right = {"ours_right": 0, "peer_right": 0, "both_wrong": 0}
    for i in differ:
        truth = pictures[i]["truth"]
        right["ours_right" if ours[i]["number"] == truth else "peer_right" if peer[i]["number"] == truth
              else "both_wrong"] += 1
    return {"count": len(differ), "who_is_right": right,
            "examples": [{"index": i, "truth": pictures[i]["truth"], "paper": pictures[i]["paper"],
                          "ours": ours[i]["number"], "peer": peer[i]["number"]} for i in differ[:examples]]}


def disagreement_sheet(pictures: list[dict], examples: list[dict], path: str) -> None:
    """A PNG of the pictures our reader and the peer read differently, each with both readings."""
    tiles = []
    for example in examples:
        grey = cv2.imdecode(np.frombuffer(pictures[example["index"]]["png"], np.uint8), cv2.IMREAD_GRAYSCALE)
        tiles.append(_tile(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), 90, f"true {example['truth']}  ours "
                           f"{example['ours'] or '-'}  peer {example['peer'] or '-'}"))
    _write_sheet(tiles, path)


def example_sheet(reader, pictures: list[dict], path: str, count: int = 6) -> None:
    """A PNG of a few held-out pictures as read: each digit's box (dashed red: unsure) and the number read."""
    tiles = []
    for picture in pictures[:count]:
        grey = cv2.imdecode(np.frombuffer(picture["png"], np.uint8), cv2.IMREAD_GRAYSCALE)
        answer = answer_or_none(reader.number_in_picture, picture["png"]) or {"number": "", "digits": []}
        shown = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        for digit in answer["digits"]:
            x, y, w, h = (int(round(v)) for v in digit["box"])
            cv2.rectangle(shown, (x, y), (x + w, y + h), (0, 0, 230) if digit["unsure"] else (200, 90, 0), 2)
        tiles.append(_tile(shown, 120, f"read {answer['number'] or '-'} (true {picture['truth']}, "
                                       f"{picture['paper']})"))
    _write_sheet(tiles, path)


def _tile(shown: np.ndarray, height: int, caption: str) -> np.ndarray:
    """A picture (BGR) scaled to `height` px with a caption under it."""
    shown = cv2.resize(shown, (max(1, int(shown.shape[1] * height / shown.shape[0])), height),
                       interpolation=cv2.INTER_AREA)
    tile = np.full((height + 36, max(shown.shape[1], 360), 3), 255, np.uint8)
    tile[:height, :shown.shape[1]] = shown
    cv2.putText(tile, caption, (6, height + 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def _write_sheet(tiles: list[np.ndarray], path: str) -> None:
    """The tiles one under another, padded to the widest, as a PNG."""
    width = max(t.shape[1] for t in tiles)
    cv2.imwrite(path, np.vstack([np.pad(t, ((4, 4), (0, width - t.shape[1]), (0, 0)), constant_values=255)
                                 for t in tiles]))


def main(argv: list[str] | None = None) -> int:
    """Compose the pictures, read them with each reader, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_writer_arguments(parser)
    parser.add_argument("--numbers", type=int, default=2240, help="pictures to compose")
    parser.add_argument("--seed", type=int, default=20261130, help="composition seed (training used others)")
    parser.add_argument("--readers", default=",".join(READERS), help="comma-separated readers to compare")
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"),
                        help="where to write line_eval.json (default: out/eval; make figures: models/)")
    parser.add_argument("--disagreements", default=None,
                        help="also write a PNG of pictures where our first reader and the peer disagree "
                             "(docs/peer-disagreements.png)")
    parser.add_argument("--example", default=None,
                        help="also write a PNG of a few pictures with the line reader's boxes (docs/number-read.png)")
    args = parser.parse_args(argv)
    for path in (args.data, args.mnist_writers):
        if not Path(path).is_file():
            print(f"error: {path}: no such file (pass --data / --mnist-writers)", file=sys.stderr)
            return 2
    sources = held_out_writers(args.data, args.mnist_writers, args.pen_data, args.unipen_data, args.fold)
    pictures = compose_set(sources, args.numbers, args.seed)
    results, answers = {}, {}
    for name in args.readers.split(","):
        reader = scratch_reader(**READERS[name]) if READERS[name] is not None else peers.peer(name)
        if reader is None:
            print(f"{name}: not installed (make dev), left out", file=sys.stderr)
            continue
        answers[name] = read_all(reader, pictures)
        results[name] = summarise(pictures, answers[name])
        print(f"{name}: {results[name]['exact']['all']:.2%} exact", file=sys.stderr)
    print(table(results))
    ours, peer = next(iter(answers)), next((n for n in answers if READERS[n] is None), None)
    disagreements = disagreement(pictures, answers[ours], answers[peer]) if peer else {}
    if disagreements:
        print(f"\n{ours} and {peer} disagree on {disagreements['count']} pictures: " + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in disagreements["who_is_right"].items()))
    if args.disagreements and disagreements:
        disagreement_sheet(pictures, disagreements["examples"], args.disagreements)
    if args.example:
        example_sheet(scratch_reader(), pictures[::max(1, len(pictures) // 7)][1:], args.example)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, "line_eval.json").write_text(json.dumps(
        {"sources": {name: len(w) for name, w in sources.items()}, "seed": args.seed, "results": results,
         "disagreements": disagreements}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
