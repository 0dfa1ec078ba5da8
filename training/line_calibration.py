"""Fit when a sequence reader of pictures says "unsure" and write its calibration beside it (app/reader/line.py
loads it): models/line_calibration.json for the line model, models/digits_rec_calibration.json for the
pretrained recognizer.

    python -m training.line_calibration --model models/line.tflite   (or models/digits_rec.onnx)

Pictures of numbers are synthesised from the MNIST validation writers the line model never trained on
(the split train.py makes with the same seed; no evaluation writer), read by the exported model, and
three thresholds are chosen: a digit is unsure under `digit_unsure` (its peak column's probability), a
number is unsure when a column left blank gives some digit more than `missed`, or when the columns give
the number read less than `number_unsure` probability (CTC). Of the triples that flag at most
--right-flagged of the right numbers, the one that flags most wrong numbers wins.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from app import ROOT
from app.errors import InputError
from app.reader import line, pretrained
from training import data, lines


def readings(model: line.ColumnModel, writers: list[lines.Writer], count: int, seed: int) -> tuple[np.ndarray, ...]:
    """For count synthesised pictures: whether the read was exact, its least sure digit, its best missed
    column and the probability the columns give the number read."""
    rng = np.random.default_rng(seed)
    reader = line.LineReader(model, line.Calibration())  # its thresholds are what is being fitted
    exact, least, missed, probability = [], [], [], []
    for _ in range(count):
        grey, truth, _ = lines.picture(writers[int(rng.integers(len(writers)))], rng)
        try:
            look = reader.look(line.writing_band(grey))
        except InputError:  # refused as no number (too much ink): never a sure wrong answer
            exact.append(False), least.append(0.0), missed.append(1.0), probability.append(0.0)
            continue
        exact.append(look.number == truth)
        least.append(min((e.peak_probability for e in look.emitted), default=0.0))
        missed.append(line.missed_digit(look.columns))
        probability.append(line.number_probability(look))
    return np.array(exact), np.array(least), np.array(missed), np.array(probability)


def column_model(path: str) -> line.ColumnModel:
    """The sequence model in the file: the pretrained recognizer (.onnx) or our line model (.tflite)."""
    return pretrained.PretrainedModel(path) if path.endswith(".onnx") else line.LineModel(path)


def choose(exact: np.ndarray, least: np.ndarray, missed: np.ndarray, probability: np.ndarray,
           right_flagged: float) -> dict:
    """The thresholds flagging the most wrong numbers while flagging at most right_flagged of the right ones
    (number_unsure 0: the number's probability does not flag)."""
    best = {"digit_unsure": 0.0, "missed": 1.0, "number_unsure": 0.0, "wrong_flagged": 0.0, "right_flagged": 0.0}
    for number_unsure in np.linspace(0.0, 0.95, 20):
        for digit_unsure in np.linspace(0.3, 0.995, 140):
            unsure = (probability < number_unsure) | (least < digit_unsure)
            for miss in np.linspace(0.05, 1.0, 96):
                flagged = unsure | (missed > miss)
                right = float(flagged[exact].mean()) if exact.any() else 0.0
                wrong = float(flagged[~exact].mean()) if (~exact).any() else 0.0
                if right <= right_flagged and wrong > best["wrong_flagged"]:
                    best = {"digit_unsure": round(float(digit_unsure), 4), "missed": round(float(miss), 4),
                            "number_unsure": round(float(number_unsure), 4),
                            "wrong_flagged": round(wrong, 4), "right_flagged": round(right, 4)}
    return best


def main(argv: list[str] | None = None) -> int:
    """Synthesise, read, choose, write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "line.tflite"), help="the exported line model")
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH") or None, help="mnist.npz (default: $MNIST_PATH)")
    parser.add_argument("--mnist-writers", default=os.environ.get("MNIST_WRITERS_PATH") or None,
                        help="mnist_writers.npz (default: $MNIST_WRITERS_PATH)")
    parser.add_argument("--pictures", type=int, default=2000, help="pictures to synthesise")
    # 2.5%: the right numbers flagged on writers this never saw came out up to about half a point higher.
    parser.add_argument("--right-flagged", type=float, default=0.025, help="most right numbers to flag unsure")
    parser.add_argument("--seed", type=int, default=4242, help="synthesis seed")
    args = parser.parse_args(argv)
    if not (args.data and Path(args.data).is_file() and args.mnist_writers and Path(args.mnist_writers).is_file()):
        print("error: pass --data mnist.npz and --mnist-writers mnist_writers.npz (or set MNIST_PATH and "
              "MNIST_WRITERS_PATH)", file=sys.stderr)
        return 2
    mnist, _ = data.load_mnist(args.data)
    writers = data.load_mnist_writers(args.mnist_writers, len(mnist["x_train"]))
    validating, _ = lines.line_recipe_mnist_writers(mnist, writers)  # never trained on
    exact, least, missed, probability = readings(column_model(args.model), validating, args.pictures, args.seed)
    fitted = choose(exact, least, missed, probability, args.right_flagged)
    fitted["fitted_on"] = {"pictures": args.pictures, "exact": round(float(exact.mean()), 4),
                           "writers": len(validating), "model_sha256": data.sha256(args.model), "seed": args.seed}
    out = line.calibration_path(args.model)
    out.write_text(json.dumps(fitted, indent=1) + "\n")
    print(f"digit unsure under {fitted['digit_unsure']}, missed over {fitted['missed']}, number unsure under "
          f"{fitted['number_unsure']}: flags "
          f"{fitted['wrong_flagged']:.1%} of wrong and {fitted['right_flagged']:.1%} of right numbers "
          f"({exact.mean():.1%} exact of {args.pictures}); written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
