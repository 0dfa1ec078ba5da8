"""The shipped models on a file of pen digits from another source: python -m bench.other_sources FILE.json

Digits in the UNIPEN layout ({label, writer "institution/name", strokes}) posted to /api/predict as the
page would; prints overall, per-institution and per-class accuracy and the commonest confusions. Only
meaningful for digits the models never trained on: UNIPEN-train is training data now, and its honest
figure is make eval's leave-contributors-out block.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict

import numpy as np

from bench import scratch_reader
from bench.drawn_eval import fitted, read_strokes, score


def main(argv: list[str] | None = None) -> int:
    """Read every digit as /api/predict does, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="JSON list of {label, writer, strokes} records")
    parser.add_argument("--trajectory-weight", type=float, default=None,
                        help="the trajectory model's share (default: the app's; 0: the CNN alone)")
    args = parser.parse_args(argv)
    with open(args.path, encoding="utf-8") as file:
        records = json.load(file)
    weight = {} if args.trajectory_weight is None else {"TRAJECTORY_WEIGHT": args.trajectory_weight}
    reader = scratch_reader(**weight)
    drawings = [[np.asarray(s, np.float64).reshape(-1, 2) for s in r["strokes"] if len(s)] for r in records]
    answers = [read_strokes(reader, fitted(d, 60, 60, 200)) for d in drawings]  # a 200 px digit mid-canvas
    labels = [r["label"] for r in records]
    overall = score(answers, labels)
    by_source = defaultdict(list)
    for record, answer in zip(records, answers):
        by_source[str(record["writer"]).split("/")[0]].append((answer, record["label"]))
    confusions = Counter((r["label"], a["digit"]) for r, a in zip(records, answers) if a["digit"] != r["label"])
    writers = len({r["writer"] for r in records})
    print(f"{len(records)} digits by {writers} writers: accuracy {overall['accuracy']:.2%}, "
          f"unsure {overall['unsure']:.1%}")
    print("per source: " + ", ".join(f"{name} {score(*zip(*pairs))['accuracy']:.2%} (n={len(pairs)})"
                                     for name, pairs in sorted(by_source.items())))
    print("per digit: " + ", ".join(f"{d}: {a:.2%}" for d, a in enumerate(overall["per_class"]) if a is not None))
    print("commonest mistakes (true -> read): "
          + ", ".join(f"{t}->{p} x{n}" for (t, p), n in confusions.most_common(10)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
