"""A check on pen digits from other sources: python -m bench.other_sources ../shared/data/unipen_train.json

Digits by other institutions' writers (UNIPEN layout: {label, writer "institution/name", strokes}),
never trained on and never used to choose anything, posted to /api/predict as the page would.
Prints overall, per-institution and per-class accuracy and the commonest confusions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict

import numpy as np

from bench import scratch_app
from bench.drawn_eval import fitted, post_strokes


def main(argv: list[str] | None = None) -> int:
    """Post every digit, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="JSON list of {label, writer, strokes} records")
    parser.add_argument("--trajectory-weight", type=float, default=None,
                        help="the trajectory model's share (default: the app's; 0: the CNN alone)")
    args = parser.parse_args(argv)
    with open(args.path, encoding="utf-8") as file:
        records = json.load(file)
    weight = {} if args.trajectory_weight is None else {"TRAJECTORY_WEIGHT": args.trajectory_weight}
    client = scratch_app(**weight).test_client()
    right, unsure, by_source, by_label, confusions = 0, 0, defaultdict(list), defaultdict(list), Counter()
    for record in records:
        drawing = [np.asarray(s, np.float64).reshape(-1, 2) for s in record["strokes"] if len(s)]
        answer = post_strokes(client, fitted(drawing, 60, 60, 200))  # a 200 px digit mid-canvas
        hit = answer["digit"] == record["label"]
        right += hit
        unsure += answer["unsure"]
        by_source[str(record["writer"]).split("/")[0]].append(hit)
        by_label[record["label"]].append(hit)
        if not hit:
            confusions[(record["label"], answer["digit"])] += 1
    writers = len({r["writer"] for r in records})
    print(f"{len(records)} digits by {writers} writers: accuracy {right / len(records):.2%}, "
          f"unsure {unsure / len(records):.1%}")
    print("per source: " + ", ".join(f"{k} {np.mean(v):.2%} (n={len(v)})" for k, v in sorted(by_source.items())))
    print("per digit: " + ", ".join(f"{k}: {np.mean(v):.2%}" for k, v in sorted(by_label.items())))
    print("commonest mistakes (true -> read): "
          + ", ".join(f"{t}->{p} x{n}" for (t, p), n in confusions.most_common(10)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
