"""The /api/read answer: a whole number's digits as JSON (the splitting itself is app/numbers.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app import inputs, numbers


def read_strokes(model, strokes: Sequence[np.ndarray], unsure_threshold: float, tiny: float) -> dict | None:
    """The answer for a number drawn as strokes (canvas units), or None when it renders without ink."""
    groups = numbers.read_strokes(model, strokes)
    if not groups or not all(np.isfinite(g.image).all() and g.image.max() > 0 for g in groups):
        return None
    digits = []
    for group in groups:
        digit = describe(group, unsure_threshold, scale=1.0)
        digit["strokes"] = group.units
        if inputs.drawing_extent([strokes[i] for i in group.units]) < tiny:
            digit["unsure"] = True  # a tap or a tiny tick alone is not a digit
        digits.append(digit)
    return number_answer(digits)


def read_mask(model, mask: np.ndarray, scale: float, unsure_threshold: float) -> dict | None:
    """The answer for a number in a picture's ink mask (boxes scaled to the picture), or None when blank."""
    groups = numbers.read_mask(model, mask)
    if not groups:
        return None
    return number_answer([describe(group, unsure_threshold, scale) for group in groups])


def describe(group: numbers.Group, unsure_threshold: float, scale: float) -> dict:
    """One digit of the answer: digit, probabilities, confidence, unsure and its box."""
    probabilities = group.probabilities.astype(np.float64)
    probabilities /= probabilities.sum()
    digit = int(probabilities.argmax())
    confidence = float(probabilities[digit])
    return {"digit": digit, "probabilities": [round(float(p), 6) for p in probabilities],
            "confidence": round(confidence, 6), "unsure": confidence < unsure_threshold,
            "box": [round(v * scale, 1) for v in group.box]}


def number_answer(digits: list[dict]) -> dict:
    """The whole answer: the number as a string, its digits, and whether any of them is unsure."""
    return {"number": "".join(str(d["digit"]) for d in digits), "digits": digits,
            "unsure": any(d["unsure"] for d in digits)}
