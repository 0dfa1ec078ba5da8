"""Training digits turned into small, coarse scans and read back through the server's picture path.

Envelope digits are scanned at 16x16; once enlarged and thresholded, their gaps close and their
loops fill in ways no pen rendering shows. train.py sends a share of its digits through here, so
the CNN learns what such a picture looks like after `ink.image_to_mnist`, exactly as the
upload route makes it. Every axis a scan varies on is drawn at random (size, margin, pen width,
grey levels, noise, polarity), so that it learns the kind of picture, not one way of drawing it.
Pure numpy/OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.reader import preprocessing
from app.reader.ink import image_to_mnist

SIDES = (12, 14, 16, 16, 16, 18, 20, 24, 28, 32)  # 16 px, the envelope scans' size, most often
THICKER = (0.4, 0.2, 0.2, 0.2)  # chances of 0, 1, 2 or 3 px more pen (of a 20 px digit)


def small_scan(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A white-on-black ink image (0..1) as a small uint8 scan: square, a random margin (none: the
    ink touches the edge), shrunk to a few dozen pixels, grey paper and ink, a little noise."""
    ys, xs = np.nonzero(ink > 0.05)
    if len(xs) == 0:
        return np.zeros((16, 16), np.uint8)
    extent = max(np.ptp(ys), np.ptp(xs)) + 1
    thicker = int(rng.choice(len(THICKER), p=THICKER))
    if thicker:  # a broad pen or felt tip on a small digit: up to a third of its height wide
        ink = cv2.dilate(ink, np.ones((thicker + 1, thicker + 1), np.uint8))
    half = extent * (0.5 + rng.uniform(0.0, 0.25)) + rng.uniform(0, 1.5)
    centre = np.array([(ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2]) + rng.normal(0, 0.04 * extent, 2)
    # Crop a square round the ink from a padded copy, so the square may reach past the image's edge.
    pad = int(np.ceil(half)) + 2
    padded = cv2.copyMakeBorder(ink.astype(np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    top, left = (np.round(centre - half).astype(int) + pad)
    square = padded[top:top + int(2 * half), left:left + int(2 * half)]
    side = int(rng.choice(SIDES))
    method = cv2.INTER_AREA if rng.random() < 0.7 else cv2.INTER_LINEAR
    small = np.clip(cv2.resize(square, (side, side), interpolation=method), 0, 1)
    paper, pen = rng.uniform(170, 255), rng.uniform(0, 90)
    grey = paper - (paper - pen) * small + rng.normal(0, rng.uniform(0, 6), small.shape)
    grey = np.clip(grey, 0, 255)
    return (255 - grey if rng.random() < 0.1 else grey).astype(np.uint8)


def as_scanned(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 training digit as the server sees it when uploaded as a small scan; the digit itself
    if the scan loses it (too faint to threshold)."""
    read = image_to_mnist(small_scan(ink, rng))
    return read if preprocessing.has_ink(read) else ink
