"""Pen digits photographed as people take photos: uneven light and coloured paper or ink, synthesised
(make eval's photo rows, and tests/test_pictures.py). The digit is drawn with a pen on paper whose
light varies; the JPEG is what a phone would send."""

from __future__ import annotations

import functools

import cv2
import numpy as np

SIDE = 400
PAPER = 215.0
# name -> how the light on the page differs from flat (grey levels, on a 0..1 grid of the page).
LIGHT = {
    "flat light": lambda x, y: 0 * x,
    "vignette, 12 levels darker in the corners": lambda x, y: -12 * ((x - .5) ** 2 + (y - .5) ** 2) / 0.5,
    "vignette, 40 levels": lambda x, y: -40 * ((x - .5) ** 2 + (y - .5) ** 2) / 0.5,
    "soft shadow across the page": lambda x, y: -60 * cv2.GaussianBlur((x + 0.4 * y > 0.7).astype(np.float32),
                                                                       (0, 0), 25),
    "hard shadow across the page": lambda x, y: -70.0 * (x + 0.3 * y > 0.8),
    "hard shadow in a corner": lambda x, y: -80.0 * ((x > 0.7) & (y > 0.65)),
    "light falling off left to right": lambda x, y: -75 + 100 * x,
}
# name -> (paper colour, pen colour), BGR, as multiples of the paper's light and as levels.
COLOURS = {"grey pen, white paper": ((1.0, 1.0, 1.0), (40, 40, 40)),
           "yellow paper": ((0.75, 0.95, 1.0), (60, 40, 30)),
           "blue ink": ((1.0, 1.0, 1.0), (180, 60, 20)),
           "red ink": ((1.0, 1.0, 1.0), (40, 40, 200))}


@functools.cache
def paper(light: str, colours: str) -> np.ndarray:
    """The lit, tinted page (SIDE x SIDE x 3, float32): the same for every photo under these conditions."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    paper_tint, _ = COLOURS[colours]
    return ((PAPER + LIGHT[light](x, y))[..., None] * np.array(paper_tint, np.float32)).astype(np.float32)


def photo(strokes: list, light: str, colours: str, rng: np.random.Generator, pen: int = 10) -> bytes:
    """A JPEG photo of 500x500-box pen strokes written on paper under `light`, in `colours`."""
    ink = np.zeros((SIDE, SIDE), np.float32)
    for stroke in strokes:
        points = np.asarray(stroke, float) * (SIDE * 0.6 / 500) + SIDE * 0.2
        cv2.polylines(ink, [np.round(points).astype(np.int32)], False, 1.0, pen, cv2.LINE_AA)
    ink = cv2.GaussianBlur(ink, (0, 0), 1.0)[..., None]
    page = paper(light, colours)
    grain = rng.normal(0, 3, page.shape).astype(np.float32)
    picture = page * (1 - ink) + np.array(COLOURS[colours][1], np.float32) * ink + grain
    return cv2.imencode(".jpg", np.clip(picture, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def conditions() -> list[tuple[str, str]]:
    """Every light on white paper with a grey pen, and every colour under flat light."""
    return [(light, "grey pen, white paper") for light in LIGHT] + \
        [("flat light", colours) for colours in COLOURS if colours != "grey pen, white paper"]
