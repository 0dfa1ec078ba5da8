"""The segmenter: split a whole written number's ink into digits, left to right, and classify each one.

From strokes: the digits are runs of consecutive strokes (people finish one digit before the next).
Every plausible run (strokes that overlap horizontally, at most MAX_RUN of them) is drawn and
classified in one batched model call, then the best split of the stroke sequence is found by
dynamic programming: a split is good when the classifier is confident on each of its digits and
its joins follow the geometry (a 4's bar crosses its stem; the next digit starts to the right), and
the readings of neighbouring runs settle two ambiguities the geometry cannot (SHARED_STROKE_COST,
WHOLE_BONUS). A stroke finished late (after the next digit) is put back beside its digit by a rule
(digit_order), and where the rule may have missed one, by trying the other places it could go (LATE_GAIN).
Pictures are cut the same way, with the pieces of the ink's traced centre line as the units
(app/reader/picture_segmenter.py).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from app.reader import preprocessing
from app.reader.answers import Box

# The readings of candidates from their strokes and the picture model's probabilities (DrawingFusion.fuse_many).
Fuse = Callable[[list[Sequence[np.ndarray]], np.ndarray], np.ndarray]
MAX_RUN = 4  # strokes in one digit: pen digits have 1 to 3
# The prior that a unit joins the run before it (one digit) rather than starting the next digit:
# logistic regression on join_features, fitted on numbers composed from the training writers' pen
# digits and written to this file by `python -m training.join_prior` (never the held-out writers).
JOIN_PRIOR_PATH = Path(__file__).resolve().parents[2] / "models" / "join_prior.json"
# Tried and dropped against split 4s (a 4's first stroke often reads as a confident 6): a cost per
# digit (0.5 changed nothing on the training writers, 1.0 merged real digits) and a bias on the prior.
# Joins less likely than this are never tried: 8 candidates to read for a 4-digit number instead of 12 at
# 0.05, with the same accuracy on the training writers of both pen sources.
CANDIDATE_JOIN = 0.1
# ... but a pair of strokes is read down to this (and, under CANDIDATE_JOIN, never grown into a longer run):
# a 4 whose bar and stem stand apart or a 9 whose stem leaves its loop was never read whole at 0.1. With
# readings weighed 3x the prior (READING_WEIGHT), 0.03 reads 7 more of every fold's held-out UNIPEN numbers
# and 2 more training ones, none fewer, for 11% more candidates; 0.03 for runs of every length read no more
# at 35% more (/api/read's p50 went from 4.3 to 6.0 ms), 0.05 for pairs one held-out and 2 training numbers less.
PAIR_JOIN = 0.03
# A delayed stroke goes back to its digit only past strokes that overlap it this little (a share of the
# narrower one's width: the next digit may reach back over a 7's bar by up to half), and clearly less
# than it overlaps its own digit.
LATE_OVERLAP = 0.5
LATE_MARGIN = 0.3
# Those rules miss many delayed strokes (a 4's stem that overlaps the next digit more than its own bar, a
# flag beside its 5): a stroke drawn back left is also tried after every earlier stroke it overlaps or
# nearly reaches (a gap of up to LATE_REACH times the narrower one's width), and that order is kept when its
# best split scores LATE_GAIN (log score) more. Chosen on every fold's held-out numbers with strokes finished
# late and checked on the training writers (docs/accuracy.md).
LATE_REACH = 1.0
LATE_GAIN = 1.0
# At most this many other orders are tried for one drawing, reading at most LATE_READS candidates more than
# the first order did: held-out numbers of 2 to 5 digits needed up to 15 orders (2 on average where a stroke
# was finished late), and neither bound changed an answer there; a drawing of many long strokes that all
# go back left (hatching, the costliest /api/read body) must not cost a reading per pair of strokes.
LATE_TRIES = 24
LATE_READS = 40
# A stroke wider than this many times the writing's height (_scale) is no part of one digit finished late,
# and is not moved: on the held-out numbers 1.0 lost 2 of 1,059 delayed UNIPEN numbers that 1.5 keeps, and
# the costliest /api/read body (60 zigzags across the canvas) is read in one order, at its old cost.
LATE_WIDTH = 1.5
# A run whose last stroke, with the stroke after it, reads surely as the same digit as the run pays this
# (log score): in "44" the second 4's first stroke, taken into the first 4, leaves it a 4 and its stem
# a 1 ("41"), the most common merge on every pen source. Chosen on the training writers (number_eval --fold 0).
SHARED_STROKE_COST = 2.5
# ... a run of two strokes pays it too when that pair reads surer than the run by PAIR_GAIN: in "14" the 1
# and the 4's bar make a fair 4 and the bar with its stem a perfect one, and "41" won ("3144" -> "3414").
# Where both read alike, the geometry decides (two-stroke 4s and 7s beside a 1 are common). Chosen by
# nested folds on every fold's held-out numbers and checked on the training writers (docs/accuracy.md).
PAIR_GAIN = 0.02
# How much a run's reading weighs against the join prior's log terms: the prior is fitted on geometry alone
# and is sure of joins that a confident reading contradicts (a wide gap inside a 4, a close neighbour).
# At 1 the prior outvoted readings; 2-3 read best on both pen sources (nested folds and training writers).
READING_WEIGHT = 3.0
# A two-stroke run read surely as a digit that neither of its strokes reads as alone gets this back: a 4
# written as two strokes far apart, each a fair 1 or 2 or 6, is a 4, not "11", "21" or "61". Chosen on
# the training writers.
WHOLE_BONUS = 1.0
SURE = 0.9  # a reading this sure counts as its digit (for the two rules above)
# ... each stroke of such a run need only be read this surely: a 4's open bar alone is a doubtful 2 or 6.
# At 0.9, as the whole must be, "21" stood; with no bar at all, a 4 and the next digit's stroke merged
# into a sure 5 ("4572" -> "5572").
FAIR = 0.5
DOT = 0.25  # a group under this fraction of the tallest digit's height is a dot, not a digit
_EPS = 1e-6


@dataclass
class Group:
    """One digit of a number: which units (strokes or ink pieces) it is made of, its box, its image and the
    probabilities the split was chosen on."""

    units: list[int]
    box: Box
    image: np.ndarray
    probabilities: np.ndarray


@dataclass
class Split:
    """A drawn number's digits, and how far ahead of the next best split of its strokes the chosen one is
    (log score; infinite when there was no other): a close second is a doubt worth showing."""

    groups: list[Group]
    margin: float


def read_strokes(model, strokes: Sequence[np.ndarray], fuse: Fuse | None = None,
                 prior: JoinPrior | None = None) -> Split:
    """The digits of a number written as strokes (in writing order), ordered left to right; each group's
    units index into `strokes`. With `fuse` (the pen-path model's reading fused in, as /api/predict reads a
    digit alone), every candidate is read from both views and the split chosen on those readings: a
    fragment the picture model is sure of (a zero's slash is a fine 1) pays when the path says otherwise.
    `prior`: the join prior (by default models/join_prior.json).

    The strokes are read in digit_order's order; then each stroke drawn back left of the one before it
    (a 7 crossed, a 4 finished, a 5 flagged after the next digit) is tried after every earlier stroke near
    it and where it was drawn, and an order whose best split scores LATE_GAIN more is kept (at most
    LATE_TRIES other orders)."""
    prior = prior or join_prior()
    boxes = [box_of(stroke) for stroke in strokes]
    readings = _Readings(model, strokes, fuse)
    best = _split_in_order(prior, readings, boxes, digit_order(boxes))
    budget, tries = len(readings.known) + LATE_READS, 0
    for late in _drawn_back(boxes):
        for order in _placements(best.order, late, boxes):
            if tries == LATE_TRIES or len(readings.known) >= budget:
                return best.split()
            tries += 1
            trial = _split_in_order(prior, readings, boxes, order)
            if trial.total > best.total + LATE_GAIN:
                best = trial
    return best.split()


class _Readings:
    """Each candidate digit (a tuple of stroke indices, in order) drawn and read once, however many writing
    orders propose it: every new candidate of an order in one batched model call. `worked_out` keeps what
    _split_in_order works out once per drawing (joins and run scores, by their strokes)."""

    def __init__(self, model, strokes: Sequence[np.ndarray], fuse: Fuse | None) -> None:
        self.model, self.strokes, self.fuse = model, strokes, fuse
        self.known: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.worked_out: dict[tuple, float] = {}

    def __call__(self, candidates: list[tuple[int, ...]]) -> tuple[list[np.ndarray], ...]:
        """The candidates' images, the picture model's probabilities and the scored (fused) ones (lists: an
        order tried and dropped costs no copies)."""
        new = [c for c in dict.fromkeys(candidates) if c not in self.known]
        if new:
            drawings = [[self.strokes[i] for i in c] for c in new]
            images = np.stack([preprocessing.render_strokes(d) for d in drawings])
            seen = self.model.predict(images)
            scored = seen if self.fuse is None else self.fuse(drawings, seen)
            self.known.update(zip(new, zip(images, seen, scored)))
        images, seen, scored = zip(*(self.known[c] for c in candidates))
        return list(images), list(seen), list(scored)


@dataclass
class _Ordered:
    """The best split of the strokes taken in one writing order, and its total log score."""

    order: list[int]
    boxes: list[Box]
    runs: list[tuple[int, int]]
    images: list[np.ndarray]
    scored: list[np.ndarray]
    path: list[tuple[int, int]]
    margin: float
    total: float

    def split(self) -> Split:
        """The chosen digits, their units indexing the strokes as drawn."""
        groups = _groups(self.path, self.runs, self.images, self.scored, self.boxes)
        for group in groups:
            group.units = [self.order[u] for u in group.units]
        return Split(groups, self.margin)


def _split_in_order(prior: JoinPrior, readings: _Readings, boxes: Sequence[Box], order: list[int]) -> _Ordered:
    """The strokes in this order cut into runs of consecutive strokes, every candidate run read, the best split.
    A run's joins and score depend only on its strokes and the stroke after it, so each is worked out once
    for every order tried (readings.worked_out): moving one stroke costs only the runs around it."""
    ordered, scale = [boxes[i] for i in order], _scale(boxes)

    def key(kind: str, a: int, b: int) -> tuple:
        return kind, tuple(order[a:b]), order[b] if b < len(order) else None

    def join(a: int, b: int) -> float:
        known = key("join", a, b)
        if known not in readings.worked_out:
            readings.worked_out[known] = _join_probability(prior, ordered[b], _union(ordered[a:b]), scale, floor=0.0)
        return readings.worked_out[known]

    runs = _candidate_runs(len(ordered), join)
    images, seen, scored = readings([tuple(order[a:b]) for a, b in runs])
    known = {run: key("score", *run) for run in runs}
    new = [run for run in runs if known[run] not in readings.worked_out]
    for run, score in _run_scores(prior, runs, scored, ordered, seen, only=new).items():
        readings.worked_out[known[run]] = score
    scores = {run: readings.worked_out[known[run]] for run in runs}
    path, margin = _two_best_paths(len(ordered), scores)
    return _Ordered(order, ordered, runs, images, scored, path, margin, sum(scores[run] for run in path))


def _drawn_back(boxes: Sequence[tuple]) -> list[int]:
    """The strokes drawn back left of the stroke drawn just before them (from the third on) and no wider than
    a digit (LATE_WIDTH): a stroke finished late is part of one digit (a bar, a stem, a flag)."""
    scale = _scale(boxes) if boxes else 1.0
    return [k for k in range(2, len(boxes))
            if _centre(boxes[k]) < _centre(boxes[k - 1]) and boxes[k][2] <= LATE_WIDTH * scale]


def _placements(order: list[int], late: int, boxes: Sequence[tuple]) -> list[list[int]]:
    """`order` with the stroke `late` moved after each earlier stroke it nearly reaches (LATE_REACH), or back to
    where it was drawn: every other order than this one."""
    scale = _scale(boxes)
    rest = [i for i in order if i != late]
    after = [j for j in range(late - 1) if _overlap(boxes[j], boxes[late], scale) > -LATE_REACH] + [late - 1]
    orders = dict.fromkeys(tuple(rest[:rest.index(j) + 1] + [late] + rest[rest.index(j) + 1:]) for j in after)
    return [list(o) for o in orders if list(o) != order]


def digit_order(boxes: Sequence[tuple]) -> list[int]:
    """The strokes' order with each delayed stroke put back beside its digit: people cross a 7, finish a 4
    or flag a 5 after writing the next digit, and the runs of consecutive strokes would then split the
    digit in two. A stroke is delayed when it goes back left of the stroke before it, onto an earlier
    stroke that it overlaps clearly more than anything drawn since; it goes after that stroke."""
    scale = _scale(boxes) if boxes else 1.0
    order: list[int] = []
    for i, box in enumerate(boxes):
        home = _home(boxes, order, box, scale)
        if home is None:
            order.append(i)
        else:
            order.insert(home + 1, i)
    return order


def _home(boxes: Sequence[tuple], order: list[int], box: tuple, scale: float) -> int | None:
    """Where in `order` a stroke drawn late belongs (it goes after that place), or None when it follows on:
    the stroke it overlaps most (the latest of equals), when that is not the last one drawn, the stroke
    goes back left, and nothing drawn since overlaps it nearly as much (LATE_MARGIN) or much (LATE_OVERLAP)."""
    if len(order) < 2 or _centre(box) >= _centre(boxes[order[-1]]):
        return None
    cover = [_overlap(boxes[k], box, scale) for k in order]
    home = max(range(len(order)), key=lambda k: (cover[k], k))
    since = max(cover[home + 1:], default=math.inf)
    if home == len(order) - 1 or cover[home] <= 0 or since > LATE_OVERLAP or since > cover[home] - LATE_MARGIN:
        return None
    return home


def _centre(box: tuple) -> float:
    return box[0] + box[2] / 2


def _groups(path: list[tuple[int, int]], runs: list[tuple[int, int]], images: Sequence[np.ndarray],
            probabilities: Sequence[np.ndarray], boxes: Sequence[tuple]) -> list[Group]:
    """A split's runs as digits, dots dropped, left to right."""
    index = {run: i for i, run in enumerate(runs)}
    groups = [Group(list(range(a, b)), _union(boxes[a:b]), images[index[(a, b)]], probabilities[index[(a, b)]])
              for a, b in path]
    return _left_to_right(_without_dots(groups))


def box_of(points: np.ndarray) -> Box:
    """The box round some points (a stroke, or several concatenated)."""
    low, high = points.min(axis=0), points.max(axis=0)
    return Box(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))


