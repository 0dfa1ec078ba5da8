"""Whole numbers composed from one writer's pen digits, as people write them: the training side of
number reading (fitting the join prior) and the number evaluation share this composer.

Numbers of 2 to 5 digits from one writer, stroke order kept: a common height with jitter, gaps from
overlapping (a digit reaching up to 15% of its neighbour's width back over it) to wide, a wobbling baseline.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

HEIGHT = 80.0  # digit height on the canvas, CSS px
GAPS = {  # the space before each digit, as a fraction of the digit height (negative: overlap of widths)
    "overlapping (up to 15%)": (-0.15, 0.0),
    "touching": (0.0, 0.03),
    "normal": (0.08, 0.3),
    "wide": (0.3, 0.7),
}


def compose(records: list[dict], rng: np.random.Generator, gap: str,
            sizes: list[int] | None = None) -> tuple[list[np.ndarray], str, float, float]:
    """One number from one writer's digits: strokes in writing order, the true number, canvas width and height.

    `sizes`, when given, receives each digit's stroke count.
    """
    length = int(rng.integers(2, 6))
    picks = [records[i] for i in rng.integers(0, len(records), length)]
    low_gap, high_gap = GAPS[gap]
    out, x = [], 20.0
    for record in picks:
        points = np.concatenate(record["strokes"])
        low, span = points.min(axis=0), np.ptp(points, axis=0)
        scale = HEIGHT * rng.uniform(0.9, 1.1) / max(span[1], 1.0)
        width = span[0] * scale
        top = 40 + rng.uniform(-0.06, 0.06) * HEIGHT  # baseline wobble
        fraction = rng.uniform(low_gap, high_gap)
        if out:
            x += fraction * (HEIGHT if fraction >= 0 else width)  # an overlap is a share of the digit's own width
        out.extend((s - low) * scale + (x, top) for s in record["strokes"])
        if sizes is not None:
            sizes.append(len(record["strokes"]))
        x += width
    return out, "".join(str(r["label"]) for r in picks), x + 20, 40 + HEIGHT * 1.3 + 40


def group_by_writer(records: list[dict]) -> dict[int, list[dict]]:
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
