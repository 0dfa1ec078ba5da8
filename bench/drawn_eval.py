"""Accuracy on real drawings, through the same code path as POST /api/predict (make eval).

Pen digits by writers the model never saw (app.strokes.EVAL_WRITERS), placed on a 320 px canvas
in several ways; MNIST test digits as pictures and as traced strokes; how often real digits and
random scribbles are flagged unsure. Prints one Markdown table and writes models/drawn_eval.json
and models/drawn_mistakes.png.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from app import ROOT, preprocessing, strokes
from bench import scratch_app

CANVAS = 320.0


def natural(points: list[np.ndarray]) -> list[np.ndarray]:
    """The tablet's 500x500 box mapped onto the canvas: the writer's own size and position."""
    return [p * CANVAS / 500 for p in points]


def fitted(points: list[np.ndarray], left: float, top: float, size: float) -> list[np.ndarray]:
    """The digit scaled (aspect kept) so its longer side is size, its corner at (left, top)."""
    low = np.concatenate(points).min(axis=0)
    scale = size / max(float(np.ptp(np.concatenate(points), axis=0).max()), 1e-6)
    return [(p - low) * scale + (left, top) for p in points]


def huge(points: list[np.ndarray]) -> list[np.ndarray]:
    """As big as the canvas: the longer side touches both edges."""
    return fitted(points, 0, 0, CANVAS)


def dense(points: list[np.ndarray]) -> list[np.ndarray]:
    """Natural placement, resampled to the smooth, dense path a 60 Hz pointer gives."""
    return [strokes.smooth_resample(p, 6) for p in natural(points)]


PLACEMENTS = {
    "natural size and place": natural,
    "small, in a corner (40 px)": lambda s: fitted(s, 4, 4, 40),
    "huge, touching the edges": huge,
    "dense 60 Hz sampling": dense,
}


def brush_canvas(points: list[np.ndarray], brush: int) -> np.ndarray:
    """The canvas as a person would screenshot it: dark strokes of the given width on white."""
    canvas = np.full((int(CANVAS), int(CANVAS)), 255, np.uint8)
    for p in natural(points):
        cv2.polylines(canvas, [np.round(p).astype(np.int32)], False, 0, brush, cv2.LINE_AA)
    return canvas


def brush_picture(points: list[np.ndarray], brush: int) -> bytes:
    """brush_canvas as a PNG file."""
    return cv2.imencode(".png", brush_canvas(points, brush))[1].tobytes()


def small_scan(points: list[np.ndarray], side: int) -> bytes:
    """The digit as a small scan (envelope digits are scanned at 16x16): the ink and a thin margin,
    made square, shrunk to side x side."""
    canvas = brush_canvas(points, 24)
    ys, xs = np.nonzero(canvas < 128)
    half = max(np.ptp(ys), np.ptp(xs)) * 0.6 + 2
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    top, left = int(round(cy - half)), int(round(cx - half))
    square = cv2.copyMakeBorder(canvas, 400, 400, 400, 400, cv2.BORDER_CONSTANT, value=255)
    square = square[top + 400:top + 400 + int(2 * half), left + 400:left + 400 + int(2 * half)]
    return cv2.imencode(".png", cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA))[1].tobytes()


def edge_crop(points: list[np.ndarray]) -> bytes:
    """The digit cropped to its ink: strokes touch every edge of the picture."""
    canvas = brush_canvas(points, 24)
    ys, xs = np.nonzero(canvas < 128)
    return cv2.imencode(".png", canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1])[1].tobytes()


# Letters that do not pass for a digit (no O, I, l, S, Z, B, G, g, q...), in four Hershey fonts.
LETTERS = "ACEFHKMNPRTUVWXYacefhkmnprtuvwxy"
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX)


def letter_strokes(letter: str, font: int) -> list[np.ndarray]:
    """A letter drawn in a Hershey font, thinned and traced into strokes like the MNIST rows."""
    canvas = np.zeros((160, 160), np.uint8)
    cv2.putText(canvas, letter, (30, 120), font, 3.0, 255, 7, cv2.LINE_AA)
    return preprocessing.skeleton_strokes(canvas > 127)


def post_strokes(client, points: list[np.ndarray]) -> dict:
    """POST strokes exactly as the page does and return the JSON answer."""
    body = {"strokes": [np.round(p, 1).tolist() for p in points], "width": CANVAS, "height": CANVAS}
    response = client.post("/api/predict", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def post_picture(client, png: bytes) -> dict:
    """POST a picture to the upload endpoint and return the JSON answer ("no digit found" counts as wrong)."""
    response = client.post("/api/predict/image", data={"image": (io.BytesIO(png), "digit.png")})
    if response.status_code == 422:
        return {"digit": -1, "unsure": True}
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def score(answers: list[dict], labels: list[int]) -> dict:
    """Overall and per-class accuracy, and the share flagged unsure."""
    digits = np.array([a["digit"] for a in answers])
    labels = np.asarray(labels)
    per_class = [float((digits[labels == d] == d).mean()) if (labels == d).any() else None for d in range(10)]
    return {"accuracy": float((digits == labels).mean()), "per_class": per_class, "count": len(labels),
            "unsure": float(np.mean([a["unsure"] for a in answers]))}


def mistakes_picture(path: Path, records: list[dict], answers: list[dict], limit: int = 40) -> None:
    """A grid of held-out pen digits the model gets wrong: what it saw, true -> predicted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = [(r, a) for r, a in zip(records, answers) if a["digit"] != r["label"]][:limit]
    columns = 10
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns, rows * 1.2), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (record, answer) in zip(axes.ravel(), wrong):
        png = base64.b64decode(answer["preview"].split(",", 1)[1])
        ax.imshow(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE), cmap="gray")
        ax.set_title(f"{record['label']} → {answer['digit']}", fontsize=8)
    fig.suptitle("Pen digits by unseen writers that it gets wrong (true → predicted)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(rows: dict[str, dict]) -> str:
    """One table: a row per test, overall, unsure share and per-class accuracy."""
    lines = ["| test | n | accuracy | unsure | " + " | ".join(str(d) for d in range(10)) + " |",
             "|---|---:|---:|---:|" + "---:|" * 10]
    for name, row in rows.items():
        classes = " | ".join("–" if a is None else f"{a:.1%}" for a in row["per_class"])
        lines.append(f"| {name} | {row['count']} | **{row['accuracy']:.2%}** | {row['unsure']:.1%} | {classes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every test, print the table, save JSON and the mistakes picture."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or "../shared/data/pendigits_train.json",
                        help="pendigits JSON; only the evaluation writers' digits are used")
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH") or "../shared/data/mnist.npz",
                        help="Keras-layout mnist.npz, for the MNIST rows")
    parser.add_argument("--mnist-limit", type=int, default=10_000, help="MNIST test digits to use")
    parser.add_argument("--scribbles", type=int, default=1000, help="random scribbles for the unsure test")
    parser.add_argument("--seed", type=int, default=12345, help="seed for the scribbles (training used others)")
    parser.add_argument("--out", default=str(ROOT / "models"), help="folder for drawn_eval.json and the picture")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    app = scratch_app()
    client = app.test_client()
    _, held_out = strokes.split_by_writer(strokes.load_pendigits(args.pen_data))
    labels = [r["label"] for r in held_out]
    rows, natural_answers = {}, None
    for name, place in PLACEMENTS.items():
        answers = [post_strokes(client, place(r["strokes"])) for r in held_out]
        rows[f"pen, {name}"] = score(answers, labels)
        natural_answers = natural_answers or answers
    rows["pen, 24 px brush, uploaded as a picture"] = score(
        [post_picture(client, brush_picture(r["strokes"], 24)) for r in held_out], labels)
    for name, picture in (("28x28 scan", lambda s: small_scan(s, 28)), ("16x16 scan", lambda s: small_scan(s, 16)),
                          ("cropped to its ink (touching every edge)", edge_crop)):
        rows[f"pen, picture: {name}"] = score([post_picture(client, picture(r["strokes"])) for r in held_out], labels)

    with np.load(args.data) as mnist:
        x_test, y_test = mnist["x_test"][: args.mnist_limit], mnist["y_test"][: args.mnist_limit]
    probabilities = app.extensions["digit_model"].predict(x_test / np.float32(255))
    rows["MNIST test images (model input as is)"] = score(
        [{"digit": int(p.argmax()), "unsure": bool(p.max() < app.config["UNSURE_THRESHOLD"])} for p in probabilities],
        y_test)
    traced = [preprocessing.skeleton_strokes(x > 76) for x in x_test]  # 76/255: MNIST's ink edge
    rows["MNIST test digits traced into strokes"] = score(
        [post_strokes(client, [s * CANVAS / 28 for s in t]) for t in traced], y_test)

    rng = np.random.default_rng(args.seed)
    scribbles = [post_strokes(client, [s * CANVAS / 100 for s in strokes.random_scribble(rng)])
                 for _ in range(args.scribbles)]
    scribble_unsure = float(np.mean([a["unsure"] for a in scribbles]))
    letters = [post_strokes(client, [s * 2 for s in letter_strokes(c, f)]) for c in LETTERS for f in FONTS]
    letter_unsure = float(np.mean([a["unsure"] for a in letters]))

    pen_rows = [row for name, row in rows.items() if name.startswith("pen")]
    summary = {
        "pen_writers": sorted(strokes.EVAL_WRITERS), "pen_digits": len(held_out),
        "pen_accuracy": rows["pen, natural size and place"]["accuracy"],
        "pen_accuracy_worst_placement": min(r["accuracy"] for r in pen_rows),
        "pen_unsure": rows["pen, natural size and place"]["unsure"],
        "scribbles": args.scribbles, "scribbles_unsure": scribble_unsure,
        "letters": len(letters), "letters_unsure": letter_unsure,
        "unsure_threshold": app.config["UNSURE_THRESHOLD"], "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "drawn_eval.json").write_text(json.dumps(summary, indent=1) + "\n")
    mistakes_picture(out / "drawn_mistakes.png", held_out, natural_answers)
    print(markdown(rows))
    print(f"\nUnsure (top probability < {summary['unsure_threshold']}): {scribble_unsure:.1%} of {args.scribbles} "
          f"random scribbles, {letter_unsure:.1%} of {len(letters)} letters (traced Hershey fonts), "
          f"{summary['pen_unsure']:.1%} of {len(held_out)} held-out pen digits.")
    print(f"Held-out writers {summary['pen_writers']}; worst pen placement "
          f"{summary['pen_accuracy_worst_placement']:.2%}; {summary['seconds']} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
