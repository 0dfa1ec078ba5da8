"""How each model is trained: one frozen config per recipe, named by the Makefile (train.py --recipe NAME).

Every option of train.py that shapes training is a field here; the command line starts from a recipe
and overrides the fields it names. The report records the config it ran with.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

from training.data import FOLDS

# Files each model writes into its --out folder: model, export, report.
FILES = {"cnn": ("digit_cnn.keras", "digit_cnn.tflite", "report.json"),
         "trajectory": ("trajectory.keras", "trajectory.tflite", "trajectory_report.json"),
         "line": ("line.keras", "line.tflite", "line_report.json"),
         "online": ("online.keras", "online.tflite", "online_report.json")}


@dataclass(frozen=True)
class TrainConfig:
    """One training run's settings (data paths aside)."""

    model: Literal["cnn", "trajectory", "line", "online"] = "cnn"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    fold: int = 0
    folds: int = FOLDS
    # UNIPEN contributors held out instead of the fold's, comma-separated: an institution whole (Apple's
    # apa,apb,app share devices and styles; the folds spread them, so each is judged by a model that saw the others)
    held_out: str = ""
    init: str | None = None
    pen: bool = True
    styles: float = 0.3
    vary: float = 0.0  # share of pen digits warped and their strokes moved apart (augment.vary)
    # The pen-path model: share of pen digits with some strokes drawn from their end (augment.some_reversed);
    # the picture models never see a stroke's direction.
    directions: float = 0.0
    letters: float = 0.03
    pen_repeat: int = 2
    balance_sources: bool = False  # each pen source an equal share of the pen digits an epoch (measured: training.md)
    traced: float = 0.2
    scans: float = 0.15
    scribbles: float = 0.05
    validation: int = 5000
    corrections_weight: int = 20
    seed: int = 1
    limit: int = 0
    quantize: Literal["dynamic", "none"] = "dynamic"
    pictures: int = 20_000  # the line and online models: numbers composed per epoch
    # Which stream of freshly made pictures (line and online models): each epoch's pictures follow from the
    # seed and the epoch, so a later stage from the same init repeats an earlier one's unless it takes another
    # stream (the seed cannot change: it also draws the validation writers).
    stream: int = 0

    def held_out_contributors(self) -> frozenset[str] | None:
        """The UNIPEN contributors held_out names, or None (the fold's)."""
        return frozenset(self.held_out.split(",")) if self.held_out else None

    def with_overrides(self, **overrides) -> TrainConfig:
        """This config with the given fields replaced (None: keep the recipe's)."""
        names = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if k in names and v is not None})


# Two stages for the CNN: the base learns MNIST (with traced MNIST and scribbles) and sees no pen
# writer; "fine-tune" starts from it with every pen source, styles, letters and small scans. The
# trajectory model learns pen paths only, from scratch. "cnn" is the one-stage run from random weights.
RECIPES = {
    "cnn": TrainConfig(),
    "base": TrainConfig(epochs=20, pen=False, letters=0.0, scans=0.0),
    "fine-tune": TrainConfig(init="models/base/digit_cnn.keras", epochs=3, lr=5e-4),
    "trajectory": TrainConfig(model="trajectory", epochs=12),
    # The line reader holds out the last fold (pendigits writers 5, 10, ...; UNIPEN apa and imp) and the
    # MNIST test writers: the number evaluation composes its numbers from those, never from a training writer.
    "line": TrainConfig(model="line", epochs=6, batch_size=48, lr=2e-3, fold=FOLDS, pictures=12_000),
    # ... then more epochs from it at lower peak rates (the Makefile's line target runs all three), each on its
    # own stream of pictures and with the first stage's seed: it draws the MNIST validation writers, on
    # which the unsure thresholds are fitted (line-more once had seed 2 and so trained on most of them).
    "line-more": TrainConfig(model="line", init="models/line.keras", epochs=6, batch_size=48, lr=1e-3, fold=FOLDS,
                             pictures=12_000, stream=2),
    "line-fine": TrainConfig(model="line", init="models/line.keras", epochs=6, batch_size=48, lr=5e-4, fold=FOLDS,
                             pictures=12_000, stream=3),
    # The online reader of drawn numbers holds out the last fold too: numbers composed from the training
    # writers of both pen sources, in every layout the number evaluation uses.
    "online": TrainConfig(model="online", epochs=10, batch_size=64, lr=2e-3, fold=FOLDS, pictures=16_000),
    # ... then more epochs from it, at a lower peak rate (the Makefile's online target runs both).
    "online-more": TrainConfig(model="online", init="models/online.keras", epochs=25, batch_size=64, lr=1e-3,
                               fold=FOLDS, pictures=16_000, seed=2),
}
