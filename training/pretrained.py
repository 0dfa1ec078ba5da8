"""The pretrained text recognizer cut down to digits and marks (make pretrained): PP-OCRv6 small's
recognition network (PaddleOCR, Apache-2.0; the ONNX file inside RapidOCR's wheel) with its output layer
kept only for the CTC blank, the ten digits and the marks people put round amounts.

Why cut it: the network reads 18,708 characters, and its last layer (120 x 18,710 weights) is 43% of its
weights and a large share of its work; a number needs 11 of them. Keeping only those columns is the same
as decoding with every other character forbidden (the softmax is taken over the kept ones), so a letter
can no longer win a frame that a digit nearly won (a crossed 7 read as "T", a 1 as "l"). The marks stay
so that "=", "-" or "#" after an amount is read as a mark, not pushed into the nearest digit.

    python -m training.pretrained [--source PP-OCRv6_rec_small.onnx] [--out models]

writes models/digits_rec.onnx and models/digits_rec.json (source and its SHA-256, the classes kept).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from app.reader.pretrained import DIGITS, MARKS

MODEL_NAME = "PP-OCRv6_rec_small.onnx"
OUTPUT_LAYER = "linear_8"  # the recognizer's last MatMul + Add, before its softmax
# Apache-2.0 asks a modified file to say so (the licence's text: models/digits_rec.LICENSE).
NOTICE = ("PP-OCRv6 small text recognition (c) Baidu / the PaddleOCR authors, Apache-2.0, as distributed in "
          "rapidocr 3.10; modified by Digit Canvas: output layer cut to the CTC blank, the digits and marks")


def default_source() -> Path | None:
    """The recognizer file inside an installed RapidOCR wheel (a dev dependency), if there is one."""
    spec = importlib.util.find_spec("rapidocr")  # found, not imported: the package loads its whole pipeline
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / MODEL_NAME
    return path if path.is_file() else None


def kept_classes(characters: list[str]) -> list[int]:
    """The output columns kept: the blank (0), then each digit and mark in the order of DIGITS + MARKS.
    The network's columns are the blank, its characters in order, and a space last."""
    columns = {character: i + 1 for i, character in enumerate(characters)}
    columns[" "] = len(characters) + 1
    missing = [c for c in DIGITS + MARKS if c not in columns]
    if missing:
        raise ValueError(f"the recognizer has no class for {missing}")
    return [0] + [columns[c] for c in DIGITS + MARKS]


def cut_output_layer(model, keep: list[int]) -> None:
    """Keep only the `keep` columns of the output layer's weights and bias (in place)."""
    from onnx import numpy_helper

    for initializer in model.graph.initializer:
        if initializer.name in (f"{OUTPUT_LAYER}.w_0", f"{OUTPUT_LAYER}.b_0"):
            values = numpy_helper.to_array(initializer)
            initializer.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(values[..., keep]), initializer.name))
    output = model.graph.output[0].type.tensor_type.shape.dim[-1]
    output.ClearField("dim_param")
    output.dim_value = len(keep)


def export(source: Path, out: Path) -> dict:
    """Write the cut-down recognizer and its report into `out`; returns the report."""
    import onnx

    model = onnx.load(str(source))
    meta = {entry.key: entry.value for entry in model.metadata_props}
    characters = meta["character"].splitlines()
    keep = kept_classes(characters)
    cut_output_layer(model, keep)
    del model.metadata_props[:]  # the 18,708-character list no longer matches the output
    onnx.helper.set_model_props(model, {"classes": json.dumps(["blank", *DIGITS, *MARKS]), "notice": NOTICE})
    onnx.checker.check_model(model)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "digits_rec.onnx"
    onnx.save(model, str(target))
    report = {"source": source.name, "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
              "licence": "Apache-2.0 (models/digits_rec.LICENSE)", "notice": NOTICE,
              "classes": ["blank", *DIGITS, *MARKS], "source_classes": len(characters) + 2,
              "sha256": hashlib.sha256(target.read_bytes()).hexdigest()}
    (out / "digits_rec.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    """Cut the recognizer down and write it; 2 when there is no source file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=default_source(),
                        help=f"the recognizer's ONNX file (default: {MODEL_NAME} in the installed rapidocr)")
    parser.add_argument("--out", type=Path, default=Path("models"), help="where to write digits_rec.onnx")
    args = parser.parse_args(argv)
    if args.source is None or not args.source.is_file():
        print(f"error: no {MODEL_NAME} (pip install rapidocr, or pass --source)", file=sys.stderr)
        return 2
    report = export(args.source, args.out)
    print(f"{args.out / 'digits_rec.onnx'}: {len(report['classes'])} of {report['source_classes']} classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
