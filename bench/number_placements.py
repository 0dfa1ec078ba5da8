"""Drawn numbers as other pages and devices send them (make eval): the same held-out numbers read as
composed, written small on a big canvas, on a phone's strip, large, densely or sparsely sampled, shaky, uphill,
leaning and drawn backwards.

A reader that depends on the canvas around the ink, or on how often the pointer reports, loses numbers
here that it reads as composed. Every fold's held-out writers and contributors, each fold read by its
own models and a join prior fitted on its own training writers (as number_eval's every-fold block).

    python -m bench.number_placements --numbers 300 --out out/eval    # numbers per source per fold
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app import ROOT
from bench import answer_or_none, page_drawing
from bench.number_eval import CV_DIR, by_source, fold_readers
from training import data
from training.compose import GAPS, compose, group_by_writer

Layout = tuple[list[np.ndarray], float, float]


def _scaled(factor: float, offset: tuple[float, float], canvas: tuple[float, float] | None = None):
    """The number scaled by `factor`, moved by `offset`, on `canvas` (None: the scaled canvas, widened to
    hold the number where it would not)."""
    def place(points: list[np.ndarray], width: float, height: float, rng: np.random.Generator) -> Layout:
        moved = [p * factor + offset for p in points]
        right, bottom = np.concatenate(moved).max(axis=0) + 10
        size = canvas or (width * factor + offset[0], height * factor + offset[1])
        return moved, max(size[0], float(right)), max(size[1], float(bottom))
    return place


def _fitted(canvas: tuple[float, float]):
    """The number scaled to fill `canvas` (90% of its width or 60% of its height, whichever comes first) and
    centred on it, as a page that fits the writing to its Number strip would send it."""
    def place(points: list[np.ndarray], width: float, height: float, rng: np.random.Generator) -> Layout:
        inside = np.concatenate(points)
        low, span = inside.min(axis=0), np.maximum(np.ptp(inside, axis=0), 1.0)
        factor = min(0.9 * canvas[0] / span[0], 0.6 * canvas[1] / span[1])
        offset = (np.array(canvas) - span * factor) / 2
        return [(p - low) * factor + offset for p in points], canvas[0], canvas[1]
    return place


def _sampled(step: float):
    """Each stroke resampled to a point every `step` px along its ink (a dense pen or a sparse mouse)."""
    def place(points: list[np.ndarray], width: float, height: float, rng: np.random.Generator) -> Layout:
        return [_every(p, step) for p in points], width, height
    return place


def _every(stroke: np.ndarray, step: float) -> np.ndarray:
    """The stroke's points `step` px apart along its ink, its ends kept."""
    along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(stroke, axis=0), axis=1))])
    if along[-1] == 0:
        return stroke[:1]
    at = np.append(np.arange(0.0, along[-1], step), along[-1])
    return np.column_stack([np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])])


def _shaky(points: list[np.ndarray], width: float, height: float, rng: np.random.Generator) -> Layout:
    """A trembling hand: every point off by 0.8 px (normal)."""
    return [p + rng.normal(0, 0.8, p.shape) for p in points], width, height


def _backwards(points: list[np.ndarray], width: float, height: float, rng: np.random.Generator) -> Layout:
    """Every stroke drawn from its end (as some left-handers draw bars and flags)."""
    return [p[::-1] for p in points], width, height


def _turned(degrees: float):
    """The whole number turned about its middle (written uphill on a slope), on a canvas that holds it."""
    def place(points: list[np.ndarray], width: float, height: float, rng: np.random.Generator) -> Layout:
        angle = np.deg2rad(degrees)
        turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        middle = np.concatenate(points).mean(axis=0)
        return _on_canvas([(p - middle) @ turn.T for p in points])
    return place


def _leaned(slant: float):
    """The whole number leaned: each point moved right by `slant` times its height above the writing's bottom
    (a writer's slant, as the composer makes it but stronger), on a canvas that holds it."""
    def place(points: list[np.ndarray], width: float, height: float, rng: np.random.Generator) -> Layout:
        bottom = float(np.concatenate(points)[:, 1].max())
        return _on_canvas([np.column_stack([p[:, 0] + slant * (bottom - p[:, 1]), p[:, 1]]) for p in points])
    return place


