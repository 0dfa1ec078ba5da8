"""The sample pictures under docs/examples/ (python -m bench.examples): a photo-like picture of one
digit and one of a number, each written by a pen writer of tests/fixtures/pendigits_small.json (from
pendigits, CC BY 4.0), on synthesised paper. Seeds are picked so the shipped models read them right.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from app import ROOT, create_app
from training import data, lines

FIXTURE = ROOT / "tests" / "fixtures" / "pendigits_small.json"
EXAMPLES = ROOT / "docs" / "examples"
# (file, digits, paper, height in pixels, seed)
PICTURES = [("digit.jpg", 1, "plain", 160, 21), ("number.jpg", 4, "ruled", 120, 12)]


def render(digits: int, paper: str, height: int, seed: int) -> tuple[bytes, str]:
    """A JPEG of a `digits`-digit number on `paper`, `height` px high, and its digit string."""
    rng = np.random.default_rng(seed)
    writers = lines.pen_writers(data.load_pendigits(FIXTURE))
    grey, label, _ = lines.picture(writers[seed % len(writers)], rng, length=digits, gap="normal", paper=paper)
    grey = cv2.resize(grey, (max(1, round(grey.shape[1] * height / grey.shape[0])), height),
                      interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes(), label


def main() -> int:
    """Write each picture and say what the server reads in it."""
    client = create_app({"TESTING": True, "DATABASE_URL": "sqlite://"}).test_client()
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for name, digits, paper, height, seed in PICTURES:
        picture, label = render(digits, paper, height, seed)
        (EXAMPLES / name).write_bytes(picture)
        path = "/api/predict/image" if digits == 1 else "/api/read/image"
        answer = client.post(path, data={"image": (__import__("io").BytesIO(picture), name)}).get_json()
        print(f"{name}: written {label}; read {answer.get('digit', answer.get('number'))}, "
              f"unsure {answer.get('unsure')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
