"""Accuracy on real drawings, through the same code path as POST /api/predict (make eval).

Pen digits cross-validated by writer: each fold's model (make cv) is judged on the writers it never
saw, placed on a 320 px canvas in several ways, uploaded as pictures, and redrawn in each style of
training/styles.py. With the shipped model: MNIST test digits as images and as traced strokes, and how
often random scribbles and letters are flagged unsure. Prints one Markdown table and writes models/drawn_eval.json
and models/drawn_mistakes.png.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from app import ROOT
from app.reader import preprocessing
from bench import answer_or_none, page_drawing, photos, scratch_reader
from training import augment, data, letters, styles

CANVAS = 320.0
PHOTO_EVERY = 8  # the photo rows use every 8th held-out digit


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
    return [augment.smooth_resample(p, 6) for p in natural(points)]


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


def read_strokes(reader, points: list[np.ndarray]) -> dict:
    """Strokes read exactly as /api/predict reads what the page sends."""
    return reader.digit(page_drawing(points, CANVAS, CANVAS))


def read_picture(reader, png: bytes) -> dict:
    """A picture read as /api/predict/image reads it ("no digit found" counts as wrong)."""
    answer = answer_or_none(lambda data: reader.digit_in_picture(data).answer, png)
    return answer if answer is not None else {"digit": -1, "unsure": True}


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


def styled(records: list[dict], name: str, seed: int) -> tuple[list[list[np.ndarray]], list[int]]:
    """The records a style applies to, redrawn in it (one generator per digit: reproducible), and their labels."""
    style = styles.STYLES[name][0]
    chosen = [r for r in records if styles.applies(name, r["label"])]
    drawn = [style(r["strokes"], np.random.default_rng([seed, r["writer"], i])) for i, r in enumerate(chosen)]
    return drawn, [r["label"] for r in chosen]


def pen_answers(reader, records: list[dict], seed: int) -> dict[str, tuple[list[dict], list[int]]]:
    """Every pen row for one model and its unseen writers: row name -> (answers, labels)."""
    labels = [r["label"] for r in records]
    rows = {f"pen, {name}": ([read_strokes(reader, place(r["strokes"])) for r in records], labels)
            for name, place in PLACEMENTS.items()}
    pictures = {"24 px brush, uploaded as a picture": lambda s: brush_picture(s, 24),
                "picture: 28x28 scan": lambda s: small_scan(s, 28), "picture: 16x16 scan": lambda s: small_scan(s, 16),
                "picture: cropped to its ink (touching every edge)": edge_crop}
    for name, picture in pictures.items():
        rows[f"pen, {name}"] = ([read_picture(reader, picture(r["strokes"])) for r in records], labels)
    rng = np.random.default_rng(seed)
    sample = records[::PHOTO_EVERY]  # photos cost ~20 ms each: every 8th digit (about 940 per condition)
    for light, colours in photos.conditions():
        rows[f"photo: {light}, {colours}"] = (
            [read_picture(reader, photos.photo(r["strokes"], light, colours, rng)) for r in sample],
            [r["label"] for r in sample])
    for name in styles.STYLES:
        drawn, style_labels = styled(records, name, seed)
        rows[f"style: {name}"] = ([read_strokes(reader, natural(d)) for d in drawn], style_labels)
    return rows


def cross_validated(folds: dict[int, dict[str, tuple[list[dict], list[int]]]]) -> dict[str, dict]:
    """Pool each row over the folds, and give the spread of the per-fold accuracies."""
    rows = {}
    for name in next(iter(folds.values())):
        answers = [a for fold in folds.values() for a in fold[name][0]]
        labels = [label for fold in folds.values() for label in fold[name][1]]
        per_fold = [score(*fold[name])["accuracy"] for fold in folds.values()]
        rows[name] = {**score(answers, labels), "fold_accuracy": per_fold,
                      "fold_mean": float(np.mean(per_fold)), "fold_sd": float(np.std(per_fold)),
                      "fold_worst": float(min(per_fold))}
    return rows


def markdown(rows: dict[str, dict]) -> str:
    """One table: a row per test, overall, fold spread, unsure share and per-class accuracy."""
    lines = ["| test | n | accuracy | folds: mean ± sd (worst) | unsure | "
             + " | ".join(str(d) for d in range(10)) + " |", "|---|---:|---:|---:|---:|" + "---:|" * 10]
    for name, row in rows.items():
        classes = " | ".join("–" if a is None else f"{a:.1%}" for a in row["per_class"])
        spread = (f"{row['fold_mean']:.2%} ± {row['fold_sd']:.2%} ({row['fold_worst']:.2%})"
                  if "fold_mean" in row else "shipped model")
        lines.append(f"| {name} | {row['count']} | **{row['accuracy']:.2%}** | {spread} | {row['unsure']:.1%} "
                     f"| {classes} |")
    return "\n".join(lines)


def contributor_answers(reader, records: list[dict]) -> dict[str, tuple[list[dict], list[int]]]:
    """UNIPEN digits (normalised into the 500 box) posted as the page would: contributor -> (answers, labels)."""
    out: dict[str, tuple[list[dict], list[int]]] = {}
    for record in records:
        answers, labels = out.setdefault(record["contributor"], ([], []))
        answers.append(read_strokes(reader, natural(record["strokes"])))
        labels.append(record["label"])
    return out


def other_institutions(answers: dict[str, tuple[list[dict], list[int]]]) -> dict:
    """Leave-contributors-out figures: each contributor's accuracy by the model that never saw it, their
    mean, spread and worst, and the digits pooled."""
    rows = {name: score(*answers[name]) for name in sorted(answers)}
    accuracies = [row["accuracy"] for row in rows.values()]
    pooled = score([a for name in answers for a in answers[name][0]], [n for name in answers for n in answers[name][1]])
    return {"contributors": rows, "mean": float(np.mean(accuracies)), "sd": float(np.std(accuracies)),
            "worst": float(min(accuracies)), "worst_contributor": min(rows, key=lambda n: rows[n]["accuracy"]),
            "pooled": pooled}


def contributor_markdown(block: dict) -> str:
    """The other-institutions table: a row per contributor, then mean ± sd, worst and pooled."""
    lines = ["| contributor (held out) | n | accuracy | unsure | " + " | ".join(str(d) for d in range(10)) + " |",
             "|---|---:|---:|---:|" + "---:|" * 10]
    for name, row in [*block["contributors"].items(), ("all, pooled", block["pooled"])]:
        classes = " | ".join("–" if a is None else f"{a:.1%}" for a in row["per_class"])
        lines.append(f"| {name} | {row['count']} | **{row['accuracy']:.2%}** | {row['unsure']:.1%} | {classes} |")
    lines.append(f"\nContributors: mean **{block['mean']:.2%}** ± {block['sd']:.2%}, worst **{block['worst']:.2%}** "
                 f"({block['worst_contributor']}).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every test, print the table, save JSON and the mistakes picture."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", default=os.environ.get("PENDIGITS_PATH") or "../shared/data/pendigits_train.json",
                        help="pendigits JSON; each fold's model is judged on its own held-out writers")
    parser.add_argument("--unipen-data", default=os.environ.get("UNIPEN_PATH") or "../shared/data/unipen_train.json",
                        help="UNIPEN-train JSON; each fold's model is judged on the contributors it never saw "
                             "(empty: no other-institutions block)")
    parser.add_argument("--data", default=os.environ.get("MNIST_PATH") or "../shared/data/mnist.npz",
                        help="Keras-layout mnist.npz, for the MNIST rows")
    parser.add_argument("--cv-dir", default=str(ROOT / "models" / "cv"),
                        help="folder of the cross-validation models, fold1/digit_cnn.tflite ... (make cv)")
    parser.add_argument("--trajectory-weight", type=float, default=None,
                        help="the trajectory model's share of drawn answers (default: the app's; 0: the CNN alone)")
    parser.add_argument("--mnist-limit", type=int, default=10_000, help="MNIST test digits to use")
    parser.add_argument("--scribbles", type=int, default=1000, help="random scribbles for the unsure test")
    parser.add_argument("--seed", type=int, default=12345, help="seed for scribbles and styles (training used others)")
    parser.add_argument("--out", default=str(ROOT / "out" / "eval"),
                        help="folder for drawn_eval.json and the picture (default: out/eval; make figures: models/)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    weight = {} if args.trajectory_weight is None else {"TRAJECTORY_WEIGHT": args.trajectory_weight}
    records = data.load_pendigits(args.pen_data)
    unipen = data.load_unipen(args.unipen_data) if args.unipen_data else []
    folds, judged, contributors, models = {}, {}, {}, sorted(Path(args.cv_dir).glob("fold*/digit_cnn.tflite"))
    if not models:
        print(f"error: no fold*/digit_cnn.tflite under {args.cv_dir}; run make cv first", file=sys.stderr)
        return 2
    for model in models:
        fold = int(model.parent.name.removeprefix("fold"))
        report = json.loads((model.parent / "report.json").read_text())
        _, held_out = data.split_by_writer(records, frozenset(report["held_out_writers"]))
        held_contributors = set(report.get("held_out_contributors", []))
        reader = scratch_reader(MODEL_PATH=str(model), TRAJECTORY_MODEL_PATH=str(model.parent / "trajectory.tflite"),
                                **weight)
        if held_out:  # a subset of the writers (the tests' fixture) may leave a fold empty
            folds[fold] = pen_answers(reader, held_out, args.seed)
            judged[fold] = held_out
        contributors.update(contributor_answers(reader,
                                                [r for r in unipen if r["contributor"] in held_contributors]))
        print(f"fold {fold}: writers {report['held_out_writers']}, contributors {sorted(held_contributors)} done "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    rows = cross_validated(folds)

    reader = scratch_reader(**weight)  # the shipped models (trained on every writer): MNIST, scribbles and letters
    with np.load(args.data) as mnist:
        x_test, y_test = mnist["x_test"][: args.mnist_limit], mnist["y_test"][: args.mnist_limit]
    probabilities = reader.cnn.predict(x_test / np.float32(255))
    rows["MNIST test images (model input as is)"] = score(
        [{"digit": int(p.argmax()), "unsure": bool(p.max() < reader.settings.unsure_threshold)} for p in probabilities],
        y_test)
    traced = [preprocessing.skeleton_strokes(x > 76) for x in x_test]  # 76/255: MNIST's ink edge
    rows["MNIST test digits traced into strokes"] = score(
        [read_strokes(reader, [s * CANVAS / 28 for s in t]) for t in traced], y_test)

    rng = np.random.default_rng(args.seed)
    drawn_scribbles = [[s * CANVAS / 100 for s in augment.random_scribble(rng)] for _ in range(args.scribbles)]
    scribble_unsure = float(np.mean([read_strokes(reader, s)["unsure"] for s in drawn_scribbles]))
    drawn_letters = [[s * 2 for s in drawn] for drawn in letters.eval_letters()]
    letter_unsure = float(np.mean([read_strokes(reader, s)["unsure"] for s in drawn_letters]))
    # The same scribbles and letters uploaded as pictures (24 px brush): the CNN, then the second look.
    picture_unsure = {name: float(np.mean([read_picture(reader, brush_picture(s, 24))["unsure"] for s in drawn]))
                      for name, drawn in (("scribbles", drawn_scribbles), ("letters", drawn_letters))}

    pen_rows = {name: row for name, row in rows.items() if name.startswith("pen")}
    style_rows = {name: row for name, row in rows.items() if name.startswith("style")}
    summary = {
        "folds": {fold: sorted({r["writer"] for r in judged[fold]}) for fold in folds},
        "pen_digits": rows["pen, natural size and place"]["count"],
        "pen_accuracy": rows["pen, natural size and place"]["accuracy"],
        "pen_accuracy_worst_placement": min(r["accuracy"] for r in pen_rows.values()),
        "style_accuracy_worst": min(r["accuracy"] for r in style_rows.values()),
        "pen_unsure": rows["pen, natural size and place"]["unsure"],
        "scribbles": args.scribbles, "scribbles_unsure": scribble_unsure,
        "letters": len(drawn_letters), "letters_unsure": letter_unsure,
        "scribble_pictures_unsure": picture_unsure["scribbles"], "letter_pictures_unsure": picture_unsure["letters"],
        "unsure_threshold": reader.settings.unsure_threshold, "drawing_unsure": reader.settings.drawing_unsure,
        "trajectory_weight": reader.settings.trajectory_weight,
        "rows": rows,
        "other_institutions": other_institutions(contributors) if contributors else None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "drawn_eval.json").write_text(json.dumps(summary, indent=1) + "\n")
    mistakes_picture(out / "drawn_mistakes.png", [r for fold in folds for r in judged[fold]],
                     [a for answers in folds.values() for a in answers["pen, natural size and place"][0]])
    print(markdown(rows))
    if contributors:
        print("\nOther institutions: UNIPEN-train, each contributor judged by the fold model that never saw it "
              "(leave-contributors-out; the pen digits posted as the page would, 192 px tall).\n")
        print(contributor_markdown(summary["other_institutions"]))
    print(f"\nPen and style rows: {len(folds)}-fold cross-validation by writer (each fold's model judged on the "
          f"writers it never saw; accuracy pooled over all {summary['pen_digits']} digits). MNIST rows, scribbles "
          "and letters: the shipped model.")
    print(f"Unsure (drawings: fused top probability < {summary['drawing_unsure']}; pictures: the CNN's < "
          f"{summary['unsure_threshold']}): {scribble_unsure:.1%} of {args.scribbles} random scribbles, "
          f"{letter_unsure:.1%} of {len(drawn_letters)} letters (traced Hershey fonts), {summary['pen_unsure']:.1%} "
          f"of real pen digits.")
    print(f"Uploaded as pictures (24 px brush): {picture_unsure['scribbles']:.1%} of the scribbles and "
          f"{picture_unsure['letters']:.1%} of the letters unsure.")
    print(f"Worst pen placement {summary['pen_accuracy_worst_placement']:.2%}; worst style "
          f"{summary['style_accuracy_worst']:.2%}; {summary['seconds']} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