def _on_canvas(moved: list[np.ndarray], margin: float = 20.0) -> Layout:
    """Strokes moved anywhere, put on a canvas that holds them with `margin` px all round."""
    low = np.concatenate(moved).min(axis=0) - margin
    moved = [p - low for p in moved]
    right, bottom = np.concatenate(moved).max(axis=0) + margin
    return moved, float(right), float(bottom)


PLACEMENTS: dict[str, Callable[..., Layout]] = {
    "as composed (digits 80 px, a 20 px margin)": _scaled(1.0, (0.0, 0.0)),
    "small on a big canvas (digits 32 px on 800x400)": _scaled(0.4, (60.0, 150.0), (800.0, 400.0)),
    "a phone's strip (digits 48 px on 360x180)": _scaled(0.6, (10.0, 40.0), (360.0, 180.0)),
    "large (digits 200 px)": _scaled(2.5, (0.0, 0.0)),
    "fit to the page's Number strip (800x320)": _fitted((800.0, 320.0)),
    "dense: a point every 1 px": _sampled(1.0),
    "a mouse: a point every 6 px": _sampled(6.0),
    "shaky: 0.8 px of tremor": _shaky,
    "uphill: the line turned 8°": _turned(8.0),
    "leaning: slanted 0.4 to the right": _leaned(0.4),
    "backwards: every stroke drawn from its end": _backwards,
}


def read_placements(reader, records: list[dict], count: int, seed: int) -> dict[str, list[int]]:
    """[right, total] per placement for `count` numbers composed from `records` (one writer each)."""
    rng = np.random.default_rng(seed)
    by_writer = group_by_writer(records)
    writers = sorted(by_writer)
    tally = {name: [0, 0] for name in PLACEMENTS}
    for i in range(count):
        writer = writers[int(rng.integers(len(writers)))]
        points, truth, width, height = compose(by_writer[writer], rng, list(GAPS)[i % len(GAPS)])
        for name, place in PLACEMENTS.items():
            answer = answer_or_none(reader.number, page_drawing(*place(points, width, height, rng))) or {}
            tally[name][0] += answer.get("number") == truth
            tally[name][1] += 1
    return tally


def table(result: dict) -> str:
    """The Markdown table: one row per placement, one column per pen source."""
    sources = list(result)
    rows = ["| drawn numbers, every fold held out | " + " | ".join(sources) + " |",
            "|---|" + "---:|" * len(sources)]
    for name in PLACEMENTS:
        rows.append(f"| {name} | " + " | ".join(f"{result[s][name]['exact']:.2%}" for s in sources) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Read every fold's held-out numbers in every placement; print and save number_placements.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or None)
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or None)
    parser.add_argument("--numbers", type=int, default=300, help="numbers per source per fold")
    parser.add_argument("--seed", type=int, default=17, help="composition seed (number_eval's is 7)")
    parser.add_argument("--prior-numbers", type=int, default=8000, help="numbers each fold's join prior is fitted on")
    parser.add_argument("--cv-dir", default=str(CV_DIR), help="the folds' models, fold<N>/digit_cnn.tflite (make cv)")
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"))
    args = parser.parse_args(argv)
    if not args.pen_data:
        parser.error("--pen-data or $PENDIGITS_PATH is required")
    records = data.load_pen(args.pen_data, args.unipen_data)
    tallies: dict[str, dict[str, list[int]]] = {}
    for fold, reader, held_out in fold_readers(records, args.prior_numbers, args.cv_dir):
        for source, held in by_source(held_out).items():
            for name, (right, total) in read_placements(reader, held, args.numbers, args.seed + fold).items():
                pooled = tallies.setdefault(source, {}).setdefault(name, [0, 0])
                pooled[0], pooled[1] = pooled[0] + right, pooled[1] + total
    result = {source: {name: {"exact": right / max(total, 1), "numbers": total}
                       for name, (right, total) in tallies[source].items()}
              for source in by_source(records) if source in tallies}  # the sources in number_eval's order
    print(table(result), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, "number_placements.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
