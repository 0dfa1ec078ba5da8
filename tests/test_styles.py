"""Writing styles, letters and the writer folds: what training and make eval are built on."""

import numpy as np
import pytest
from support import PEN_FIXTURE

from app.reader import preprocessing
from training import data, letters, styles


@pytest.fixture(scope="module")
def records():
    """The fixture's pen digits with strokes as arrays, as training reads them."""
    return data.load_pendigits(PEN_FIXTURE)


@pytest.mark.parametrize("name", list(styles.STYLES))
def test_every_style_redraws_its_digits_as_finite_strokes_that_change_the_picture(name, records):
    chosen = [r for r in records if styles.applies(name, r["label"])]
    assert chosen, "the fixture holds digits for every style"
    changed = 0
    for i, record in enumerate(chosen):
        drawn = styles.STYLES[name][0](record["strokes"], np.random.default_rng(i))
        assert drawn and all(s.ndim == 2 and s.shape[1] == 2 and len(s) and np.isfinite(s).all() for s in drawn)
        before, after = preprocessing.render_strokes(record["strokes"]), preprocessing.render_strokes(drawn)
        changed += np.abs(before - after).mean() > 0.01
    # Reversing the stroke order draws the same picture; every other style must visibly change most digits.
    if name == "stroke order and direction reversed":
        assert changed == 0
    else:
        assert changed >= 0.6 * len(chosen)


def test_a_slashed_zero_gains_a_stroke_through_its_middle(records):
    zero = next(r for r in records if r["label"] == 0)
    drawn = styles.slashed_zero(zero["strokes"], np.random.default_rng(3))
    assert len(drawn) == len(zero["strokes"]) + 1
    extra = next(s for s in drawn if not any(s is t for t in zero["strokes"]))
    points = np.concatenate(zero["strokes"])
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    assert np.linalg.norm(extra - centre, axis=1).min() < 0.15 * np.ptp(points, axis=0).max()


def test_a_continental_one_has_ink_left_of_its_stem(records):
    one = next(r for r in records if r["label"] == 1)
    drawn = styles.continental_one(one["strokes"], np.random.default_rng(0))
    stem_left = np.concatenate(one["strokes"])[:, 0].min()
    height = np.ptp(np.concatenate(one["strokes"])[:, 1])
    assert np.concatenate(drawn)[:, 0].min() < stem_left - 0.15 * height


def test_continental_ones_draw_the_flag_in_every_order_and_feet_up_to_full_width(records):
    one = next(r for r in records if r["label"] == 1)
    height = np.ptp(np.concatenate(one["strokes"])[:, 1])
    drawings = [styles.continental_one(one["strokes"], np.random.default_rng(seed)) for seed in range(300)]

    def flag_after_stem(drawing):  # the first stroke spans the 1; the second is up top, left of it
        first, second = drawing[0], drawing[1] if len(drawing) > 1 else None
        return (second is not None and np.ptp(first[:, 1]) > 0.9 * height and np.ptp(second[:, 1]) < 0.7 * height
                and second[:, 0].mean() < first[:, 0].min())

    def foot_width(drawing):  # the widest flat stroke at the bottom
        flat = [s for s in drawing if np.ptp(s[:, 1]) < 0.15 * height and np.ptp(s[:, 0]) > 0]
        return max((np.ptp(s[:, 0]) for s in flat), default=0.0)

    assert 0.1 < np.mean([flag_after_stem(d) for d in drawings]) < 0.35
    feet = np.array([foot_width(d) for d in drawings]) / height
    assert 0.25 < np.mean(feet > 0) < 0.55
    assert feet.max() > 0.85 and feet[feet > 0].min() < 0.4


def test_reversed_order_reverses_strokes_and_their_direction():
    drawing = [np.array([[0.0, 0], [1, 1]]), np.array([[5.0, 5], [6, 7], [8, 8]])]
    out = styles.reversed_order(drawing, np.random.default_rng(0))
    assert [s.tolist() for s in out] == [[[8, 8], [6, 7], [5, 5]], [[1, 1], [0, 0]]]


def test_a_style_applies_only_to_the_digits_written_that_way():
    assert not styles.applies("slashed or barred zero", 8) and styles.applies("slashed or barred zero", 0)
    assert styles.applies("mouse: sparse, cornered, shaky", 3)


def test_training_letters_are_traced_and_never_the_judged_fonts():
    trained = letters.training_letters()
    assert len(trained) >= len(letters.LETTERS) * len(letters.TRAIN_HERSHEY_FONTS)
    assert all(s and all(len(stroke) for stroke in s) for s in trained)
    assert not set(letters.TRAIN_HERSHEY_FONTS) & set(letters.EVAL_FONTS)
    judged = {preprocessing.render_strokes(s).tobytes() for s in letters.eval_letters()}
    assert not judged & {preprocessing.render_strokes(s).tobytes() for s in trained}
