"""The shipped model: accurate on MNIST test digits, and the served TFLite file answers like Keras."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from app import ROOT, inference

KERAS_MODEL = ROOT / "models" / "digit_cnn.keras"


@pytest.fixture(scope="module")
def keras_probabilities(mnist_small):
    import keras

    model = keras.saving.load_model(KERAS_MODEL, compile=False)
    return model.predict(mnist_small["x_test"][..., None] / np.float32(255), verbose=0)


def test_shipped_model_classifies_the_fixture(keras_probabilities, mnist_small):
    accuracy = (keras_probabilities.argmax(axis=1) == mnist_small["y_test"]).mean()
    assert accuracy >= 0.99


def test_litert_answers_like_keras_on_every_fixture_image(app, keras_probabilities, mnist_small):
    """The served file stores int8 weights (train.py --quantize dynamic): the same digits, nearly the same
    probabilities, and a batch answers exactly as its images do one by one."""
    model = app.extensions["digit_model"]
    images = mnist_small["x_test"] / np.float32(255)
    one_by_one = np.stack([model.predict(image[None])[0] for image in images])
    assert (one_by_one.argmax(axis=1) == keras_probabilities.argmax(axis=1)).mean() >= 0.995
    assert np.abs(one_by_one - keras_probabilities).max() < 0.05
    assert np.median(np.abs(one_by_one - keras_probabilities).max(axis=1)) < 1e-3
    np.testing.assert_allclose(model.predict(images), one_by_one, atol=1e-5)  # batched too


def test_one_model_serves_many_threads_at_once(app, mnist_small):
    model = app.extensions["digit_model"]
    images = mnist_small["x_test"][:120] / np.float32(255)
    alone = [model.predict(images[i:i + 1 + i % 3]) for i in range(117)]

    def predict_in_turn(indices):  # single images and batches mixed, as the two routes and the CLI do
        return [model.predict(images[i:i + 1 + i % 3]) for i in indices]

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(predict_in_turn, [range(k, 117, 6) for k in range(6)]))
    for k, answers in enumerate(results):
        for i, answer in zip(range(k, 117, 6), answers):
            np.testing.assert_array_equal(answer, alone[i])


def test_describe_flags_flat_answers_unsure():
    image = np.zeros((28, 28), np.float32)
    flat = inference.describe(np.full(10, 0.1, np.float32), image, 0.75)
    sharp = inference.describe(np.eye(10, dtype=np.float32)[3] * 0.97 + 0.003, image, 0.75)
    assert flat["unsure"] and not sharp["unsure"] and sharp["digit"] == 3


def test_serving_never_imports_tensorflow(tmp_path):
    code = ("import sys; from app import create_app; "
            f"app = create_app({{'DATABASE_URL': 'sqlite:///{tmp_path}/c.db'}}); "
            "c = app.test_client(); r = c.post('/api/predict', json={'strokes': [[[0, 0], [0, 9]]], "
            "'width': 10, 'height': 10}); assert r.status_code == 200, r.data; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_command_line_predicts_image_files(tmp_path, mnist_small):
    import cv2

    paths = []
    for i in range(3):
        path = tmp_path / f"digit{i}.png"
        cv2.imwrite(str(path), 255 - cv2.resize(mnist_small["x_test"][i], (112, 112)))
        paths.append(str(path))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"no")
    result = subprocess.run([sys.executable, "-m", "app.predict", *paths, str(broken)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1 and "broken.jpg: error" in result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(": ")[1].split()[0] for line in lines] == [str(d) for d in mnist_small["y_test"][:3]]
    assert all("%" in line for line in lines)
