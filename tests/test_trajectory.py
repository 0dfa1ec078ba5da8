"""The pen path the trajectory model reads, and its fusion with the image CNN in /api/predict."""

import numpy as np
import pytest
from support import canvas_payload

from app import create_app
from app.reader import trajectory

TWO_STROKES = [np.array([[10.0, 10], [10, 60], [40, 60]]), np.array([[40.0, 10], [40, 90]])]  # a 4


def test_a_drawing_becomes_a_fixed_length_path_with_one_flag_per_pen_lift():
    path = trajectory.features(TWO_STROKES)
    assert path.shape == (trajectory.POINTS, trajectory.FEATURES) and path.dtype == np.float32
    assert path[:, 4].sum() == 1 and path[0, 4] == 0  # one lift, and not before the first point
    assert np.abs(path[:, :2]).max() <= 0.5 + 1e-6  # scaled into a unit box about the centre


def test_the_path_ignores_where_and_how_big_the_drawing_is():
    moved = [s * 3.7 + (200, -50) for s in TWO_STROKES]
    assert np.allclose(trajectory.features(TWO_STROKES), trajectory.features(moved), atol=1e-5)


def test_many_drawings_sharing_strokes_get_the_paths_they_get_one_by_one():
    """features_many (a number's candidate digits share strokes, measured once) equals features per drawing."""
    dot, bar = np.array([[70.0, 5.0]]), np.array([[0.0, 30], [90, 31]])
    drawings = [TWO_STROKES, TWO_STROKES[:1], [TWO_STROKES[1], bar], [dot, bar, TWO_STROKES[0]], [dot]]
    many = trajectory.features_many(drawings)
    assert many.shape == (len(drawings), trajectory.POINTS, trajectory.FEATURES)
    assert all(np.allclose(one, trajectory.features(d), atol=1e-6) for one, d in zip(many, drawings))


def test_the_path_follows_the_pen_direction():
    reversed_drawing = [s[::-1] for s in TWO_STROKES[::-1]]
    assert not np.allclose(trajectory.features(TWO_STROKES), trajectory.features(reversed_drawing))


@pytest.mark.parametrize("drawing", [
    [np.array([[5.0, 5.0]])],  # a dot
    [np.array([[5.0, 5.0], [5.0, 5.0]])] * 3,  # three taps in one place
    [np.array([[i, 0.0], [i, 1.0]]) for i in range(200)],  # more strokes than points in the path
])
def test_degenerate_drawings_still_give_a_finite_path(drawing):
    path = trajectory.features(drawing)
    assert path.shape == (trajectory.POINTS, trajectory.FEATURES) and np.isfinite(path).all()
    assert path[:, 4].sum() <= len(drawing) - 1


def test_drawings_are_read_by_both_models_and_pictures_by_the_cnn_alone(app, tmp_path, pen_digits):
    assert app.extensions["reader"].fusion.path_model is not None  # the shipped trajectory model is served
    cnn_only = create_app({"TESTING": True, "TRAJECTORY_MODEL_PATH": "",
                           "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}).test_client()
    fused = app.test_client()
    assert fused.get("/api/health").get_json()["trajectory_model"] == "trajectory.tflite"
    assert cnn_only.get("/api/health").get_json()["trajectory_model"] is None
    differ = 0
    for record in pen_digits[:20]:
        a = fused.post("/api/predict", json=canvas_payload(record["strokes"])).get_json()
        b = cnn_only.post("/api/predict", json=canvas_payload(record["strokes"])).get_json()
        assert a["digit"] == b["digit"] == record["label"]
        assert abs(sum(a["probabilities"]) - 1) < 1e-4
        # Both are sure of the digit; the path model shows in how unlikely the other classes are.
        logs = [np.log(np.array(x["probabilities"]) + 1e-6) for x in (a, b)]
        differ += np.abs(logs[0] - logs[1]).max() > 0.5
    assert differ >= 15  # the path model changes the answer's probabilities, not just its name