def _union(boxes: Sequence[Box]) -> Box:
    left = min(b[0] for b in boxes)
    top = min(b[1] for b in boxes)
    right = max(b[0] + b[2] for b in boxes)
    bottom = max(b[1] + b[3] for b in boxes)
    return Box(left, top, right - left, bottom - top)


def _overlap(unit: tuple, run: tuple, scale: float) -> float:
    """How much a unit's x-range overlaps a run's, as a fraction of the narrower (negative: a gap).

    Widths are floored at a fifth of the writing's height, so a 1's near-vertical stroke is not
    "fully inside" everything it touches.
    """
    floor = 0.05 * scale
    left, right = max(unit[0], run[0]), min(unit[0] + unit[2], run[0] + run[2])
    return (right - left) / max(min(unit[2], run[2]), floor, _EPS)


def join_features(unit: tuple, run: tuple, scale: float, merged: np.ndarray | None = None) -> list[float]:
    """What the join prior looks at: x-overlap (of the narrower, and of the wider: a 1 reached over by the
    next digit is inside it, a zero's slash inside its zero covers much of it), the gap, where the unit starts
    and centres, its height and the run's (half a digit's height is no digit yet), how far its top and bottom
    are from the run's (digits share a line; a 5's flag, a 4's bar do not), and what the classifier reads in
    the run and the unit together (a confident 4, 5 or 7 is usually one digit in two strokes; zeros when that
    was not classified)."""
    gap = (unit[0] - (run[0] + run[2])) / scale
    lead = (unit[0] - run[0]) / scale
    centre = (unit[0] + unit[2] / 2 - run[0]) / max(run[2], 0.05 * scale)
    tops = abs(unit[1] - run[1]) / scale
    bottoms = abs(unit[1] + unit[3] - run[1] - run[3]) / scale
    covered = max(min(unit[0] + unit[2], run[0] + run[2]) - max(unit[0], run[0]), 0.0) / max(unit[2], run[2], _EPS)
    reads = [float(v) for v in merged] if merged is not None else [0.0] * 10
    return [min(max(_overlap(unit, run, scale), -3.0), 1.5), min(max(gap, -2.0), 2.0), min(max(lead, -2.0), 3.0),
            min(max(centre, -2.0), 3.0), unit[3] / scale, min(tops, 1.0), min(bottoms, 1.0), covered,
            run[3] / scale, *reads]


