"""A number written uphill or downhill, read level.

People writing on a phone's strip or on unlined paper let the line climb or fall. Turned 8°, every fold's
held-out numbers lost 2 (pendigits) and 8 (UNIPEN) of 1,500 (bench/number_placements.py): the join prior
learned level lines, and a flagged 1 tipped over reads as a 2. So the writing's slope is measured (the
shear under which its ink makes the lowest band) and taken out by a vertical shear before it is read:
each column of ink moves up or down, so the digits' upright strokes stay upright.

Only a clear slope is taken out: a line of several digits (at least LINE_ASPECT times as wide as its band)
whose band the shear makes at least LEAST_GAIN lower, by at least LEAST_SLOPE. Numbers written level with
a wobbling, drifting baseline are left as they are (99% of every fold's composed numbers), and so is a
short number, whose band a digit's own shape tilts as much as the line does.
"""

from __future__ import annotations

import cv2
import numpy as np

SLOPES = np.tan(np.deg2rad(np.arange(-15.0, 15.01, 0.5)))
LEAST_SLOPE = float(np.tan(np.deg2rad(3.0)))
LEAST_GAIN = 0.15  # the band at least this much lower when levelled
LINE_ASPECT = 2.0  # the levelled writing at least this many times as wide as its band
MOST_POINTS = 2000  # the slope is measured on at most this many of the points (the hull costs ~2 ms at 20,000)


def slope(strokes: list[np.ndarray]) -> float:
    """The writing's slope (dy/dx, y down: negative climbs), or 0.0 when it is no clearly sloping line."""
    points = np.concatenate(strokes)
    points = points[::-(-len(points) // MOST_POINTS)].astype(np.float32)  # a dense path's band, as well
    hull = cv2.convexHull(points).reshape(-1, 2).astype(np.float64)  # the band's edges are hull points
    bands = np.ptp(hull[:, 1][None, :] - SLOPES[:, None] * hull[:, 0][None, :], axis=1)
    best = int(bands.argmin())
    level = float(bands[len(SLOPES) // 2])  # the middle slope is 0
    wide = float(np.ptp(hull[:, 0]))
    if (level <= 0 or abs(SLOPES[best]) < LEAST_SLOPE or bands[best] > (1 - LEAST_GAIN) * level
            or wide < LINE_ASPECT * bands[best]):
        return 0.0
    return float(SLOPES[best])


def levelled(strokes: list[np.ndarray], rise: float) -> list[np.ndarray]:
    """The strokes with the slope `rise` sheared out about their middle (the same strokes when it is 0)."""
    if rise == 0.0:
        return strokes
    middle = float(np.concatenate(strokes)[:, 0].mean())
    return [np.column_stack([s[:, 0], s[:, 1] - rise * (s[:, 0] - middle)]) for s in strokes]
