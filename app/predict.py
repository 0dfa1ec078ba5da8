"""Read handwritten digits in image files: python -m app.predict IMAGE... (--number for whole numbers,
--explain for a PNG sheet of why)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app.config import load_settings
from app.errors import InputError
from app.reader import Reader, build_reader, why_sheet
from app.reader.models import ModelError


def digit_line(reader: Reader, data: bytes) -> str:
    """'7 (99.2%)' for a picture of one digit (read as /api/predict/image reads it)."""
    try:
        result = reader.digit_in_picture(data).answer
    except InputError as error:
        if error.status != 422:
            raise
        return "no digit found"
    return f"{result['digit']} ({result['confidence']:.1%})" + (" (unsure)" if result["unsure"] else "")


def number_line(reader: Reader, data: bytes) -> str:
    """'2026' for a picture of a number, with the doubtful digits named."""
    try:
        answer = reader.number_in_picture(data)
    except InputError as error:
        if error.status != 422:
            raise
        return "no digit found"
    doubtful = [f"{i + 1}: {d['digit']} {d['confidence']:.0%}" for i, d in enumerate(answer["digits"]) if d["unsure"]]
    return answer["number"] + (f" (unsure digits {', '.join(doubtful)})" if doubtful else "")


def explained_line(reader: Reader, data: bytes, sheet: Path) -> str:
    """'7 (99.2%); why: 7.why.png' for a picture of one digit, writing the sheet."""
    try:
        body = reader.explain_picture(data)
    except InputError as error:
        if error.status != 422:
            raise
        return "no digit found"
    why_sheet.save(body, str(sheet))
    unsure = " (unsure)" if body["unsure"] else ""
    return f"{body['digit']} ({body['confidence']:.1%}){unsure}; why: {sheet}"


def main(argv: list[str] | None = None) -> int:
    """Print what each file holds; exit 1 if any file could not be read."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photo or scan of a handwritten digit or number")
    parser.add_argument("--number", action="store_true", help="read a whole number (several digits), not one digit")
    defaults = load_settings()  # as the server's: its defaults, then the environment
    parser.add_argument("--model", default=defaults.model_path, help="TFLite model file")
    parser.add_argument("--unsure-below", type=float, default=defaults.unsure_threshold,
                        help="confidence under which to say unsure")
    parser.add_argument("--explain", action="store_true",
                        help="also write a PNG sheet of why (evidence, lookalikes, feature maps) per picture")
    parser.add_argument("--sheet-dir", default=".", help="where --explain writes IMAGE_NAME.why.png")
    parser.add_argument("--lookalikes", default=defaults.lookalikes_path,
                        help="the lookalike bank for --explain (make lookalikes)")
    args = parser.parse_args(argv)
    if args.explain and args.number:
        parser.error("--explain explains single digits; leave out --number")
    try:  # the reader the server builds, with the flags' changes, reading in this process
        reader = build_reader(defaults.replace(model_path=args.model, unsure_threshold=args.unsure_below,
                                               lookalikes_path=args.lookalikes if args.explain else ""),
                              logger=logging.getLogger("app.predict"))
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    read = number_line if args.number else digit_line
    failed = 0
    for path in args.images:
        try:
            with open(path, "rb") as file:
                data = file.read()
            if args.explain:
                sheet = Path(args.sheet_dir) / f"{Path(path).stem}.why.png"
                print(f"{path}: {explained_line(reader, data, sheet)}")
            else:
                print(f"{path}: {read(reader, data)}")
        except (OSError, InputError) as error:
            print(f"{path}: error: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
