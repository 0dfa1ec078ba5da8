"""Read handwritten digits in image files: python -m app.predict IMAGE... (--number for whole numbers)."""

from __future__ import annotations

import argparse
import functools
import sys

from app import ROOT, inference, inputs, line, pictures
from app.number_reader import NumberReader

MAX_PIXELS = 40_000_000


def digit_line(model: inference.DigitModel, data: bytes, unsure_below: float) -> str:
    """'7 (99.2%)' for a picture of one digit."""
    image, implausible = pictures.digit_picture(data, MAX_PIXELS)
    if not image.any():
        return "no digit found"
    result = inference.answer_image(model, image, unsure_below)
    unsure = result["unsure"] or implausible
    return f"{result['digit']} ({result['confidence']:.1%})" + (" (unsure)" if unsure else "")


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


@functools.cache
def number_reader(model: inference.DigitModel, unsure_below: float) -> NumberReader:
    """The server's number reader (the line model when it is shipped), run in this process."""
    path = ROOT / "models" / "line.tflite"
    reader = line.LineReader(line.LineModel(str(path))) if path.is_file() else None
    return NumberReader(model, reader, unsure_below, MAX_PIXELS)


def main(argv: list[str] | None = None) -> int:
    """Print what each file holds; exit 1 if any file could not be read."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photo or scan of a handwritten digit or number")
    parser.add_argument("--number", action="store_true", help="read a whole number (several digits), not one digit")
    parser.add_argument("--model", default=str(ROOT / "models" / "digit_cnn.tflite"), help="TFLite model file")
    parser.add_argument("--unsure-below", type=float, default=inference.UNSURE_THRESHOLD,
                        help="confidence under which to say unsure")
    args = parser.parse_args(argv)
    try:
        model = inference.DigitModel(args.model)
    except inference.ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    read = number_line if args.number else digit_line
    failed = 0
    for path in args.images:
        try:
            with open(path, "rb") as file:
                print(f"{path}: {read(model, file.read(), args.unsure_below)}")
        except (OSError, inputs.InputError) as error:
            print(f"{path}: error: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
