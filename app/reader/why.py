"""The /api/explain answer: the same prediction as /api/predict (or /api/predict/image) plus why, as JSON.

The measuring is app/reader/explain.py; this module lays it out: evidence maps (28x28, log-odds units) and,
for drawings, the same evidence on each point of the user's strokes; lookalikes with their pictures;
each convolution's strongest maps; and, for drawings, each model's probabilities before fusion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.errors import NoInk
from app.reader import explain, lookalikes, preprocessing
from app.reader.answers import answer_drawing, preview_data_url
from app.reader.drawing import Drawing
from app.reader.models import DrawingFusion
from app.reader.second_look import PictureDigit

DECIMALS = 3  # evidence values are log-odds: a thousandth is far below anything the page can show


@dataclass
class Why:
    """Explains drawings and pictures as the API answers them; needs no request (runs in the offloader)."""

    explainer: explain.Explainer
    fusion: DrawingFusion
    read_picture: Callable[[bytes], PictureDigit]  # exactly /api/predict/image's reading
    drawing_unsure: float  # settings.drawing_unsure: /api/predict's bar
    tiny_share: float  # settings.tiny_drawing
    run: Callable  # where a picture's explaining runs (the server: its pool; never nested in it)

    def drawing(self, drawing: Drawing) -> dict:
        """A drawing's answer (exactly /api/predict's) with its evidence mapped onto the strokes."""
        strokes = drawing.strokes
        image, to_image = preprocessing.render_strokes_mapped(strokes)
        if not preprocessing.has_ink(image):
            raise NoInk()
        parts = self.fusion.parts(strokes, image)
        answer = answer_drawing(parts["fused"], image, drawing, self.tiny_share, self.drawing_unsure)
        body = self.explanation(answer, parts["fused"], image)
        body["evidence"]["drawing"] = {"to_image": [round(v, 6) for v in to_image],
                                       **{key: on_strokes(body["evidence"][key], strokes, to_image)
                                          for key in ("answer", "runner_up")}}
        body["fusion"] = {"picture": _rounded(parts["picture"], 6), "fused": _rounded(parts["fused"], 6),
                          "path": None if parts["path"] is None else _rounded(parts["path"], 6),
                          "path_weight": self.fusion.path_weight if parts["path"] is not None else 0.0}
        return body

    def picture(self, data: bytes) -> dict:
        """A picture's answer (exactly /api/predict/image's, second look included) and why; no fusion: a
        picture has no pen path. When the sequence reader gave the answer, the maps still show the CNN's view."""
        seen = self.read_picture(data)
        answer, image = seen.answer, seen.image
        body = self.run(self.explanation, answer, np.asarray(answer["probabilities"]), image)
        if answer["reader"] == "line":
            body["caption"] = ("The single-digit network was unsure of this picture; the number reader, which "
                               "knows ruled and squared paper, read it. The maps show what the single-digit "
                               "network made of it. " + body["caption"])
        body["evidence"]["drawing"], body["fusion"] = None, None
        return body

    def explanation(self, answer: dict, probabilities: np.ndarray, image: np.ndarray) -> dict:
        """An API answer (for these probabilities) and what the CNN made of the image, laid out as JSON."""
        digit, runner_up = (int(i) for i in np.argsort(-probabilities, kind="stable")[:2])
        inside = self.explainer.inside(image)
        evidence = self.explainer.evidence(image, digit, runner_up)
        near = self.explainer.lookalikes(inside.embedding, runner_up)
        return {
            **answer,
            "runner_up": runner_up,
            "caption": explain.caption(evidence, image, digit, runner_up),
            "evidence": {"units": "log-odds", **{key: _rounded(value, DECIMALS) for key, value in evidence.items()}},
            "neighbours": [self._lookalike(n) for n in near["nearest"]],
            "runner_up_neighbours": [self._lookalike(n) for n in near["runner_up"]],
            "layers": layers(inside),
        }

    def _lookalike(self, lookalike: lookalikes.Lookalike) -> dict:
        """One bank digit: label, source, similarity and its 28x28 picture."""
        return {"label": lookalike.label, "source": lookalike.source, "similarity": round(lookalike.similarity, 4),
                "png": preview_data_url(self.explainer.bank.images[lookalike.index] / 255.0)}


def on_strokes(evidence: np.ndarray | list, strokes: list[np.ndarray], to_image: tuple[float, float, float]) -> list:
    """The evidence under each point of each stroke (the 28x28 pixel the point was drawn into)."""
    scale, dx, dy = to_image
    out = []
    for stroke in strokes:
        columns = np.clip(np.floor(stroke[:, 0] * scale + dx), 0, 27).astype(int)
        rows = np.clip(np.floor(stroke[:, 1] * scale + dy), 0, 27).astype(int)
        out.append([round(float(v), DECIMALS) for v in np.asarray(evidence)[rows, columns]])
    return out


def layers(inside: explain.Inside) -> list[dict]:
    """Each convolution: its name, shape, a sentence, and its strongest maps (mean activation) as PNGs."""
    notes = explain.LAYER_NOTES if len(inside.maps) == len(explain.LAYER_NOTES) else ()
    out = []
    for number, maps in enumerate(inside.maps, start=1):
        strength = maps.mean(axis=(0, 1))
        strongest = np.argsort(-strength, kind="stable")[: explain.MAPS_PER_LAYER]
        top = max(float(maps[..., strongest].max()), 1e-6)  # one scale per layer: maps compare
        out.append({
            "name": f"convolution {number}",
            "shape": [int(d) for d in maps.shape],
            "note": notes[number - 1] if notes else "",
            "maps": [{"channel": int(c), "strength": round(float(strength[c]), 4),
                      "png": preview_data_url(maps[..., c] / top)} for c in strongest],
        })
    return out


def _rounded(values: np.ndarray, decimals: int) -> list:
    """An array as nested lists of rounded floats (+0.0 for -0.0: cleaner JSON)."""
    return (np.round(np.asarray(values, np.float64), decimals) + 0.0).tolist()