class JoinPrior(NamedTuple):
    """The fitted join prior: logistic regression weights on join_features (intercept first), the
    temperature that softens it and the floor that keeps it off 0 and 1."""

    weights: tuple[float, ...]
    temperature: float
    floor: float


@functools.cache
def join_prior(path: Path = JOIN_PRIOR_PATH) -> JoinPrior:
    """The fitted join prior, read once per file; a file fitted on other features is refused (refit it)."""
    prior = json.loads(Path(path).read_text())
    weights = tuple(float(w) for w in prior["weights"])
    wanted = 1 + len(join_features((0, 0, 1, 1), (0, 0, 1, 1), 1.0))
    if len(weights) != wanted:
        raise ValueError(f"{path} has {len(weights)} weights for {wanted} features: refit it (make join-prior)")
    return JoinPrior(weights, float(prior["temperature"]), float(prior["floor"]))


def _join_probability(prior: JoinPrior, unit: tuple, run: tuple, scale: float, floor: float | None = None,
                      merged: np.ndarray | None = None) -> float:
    """The prior that `unit` belongs to the same digit as `run` (kept within floor..1-floor; by default
    the fitted floor)."""
    weights, temperature, fitted_floor = prior
    floor = fitted_floor if floor is None else floor
    features = join_features(unit, run, scale, merged)
    z = weights[0] + sum(w * f for w, f in zip(weights[1:], features))
    value = 1 / (1 + math.exp(-min(max(z / temperature, -30.0), 30.0)))
    return min(max(value, floor), 1 - floor)


