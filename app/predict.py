"""Predict the digit in image files: python -m app.predict IMAGE..."""

from __future__ import annotations

import argparse
import sys

from app import ROOT, inference, inputs, pictures


def main(argv: list[str] | None = None) -> int:
    """Print each file's digit and confidence; exit 1 if any file could not be read."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photo or scan of one handwritten digit")
    parser.add_argument("--model", default=str(ROOT / "models" / "digit_cnn.tflite"),
                        help="TFLite model file")
    parser.add_argument("--unsure-below", type=float, default=inference.UNSURE_THRESHOLD,
                        help="confidence under which to say unsure")
    args = parser.parse_args(argv)
    model = inference.DigitModel(args.model)
    failed = 0
    for path in args.images:
        try:
            with open(path, "rb") as file:
                image = pictures.picture_to_mnist(file.read(), 40_000_000)
        except (OSError, inputs.InputError) as error:
            print(f"{path}: error: {error}", file=sys.stderr)
            failed += 1
            continue
        if not image.any():
            print(f"{path}: no digit found")
            continue
        result = inference.answer_image(model, image, args.unsure_below)
        note = " (unsure)" if result["unsure"] else ""
        print(f"{path}: {result['digit']} ({result['confidence']:.1%}){note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
