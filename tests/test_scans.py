"""Small scans for training: what train.py feeds the CNN so that 16x16 uploads read well."""

import numpy as np
import pytest
from support import PEN_FIXTURE

from app.reader import preprocessing
from training import data, scans


@pytest.fixture(scope="module")
def digits():
    """The fixture's pen digits rendered the server's way."""
    return [preprocessing.render_strokes(r["strokes"]) for r in data.load_pendigits(PEN_FIXTURE)]


def test_a_scan_is_small_square_and_mostly_dark_ink_on_light_paper(digits):
    rng = np.random.default_rng(0)
    made = [scans.small_scan(image, rng) for image in digits]
    assert all(s.dtype == np.uint8 and s.ndim == 2 and s.shape[0] == s.shape[1] for s in made)
    assert {s.shape[0] for s in made} <= set(scans.SIDES)
    assert sum(s.shape[0] == 16 for s in made) > 0.2 * len(made)
    light_paper = [np.median(s) > s.mean() for s in made]
    assert 0.75 < np.mean(light_paper) < 1.0  # a few come in white on black, as some scanners send


def test_some_scans_leave_the_ink_touching_the_edge(digits):
    rng = np.random.default_rng(1)
    touching = 0
    for image in digits:
        scan = scans.small_scan(image, rng)
        ink = scan < 128 if np.median(scan) > 127 else scan > 127
        touching += bool(ink[0].any() or ink[-1].any() or ink[:, 0].any() or ink[:, -1].any())
    assert 0.1 * len(digits) < touching < len(digits)


def test_a_scanned_digit_is_read_back_mnist_framed_and_still_the_same_digit(digits):
    rng = np.random.default_rng(2)
    for image in digits[:40]:
        read = scans.as_scanned(image, rng)
        assert read.shape == (28, 28) and read.dtype == np.float32 and read.min() >= 0 and read.max() <= 1
        assert not np.array_equal(read, image)
        total = read.sum()
        ys, xs = np.indices(read.shape)
        assert abs((ys * read).sum() / total - preprocessing.CENTRE) < 0.6
        assert abs((xs * read).sum() / total - preprocessing.CENTRE) < 0.6
        # Blurred by the scan but the same shape: far closer to its own rendering than to a blank.
        assert np.corrcoef(read.ravel(), image.ravel())[0, 1] > 0.5


def test_a_blank_digit_stays_blank():
    blank = np.zeros((28, 28), np.float32)
    assert scans.as_scanned(blank, np.random.default_rng(0)) is blank
