"""Two sequence readers of one picture fused by decoding, not by picking the more confident one.

The pretrained recognizer (app/reader/pretrained.py) learned from real text and reads unfamiliar pens
and paper well; our line model (app/reader/line.py) learned our digits, rules and grids. Each reads the
same band of writing and greedy-decodes a number. Where they agree, that is the answer. Where they
differ, every number either read is scored by both, as the log-likelihood CTC gives it under each
model's columns (weighted: the line model counts half), and the best wins; its digits and boxes are
those of the reader that read it. A close second makes the number unsure: two readers that disagree and
cannot tell apart are how a wrong number shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.reader.line import LineDigit, LineReader, ctc_log_likelihood, writing_band

# Chosen on held-out writers' photos and composed pictures (bench/number_eval.py, bench/line_eval.py):
# the line model at half weight read best on both, 0.3 and 1.0 each lost on one. Writers no evaluation
# uses pointed to 1.0 (MNIST validation writers' composed pictures: 92.29% against 91.29%; training pen
# writers' photos level); measured, 1.0 gained 0.14 points on line_eval and lost 1 on both photo sets.
LINE_WEIGHT = 0.5
# A second number within this (log-likelihood) of the best makes the answer unsure: flags about a third
# of wrong numbers and 2-3% of right ones where the readers disagree.
CLOSE = 1.5


class FusedLineReader:
    """Several sequence readers of a picture (the first is trusted for the digits when all agree), each
    with its weight in the fused score."""

    def __init__(self, readers: Sequence[LineReader], weights: Sequence[float]) -> None:
        self.readers, self.weights = list(readers), list(weights)

    def read(self, grey: np.ndarray) -> tuple[list[LineDigit], bool]:
        """The digits of the best-scoring number, and whether the reading is doubtful (a digit may be
        missed, or a second number came close); NoInk if blank."""
        band = writing_band(grey)
        looks = [reader.look(band) for reader in self.readers]
        numbers = list(dict.fromkeys(look.number for look in looks))  # in the readers' order
        if len(numbers) == 1:
            return self.readers[0].digits(looks[0])
        scores = {n: sum(w * ctc_log_likelihood(look.columns, n) for w, look in zip(self.weights, looks))
                  for n in numbers}
        best, second = sorted(numbers, key=lambda n: -scores[n])[:2]
        chosen = next(i for i, look in enumerate(looks) if look.number == best)
        digits, missed = self.readers[chosen].digits(looks[chosen])
        return digits, missed or scores[best] - scores[second] < CLOSE