def _scale(boxes: Sequence[tuple]) -> float:
    """The writing's height: the tallest unit's (a flag or a bar is shorter than its digit)."""
    return max(max(b[3] for b in boxes), max(b[2] for b in boxes) * 0.5, _EPS)


def _candidate_runs(count: int, join: Callable[[int, int], float]) -> list[tuple[int, int]]:
    """Runs [a, b) of `count` consecutive units that could form one digit: each unit near the run before it
    (`join(a, b)`: the prior that unit b joins the run a..b)."""
    runs = []
    for a in range(count):
        runs.append((a, a + 1))
        for b in range(a + 1, min(a + MAX_RUN, count)):
            joins = join(a, b)
            if joins < (PAIR_JOIN if b == a + 1 else CANDIDATE_JOIN):
                break
            runs.append((a, b + 1))
            if joins < CANDIDATE_JOIN:  # a doubtful pair is read, never grown
                break
    return runs


def _run_scores(prior: JoinPrior, runs: list[tuple[int, int]], probabilities: Sequence[np.ndarray],
                boxes: Sequence[tuple], seen: Sequence[np.ndarray],
                only: Sequence[tuple[int, int]] | None = None) -> dict[tuple[int, int], float]:
    """Each candidate run's log score (or only those of `only`): its reading (probabilities), the joins inside
    it and the split after it by the join prior, which reads what the picture model saw of the strokes
    joined (seen), as it was fitted."""
    count, scale = len(boxes), _scale(boxes)
    read, scored = dict(zip(runs, seen)), dict(zip(runs, probabilities))
    scores = {}
    for a, b in runs if only is None else only:
        p = scored[(a, b)]
        score = READING_WEIGHT * math.log(float(p.max()) + _EPS)
        for j in range(a + 1, b):  # each join inside the run
            score += math.log(_join_probability(prior, boxes[j], _union(boxes[a:j]), scale, merged=read[(a, j + 1)]))
        if b < count:  # the split after it
            joined = read.get((a, b + 1))
            score += math.log(1 - _join_probability(prior, boxes[b], _union(boxes[a:b]), scale, merged=joined))
        scores[(a, b)] = (score - SHARED_STROKE_COST * _shares_last_stroke(scored, a, b)
                          + WHOLE_BONUS * _more_than_its_strokes(scored, a, b))
    return scores


