"""The online reader's input: a drawn number's pen path, the same at training and serving time."""

import numpy as np
import pytest

from app.reader import online

SEVEN_ONE = [np.array([[10.0, 10], [50, 10], [25, 90]]), np.array([[20.0, 50], [40, 50]]),
             np.array([[80.0, 10], [80, 90]])]


def test_a_number_becomes_points_with_steps_heights_and_one_flag_per_pen_lift():
    features, owner = online.path(SEVEN_ONE)
    assert features.dtype == np.float32 and features.shape[1] == online.FEATURES
    assert len(features) % online.REST == 0 and (owner == -1).sum() >= online.REST  # the pen rests after it
    drawn = owner >= 0
    assert features[drawn, 3].sum() == 2 and features[0, 3] == 0  # two lifts, none before the first point
    assert list(np.unique(owner[drawn])) == [0, 1, 2] and (np.diff(owner[drawn]) >= 0).all()  # writing order
    assert np.abs(features[:, 2]).max() <= 1.0  # heights in units of the writing's height


def test_the_path_ignores_where_and_how_big_the_number_is():
    moved = [s * 3.3 + (400, -70) for s in SEVEN_ONE]
    assert np.allclose(online.path(SEVEN_ONE)[0], online.path(moved)[0], atol=1e-4)


def test_a_very_long_number_is_resampled_coarser_not_cut():
    long = [np.array([[x, 0.0], [x, 60]]) + (0, 0) for x in range(0, 200 * 40, 40)]
    features, owner = online.path(long)
    assert len(features) <= online.MAX_POINTS + 2 * online.REST and set(owner[owner >= 0]) == set(range(200))


@pytest.mark.parametrize("strokes", [[np.array([[5.0, 5.0]])], [np.array([[5.0, 5]]), np.array([[5.0, 5]])]])
def test_dots_still_give_a_finite_path(strokes):
    features, owner = online.path(strokes)
    assert np.isfinite(features).all() and len(features) == 2 * online.REST
