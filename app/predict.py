"""Read handwritten digits in image files: python -m app.predict IMAGE... (--number for whole numbers,
--explain for a PNG sheet of why)."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

from app import ROOT, digit_pictures, explain, inference, inputs, line, why, why_sheet
from app.number_reader import NumberReader

MAX_PIXELS = 40_000_000


def digit_line(model: inference.DigitModel, data: bytes, unsure_below: float) -> str:
    """'7 (99.2%)' for a picture of one digit (read as /api/predict/image reads it)."""
    try:
        result, _ = picture_reader(model, unsure_below).read(data)
    except inputs.InputError as error:
        if error.status != 422:
            raise
        return "no digit found"
    return f"{result['digit']} ({result['confidence']:.1%})" + (" (unsure)" if result["unsure"] else "")


def number_line(model: inference.DigitModel, data: bytes, unsure_below: float) -> str:
    """'2026' for a picture of a number, with the doubtful digits named."""
    try:
        answer = number_reader(model, unsure_below).picture(data)
    except inputs.InputError as error:
        if error.status != 422:
            raise
        return "no digit found"
    doubtful = [f"{i + 1}: {d['digit']} {d['confidence']:.0%}" for i, d in enumerate(answer["digits"]) if d["unsure"]]
    return answer["number"] + (f" (unsure digits {', '.join(doubtful)})" if doubtful else "")


def explained_line(explainer: why.Why, data: bytes, sheet: Path) -> str:
    """'7 (99.2%); why: 7.why.png' for a picture of one digit, writing the sheet."""
    try:
        body = explainer.picture(data)
    except inputs.InputError as error:
        if error.status != 422:
            raise
        return "no digit found"
    why_sheet.save(body, str(sheet))
    unsure = " (unsure)" if body["unsure"] else ""
    return f"{body['digit']} ({body['confidence']:.1%}){unsure}; why: {sheet}"


@functools.cache
def number_reader(model: inference.DigitModel, unsure_below: float) -> NumberReader:
    """The server's number reader (the line model when it is shipped), run in this process."""
    path = ROOT / "models" / "line.tflite"
    reader = line.LineReader(line.LineModel(str(path))) if path.is_file() else None
    return NumberReader(model, reader, unsure_below, MAX_PIXELS)


def picture_reader(model: inference.DigitModel, unsure_below: float) -> digit_pictures.PictureReader:
    """The server's reader of pictures of one digit (its second look included), run in this process."""
    return digit_pictures.PictureReader(model, number_reader(model, unsure_below), MAX_PIXELS, unsure_below)


def main(argv: list[str] | None = None) -> int:
    """Print what each file holds; exit 1 if any file could not be read."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photo or scan of a handwritten digit or number")
    parser.add_argument("--number", action="store_true", help="read a whole number (several digits), not one digit")
    parser.add_argument("--model", default=str(ROOT / "models" / "digit_cnn.tflite"), help="TFLite model file")
    parser.add_argument("--unsure-below", type=float, default=inference.UNSURE_THRESHOLD,
                        help="confidence under which to say unsure")
    parser.add_argument("--explain", action="store_true",
                        help="also write a PNG sheet of why (evidence, lookalikes, feature maps) per picture")
    parser.add_argument("--sheet-dir", default=".", help="where --explain writes IMAGE_NAME.why.png")
    parser.add_argument("--lookalikes", default=str(ROOT / "models" / "lookalikes.npz"),
                        help="the lookalike bank for --explain (make lookalikes)")
    args = parser.parse_args(argv)
    if args.explain and args.number:
        parser.error("--explain explains single digits; leave out --number")
    try:
        model = inference.DigitModel(args.model)
        explainer = why.Why(explain.explainer(args.model, args.lookalikes, logging.getLogger("app.predict")),
                            inference.DrawingReader(model, None, 0.0), picture_reader(model, args.unsure_below),
                            args.unsure_below) if args.explain else None
    except inference.ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    read = number_line if args.number else digit_line
    failed = 0
    for path in args.images:
        try:
            with open(path, "rb") as file:
                data = file.read()
            if explainer is not None:
                sheet = Path(args.sheet_dir) / f"{Path(path).stem}.why.png"
                print(f"{path}: {explained_line(explainer, data, sheet)}")
            else:
                print(f"{path}: {read(model, data, args.unsure_below)}")
        except (OSError, inputs.InputError) as error:
            print(f"{path}: error: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
