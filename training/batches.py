"""Training batches: an epoch-long stream of freshly augmented examples for each model.

The CNN sees MNIST (augmented, some traced into strokes), pen digits (some redrawn in styles the data
lacks, some read back from small scans), corrections and flat-target scribbles and letters; the
trajectory model sees the pen paths and the same outliers. Rendering goes through app.preprocessing,
the server's own code: no train/serve skew.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.errors import NoInk, TooMuchInk
from app.reader import line, online, preprocessing, trajectory
from training import augment, lines, scans, styles
from training.compose import GAPS, compose, delayed


def to_images(x: np.ndarray) -> np.ndarray:
    """uint8 MNIST digits to the model's input: (N, 28, 28, 1) float32 in 0..1."""
    return (x.astype(np.float32) / 255.0)[..., None]


def render_pen(record_strokes: list[np.ndarray], rng: np.random.Generator | None) -> np.ndarray:
    """Render a pen digit the server's way; with rng, freshly augmented and at a varied width."""
    if rng is None:
        return preprocessing.render_strokes(record_strokes)
    width = preprocessing.STROKE_WIDTH * rng.uniform(0.8, 1.2)
    return preprocessing.render_strokes(augment.augment(record_strokes, rng), width)


def epoch_stream(keras, items: list[tuple[str, int]], example, cfg):
    """An epoch-long stream of batches over items, reshuffled every epoch; example(kind, i, rng) gives
    one freshly augmented (input, target)."""

    class Stream(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False, max_queue_size=8)
            self.rng = np.random.default_rng(cfg.seed)
            self.on_epoch_end()

        def __len__(self):
            return int(np.ceil(len(items) / cfg.batch_size))

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(items))

        def __getitem__(self, index):
            # One generator per batch, seeded by epoch order and index: reproducible in any thread.
            rng = np.random.default_rng([cfg.seed, int(self.order[0]), index])
            picks = self.order[index * cfg.batch_size:(index + 1) * cfg.batch_size]
            inputs, targets = zip(*(example(*items[p], rng) for p in picks))
            return np.stack(inputs), np.stack(targets)

    return Stream()


def pen_items(pen: list[dict], cfg) -> list[tuple[str, int]]:
    """Each pen digit pen_repeat times an epoch (a correction corrections_weight times); with balance_sources,
    as many pen items as that in all, but an equal share for each source (pendigits, UNIPEN), so the larger
    source does not outweigh the other."""
    repeats = [cfg.corrections_weight if r.get("correction") else cfg.pen_repeat for r in pen]
    if cfg.balance_sources:
        sources: dict[str, list[int]] = {}
        for i, record in enumerate(pen):
            if not record.get("correction"):
                sources.setdefault(record["source"], []).append(i)
        share = cfg.pen_repeat * sum(len(members) for members in sources.values()) / max(len(sources), 1)
        for members in sources.values():
            whole, extra = divmod(round(share), len(members))
            for rank, i in enumerate(members):
                repeats[i] = whole + (rank < extra)
    return [("pen", i) for i in range(len(pen)) for _ in range(repeats[i])]


def styled_pen(record: dict, rng: np.random.Generator, cfg) -> list[np.ndarray]:
    """A pen digit's strokes, redrawn in a style the data lacks with probability --styles, then varied
    (augment.vary) with probability --vary."""
    strokes = record["strokes"]
    if rng.random() < cfg.styles:
        strokes = styles.random_style(strokes, record["label"], rng)
    # No draw at all with --vary 0: the recipes' batches stay exactly what they were before it.
    return augment.vary(strokes, rng) if cfg.vary and rng.random() < cfg.vary else strokes


def one_hot(label: int) -> np.ndarray:
    """The training target of a digit."""
    return np.eye(10, dtype=np.float32)[label]


FLAT = np.full(10, 0.1, np.float32)  # outlier exposure: a non-digit should look like no digit