def _shares_last_stroke(reading: dict[tuple[int, int], np.ndarray], a: int, b: int) -> bool:
    """Whether run a..b (reading: each candidate run's probabilities) reads as the digit its last stroke makes,
    surely, with the stroke after it: that stroke likely begins the next, same digit. A two-stroke run only
    when that pair reads surer than the run (PAIR_GAIN): on the training writers, charging every two-stroke
    run merged more pendigits numbers."""
    if b - a < 2 or (b - 1, b + 1) not in reading:
        return False
    mine, theirs = reading[(a, b)], reading[(b - 1, b + 1)]
    if b - a == 2 and float(theirs.max()) < float(mine.max()) + PAIR_GAIN:
        return False
    return int(mine.argmax()) == int(theirs.argmax()) and float(theirs.max()) >= SURE


def _more_than_its_strokes(reading: dict[tuple[int, int], np.ndarray], a: int, b: int) -> bool:
    """Whether run a..b is two strokes, each read fairly as a digit, that together read surely as another."""
    if b - a != 2:
        return False
    whole, parts = reading[(a, b)], (reading[(a, a + 1)], reading[(a + 1, b)])
    return (float(whole.max()) >= SURE and all(float(p.max()) >= FAIR for p in parts)
            and int(whole.argmax()) not in {int(p.argmax()) for p in parts})


