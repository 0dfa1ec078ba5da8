"""The HTML pages: the drawing page and the model page (the training report and its pictures)."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory

from app import current

bp = Blueprint("pages", __name__)
REPORT_PICTURES = {
    "training_curves.png": "Loss and accuracy per epoch, on the training and the validation data",
    "confusion_matrix.png": "MNIST test confusion matrix: true digit in rows, predicted digit in columns",
    "mistakes.png": "MNIST test digits the model gets wrong, with the true and the predicted digit",
    "drawn_mistakes.png": "Real pen digits by unseen writers that the model gets wrong, as the network saw them",
}


@bp.get("/")
def index() -> str:
    """The drawing page."""
    return render_template("index.html")


@bp.get("/model")
def model_page() -> str:
    """The model page: the training report and its pictures."""
    path = Path(current.settings().report_path)
    report = json.loads(path.read_text()) if path.is_file() else None
    figures = [(name, caption) for name, caption in REPORT_PICTURES.items() if (path.parent / name).is_file()]
    drawn_path = path.parent / "drawn_eval.json"
    drawn = json.loads(drawn_path.read_text()) if drawn_path.is_file() else None
    return render_template("model.html", report=report, figures=figures, drawn=drawn)


@bp.get("/model/<name>")
def model_picture(name: str):
    """One of the report's pictures."""
    if name not in REPORT_PICTURES:
        abort(404)
    return send_from_directory(Path(current.settings().report_path).parent, name)