def make_batches(keras, x_mnist, y_mnist, pen, letter_bank, cfg):
    """An epoch-long stream of augmented batches: MNIST, pen digits (corrections among them, weighted;
    some redrawn in styles the data lacks; some read back from small scans) and flat-target scribbles and letters."""
    items = [("mnist", i) for i in range(len(x_mnist))] + pen_items(pen, cfg)
    scribbles, letter_count = int(cfg.scribbles * len(items)), int(cfg.letters * len(items))
    items += [("scribble", 0)] * scribbles
    items += [("letter", i % len(letter_bank)) for i in range(letter_count if letter_bank else 0)]

    def scanned(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # No draw at all with --scans 0: the base's batches stay exactly what they were before scans.
        return scans.as_scanned(image, rng) if cfg.scans and rng.random() < cfg.scans else image

    def example(kind: str, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if kind == "mnist":
            image = augment.augment_image(x_mnist[i], rng)
            if rng.random() < cfg.traced:  # MNIST styles through the stroke renderer, as uploads go
                traced = preprocessing.skeleton_strokes(image > 0.3)
                image = render_pen(traced, rng) if traced else image
            return scanned(image, rng)[..., None], one_hot(y_mnist[i])
        if kind == "pen":
            return scanned(render_pen(styled_pen(pen[i], rng, cfg), rng), rng)[..., None], one_hot(pen[i]["label"])
        drawing = augment.random_scribble(rng) if kind == "scribble" else letter_bank[i]
        return render_pen(drawing, rng)[..., None], FLAT

    return epoch_stream(keras, items, example, cfg)


def make_trajectory_batches(keras, pen, letter_bank, cfg):
    """An epoch-long stream of pen paths (augmented, some in styles the data lacks) and flat-target outliers."""
    items = pen_items(pen, cfg)
    items += [("outlier", i) for i in range(int((cfg.scribbles + cfg.letters) * len(items)))]

    def example(kind: str, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if kind == "pen":
            strokes = styled_pen(pen[i], rng, cfg)
            # No draw at all with --directions 0: the batches stay exactly what they were before it.
            if cfg.directions and rng.random() < cfg.directions:
                strokes = augment.some_reversed(strokes, rng)
            return trajectory.features(augment.augment(strokes, rng)), one_hot(pen[i]["label"])
        if letter_bank and rng.random() < cfg.letters / (cfg.scribbles + cfg.letters):
            drawing = letter_bank[rng.integers(len(letter_bank))]
        else:
            drawing = augment.random_scribble(rng)
        return trajectory.features(augment.augment(drawing, rng)), FLAT

    return epoch_stream(keras, items, example, cfg)


def line_example(writers: list, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One synthesised number picture by a random writer, as the line model reads it (app.line.line_strip),
    and its digits; drawn again until the strip has room for the digits (CTC needs a column per digit
    and a blank between repeats)."""
    while True:
        grey, label, _ = lines.picture(writers[int(rng.integers(len(writers)))], rng)
        try:
            strip = line.line_strip(grey).image
        except (NoInk, TooMuchInk):  # a picture the server would refuse: drawn again
            continue
        if strip.shape[1] // line.STRIDE >= 2 * len(label) + 1:
            return strip, label


def line_batch(pairs: list[tuple[np.ndarray, str]], extra: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Strips padded to the batch's widest (empty paper) plus `extra` columns, and targets [length, digits...,
    0-padded]."""
    width = max(strip.shape[1] for strip, _ in pairs) + extra
    images = np.zeros((len(pairs), line.HEIGHT, width, 1), np.float32)
    targets = np.zeros((len(pairs), 1 + lines.MAX_DIGITS), np.float32)
    for k, (strip, label) in enumerate(pairs):
        images[k, :, :strip.shape[1], 0] = strip
        targets[k, 0] = len(label)
        targets[k, 1:1 + len(label)] = [int(c) for c in label]
    return images, targets


def make_line_batches(keras, writers: list, cfg):
    """An epoch of cfg.pictures freshly synthesised number pictures, in batches."""
    return fresh_batches(keras, cfg, lambda rng, index: line_batch(
        [line_example(writers, rng) for _ in range(cfg.batch_size)], _first(index, line.STRIDE)))


def fresh_batches(keras, cfg, batch: Callable[[np.random.Generator, int], tuple]):
    """An epoch of cfg.pictures examples made afresh, cfg.batch_size at a time: batch(rng, index) makes one,
    its rng seeded by the run's seed, the epoch and the index (a run is reproducible)."""

    class Stream(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False, max_queue_size=8)
            self.epoch = 0

        def __len__(self):
            return int(np.ceil(cfg.pictures / cfg.batch_size))

        def on_epoch_end(self):
            self.epoch += 1

        def __getitem__(self, index):
            stream = [cfg.stream] if cfg.stream else []  # stream 0 keeps the pictures earlier runs saw
            return batch(np.random.default_rng([cfg.seed, self.epoch, index, *stream]), index)

    return Stream()


def fixed_line_batches(writers: list, count: int, batch_size: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fixed set of synthesised batches (validation): the same pictures every epoch."""
    rng = np.random.default_rng(seed)
    pairs = [line_example(writers, rng) for _ in range(count)]
    return [line_batch(pairs[i:i + batch_size], _first(i, line.STRIDE)) for i in range(0, count, batch_size)]


ONLINE_MAX_DIGITS = 8  # targets' width for the online reader (numbers are composed with 2 to 5 digits)


def online_example(writers: dict, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One number drawn by one training writer (each pen source in turn by chance), laid out as
    training/compose.py lays out the evaluation's, a quarter with its strokes finished late; its path as the
    online reader reads it, and its digits."""
    by_writer = writers[list(writers)[int(rng.integers(len(writers)))]]
    names = sorted(by_writer, key=str)
    sizes: list[int] = []
    strokes, label, _, _ = compose(by_writer[names[int(rng.integers(len(names)))]], rng,
                                   list(GAPS)[int(rng.integers(len(GAPS)))], sizes)
    if rng.random() < 0.25:
        strokes, _ = delayed(strokes, sizes)
    return online.path(strokes)[0], label


def online_batch(pairs: list[tuple[np.ndarray, str]], extra: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Paths padded to the batch's longest, rounded up to 64 points (few shapes: few retraces), plus `extra`,
    the pen resting; targets [length, digits..., 0-padded]."""
    length = int(np.ceil(max(len(p) for p, _ in pairs) / 64) * 64) + extra
    paths = np.zeros((len(pairs), length, online.FEATURES), np.float32)
    targets = np.zeros((len(pairs), 1 + ONLINE_MAX_DIGITS), np.float32)
    for k, (features, label) in enumerate(pairs):
        paths[k, :len(features)] = features
        paths[k, len(features):, 2] = features[-1, 2]
        targets[k, 0] = len(label)
        targets[k, 1:1 + len(label)] = [int(c) for c in label]
    return paths, targets


def make_online_batches(keras, writers: dict, cfg):
    """An epoch of cfg.pictures freshly composed numbers, in batches."""
    return fresh_batches(keras, cfg, lambda rng, index: online_batch(
        [online_example(writers, rng) for _ in range(cfg.batch_size)], _first(index, online.STRIDE)))


def fixed_online_batches(writers: dict, count: int, batch_size: int, seed: int) -> list:
    """A fixed set of composed batches (validation): the same numbers every epoch."""
    rng = np.random.default_rng(seed)
    pairs = [online_example(writers, rng) for _ in range(count)]
    return [online_batch(pairs[i:i + batch_size], _first(i, online.STRIDE)) for i in range(0, count, batch_size)]


def _first(index: int, step: int) -> int:
    """Extra padding for a stream's first batch, one model step: Keras takes the input's shape from the first
    two batches and would fix the length for good if they were alike (every other online path is a multiple
    of 64 points, every line strip of 32 columns)."""
    return step if index == 0 else 0