def _without_dots(groups: list[Group]) -> list[Group]:
    """Drop groups far smaller than the number's digits (a decimal point, a stray tap)."""
    if len(groups) < 2:
        return groups
    tallest = max(max(g.box[2], g.box[3]) for g in groups)
    return [g for g in groups if max(g.box[2], g.box[3]) >= DOT * tallest]


def _left_to_right(groups: list[Group]) -> list[Group]:
    return sorted(groups, key=lambda g: g.box[0] + g.box[2] / 2)


def _two_best_paths(count: int, scores: dict[tuple[int, int], float]) -> tuple[list[tuple[int, int]], float]:
    """The best split of 0..count-1 into scored runs, and how far the second best trails it (dynamic
    programming keeping the two best ways to reach each point)."""
    best: list[list[tuple[float, int, int]]] = [[(0.0, -1, 0)]] + [[] for _ in range(count)]
    for (a, b) in sorted(scores, key=lambda run: run[1]):
        ways = [(total + scores[(a, b)], a, rank) for rank, (total, _, _) in enumerate(best[a])]
        best[b] = sorted(best[b] + ways, reverse=True)[:2]
    path, end, rank = [], count, 0
    while end > 0:
        _, start, rank = best[end][rank]
        path.append((start, end))
        end = start
    margin = best[count][0][0] - best[count][1][0] if len(best[count]) > 1 else math.inf
    return path[::-1], margin
