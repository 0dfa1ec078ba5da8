"""Whole numbers composed from one writer's pen digits, as people write them: the training side of
number reading (fitting the join prior) and the number evaluation share this composer.

Numbers of 2 to 5 digits from one writer, stroke order kept: a common height with jitter (±15%), gaps from
overlapping (a digit reaching up to 15% of its neighbour's width back over it) to wide, measured in digit
heights or in the digits' own widths (where a 1 leaves almost no gap), a wobbling and drifting baseline and
the writer's slant.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

HEIGHT = 80.0  # digit height on the canvas, CSS px
MARGIN = 20.0  # canvas around the number


@dataclass(frozen=True)
class Gap:
    """The space before each digit: a share of the digit height, or of the two neighbours' mean width
    (`of="width"`); negative, an overlap of the digits' widths."""

    low: float
    high: float
    of: str = "height"


GAPS = {
    "overlapping (up to 15%)": Gap(-0.15, 0.0, "width"),
    "touching": Gap(0.0, 0.03),
    "normal": Gap(0.08, 0.3),
    "wide": Gap(0.3, 0.7),
    "0.1–0.5 digit widths": Gap(0.1, 0.5, "width"),
}
SIZE_JITTER = 0.15  # each digit's height within ±15% of the common height
WOBBLE = 0.06  # each digit's top moves up or down by this share of the height
DRIFT = 0.05  # the baseline climbs or falls by up to this share of the height per digit
SLANT = 0.25  # the writer's slant: x moves by up to this share of the height above the baseline


def compose(records: list[dict], rng: np.random.Generator, gap: str,
            sizes: list[int] | None = None) -> tuple[list[np.ndarray], str, float, float]:
    """One number from one writer's digits: strokes in writing order, the true number, canvas width and height.

    `sizes`, when given, receives each digit's stroke count.
    """
    length = int(rng.integers(2, 6))
    picks = [records[i] for i in rng.integers(0, len(records), length)]
    spacing = GAPS[gap]
    drift, slant = rng.uniform(-DRIFT, DRIFT), rng.uniform(-SLANT, SLANT)
    out, x, previous = [], 0.0, None
    for k, record in enumerate(picks):
        points = np.concatenate(record["strokes"])
        low, span = points.min(axis=0), np.ptp(points, axis=0)
        scale = HEIGHT * rng.uniform(1 - SIZE_JITTER, 1 + SIZE_JITTER) / max(span[1], 1.0)
        width = span[0] * scale
        top = (rng.uniform(-WOBBLE, WOBBLE) + drift * k) * HEIGHT
        if previous is not None:
            x += _space(spacing, rng.uniform(spacing.low, spacing.high), previous, width)
        out.extend((s - low) * scale + (x, top) for s in record["strokes"])
        if sizes is not None:
            sizes.append(len(record["strokes"]))
        x += width
        previous = width
    # The slant leans every digit alike about the baseline (tops move, bottoms stay), then the whole
    # number goes into a canvas with a margin.
    out = [s + np.column_stack([slant * (HEIGHT - s[:, 1]), np.zeros(len(s))]) for s in out]
    low = np.concatenate(out).min(axis=0)
    out = [s - low + MARGIN for s in out]
    high = np.concatenate(out).max(axis=0)
    return out, "".join(str(r["label"]) for r in picks), float(high[0] + MARGIN), float(high[1] + 2 * MARGIN)


def _space(gap: Gap, fraction: float, before: float, width: float) -> float:
    """How far the next digit starts from the end of the last (negative: back over it)."""
    if fraction < 0:  # an overlap is a share of the digit's own width
        return fraction * width
    return fraction * ((before + width) / 2 if gap.of == "width" else HEIGHT)


def group_by_writer(records: list[dict]) -> dict:
    """Records grouped by writer: numbers are written by one writer each."""
    groups = defaultdict(list)
    for record in records:
        groups[record["writer"]].append(record)
    return dict(groups)


def delayed(strokes: list[np.ndarray], sizes: list[int]) -> tuple[list[np.ndarray], list[int]]:
    """The same number written with delayed strokes, as people cross their 7s, finish their 4s and flag
    their 5s after writing the next digit: each digit of two or more strokes but the last has its last
    stroke moved after the next digit's strokes. Returns the strokes and each one's digit."""
    digits, start = [], 0
    for size in sizes:
        digits.append(list(range(start, start + size)))
        start += size
    order: list[int] = []
    late: int | None = None
    for k, own in enumerate(digits):
        keep = own[:-1] if len(own) > 1 and k < len(digits) - 1 else own
        order.extend(keep)
        if late is not None:
            order.append(late)
        late = own[-1] if keep is not own else None
    owners = np.repeat(np.arange(len(sizes)), sizes)
    return [strokes[i] for i in order], [int(owners[i]) for i in order]
