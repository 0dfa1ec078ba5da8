"""Two sequence readers of one picture fused by decoding, not by picking the more confident one.

The pretrained recognizer (app/reader/pretrained.py) learned from real text and reads unfamiliar pens
and paper well; our line model (app/reader/line.py) learned our digits, rules and grids. Each reads the
same band of writing and greedy-decodes a number. Where they agree, that is the answer. Where they
differ, every number either read is scored by both, as the log-likelihood CTC gives it under each
model's columns (weighted: the line model counts half), and the best wins; its digits and boxes are
those of the reader that read it. A close second makes the number unsure: two readers that disagree and
cannot tell apart are how a wrong number shows.

Where they differ, second looks are taken: readers asked only then (our line model again, on the band
stretched a quarter wider, so crowded digits get more columns each), whose numbers join the candidates
and whose scores join the sum with their own weights. And a referee that reads the picture another way
(the segmenter: cut the ink, classify each piece) may call the number. Only a call sure of every digit
counts: it joins the candidates and adds REFEREE_BONUS to the score of the number it names, so readers
that lean one way by less than that are overruled by one that sees it plainly. Second looks and the
referee are asked only where the readers differ (a fifth of photos): what they cost stays off most
pictures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from app.reader.line import Band, LineDigit, LineReader, ctc_log_likelihood, number_of, writing_band

# Chosen on held-out writers' photos and composed pictures (bench/number_eval.py, bench/line_eval.py):
# the line model at half weight read best on both, 0.3 and 1.0 each lost on one. Writers no evaluation
# uses pointed to 1.0 (MNIST validation writers' composed pictures: 92.29% against 91.29%; training pen
# writers' photos level); measured, 1.0 gained 0.14 points on line_eval and lost 1 on both photo sets.
LINE_WEIGHT = 0.5
# A second number within this (log-likelihood) of the best makes the answer unsure: flags about a third
# of wrong numbers and 2-3% of right ones where the readers disagree.
CLOSE = 1.5
# Log-likelihood added to the number a sure referee calls. Chosen on photos and composed pictures of writers
# no reader trained on and no evaluation uses (docs/accuracy.md): 3-12 all gained about 2 points on photos,
# where the segmenter reads well; on composed pictures over rules and grids, where it reads badly, 2-8 were
# level and 12 began to lose.
REFEREE_BONUS = 5.0
# The second look: our line model on the band this much wider, at this weight. Chosen on the same writers:
# alone it reads worse (83.5% -> 81.8% of photos), but where the readers differ it is right more often
# than the line model's first look (216 of 454 against 136); served, photos 91.04% -> 91.75% and composed
# pictures 88.75% -> 90.00%. Offline, weights 0.25 and 0.75 came within a few numbers of 0.5 on both sets;
# a look 0.8 wide as well gained less.
SECOND_STRETCH, SECOND_WEIGHT = 1.25, 0.5


class Referee(Protocol):
    """A third reading of the writing's band, asked only when the sequence readers differ (the most digits
    either read is given): its digits when it is sure of every one (boxes in the picture's pixels), else none."""

    def __call__(self, band: Band, digits: int) -> list[LineDigit]: ...


class FusedLineReader:
    """Several sequence readers of a picture (the first is trusted for the digits when all agree), each
    with its weight in the fused score, and the referee asked where they differ."""

    def __init__(self, readers: Sequence[LineReader], weights: Sequence[float], referee: Referee | None = None,
                 second_looks: Sequence[tuple[LineReader, float]] = ()) -> None:
        self.readers, self.weights, self.referee = list(readers), list(weights), referee
        self.second_looks = [reader for reader, _ in second_looks]  # asked only where the readers differ
        # Every reader and weight where they differ: the first readers', then the second looks'.
        self._disputed = (self.readers + self.second_looks, self.weights + [weight for _, weight in second_looks])

    def read(self, grey: np.ndarray) -> tuple[list[LineDigit], bool]:
        """The digits of the best-scoring number, and whether the reading is doubtful (a digit may be
        missed, or a second number came close); NoInk if blank."""
        band = writing_band(grey)
        looks = [reader.look(band) for reader in self.readers]
        numbers = list(dict.fromkeys(look.number for look in looks))  # in the readers' order
        if len(numbers) == 1:
            return self.readers[0].digits(looks[0])
        readers, weights = self._disputed
        looks += [reader.look(band) for reader in self.second_looks]
        numbers = list(dict.fromkeys(look.number for look in looks))
        called = self.referee(band, max(map(len, numbers))) if self.referee else []
        call = number_of(called)
        candidates = numbers + [call] if call and call not in numbers else numbers
        scores = {n: sum(w * ctc_log_likelihood(look.columns, n) for w, look in zip(weights, looks))
                  + (REFEREE_BONUS if n == call else 0.0) for n in candidates}
        best, second = sorted(candidates, key=lambda n: -scores[n])[:2]
        if best in numbers:
            chosen = next(i for i, look in enumerate(looks) if look.number == best)
            digits, missed = readers[chosen].digits(looks[chosen])
        else:
            digits, missed = called, False
        return digits, missed or scores[best] - scores[second] < CLOSE
