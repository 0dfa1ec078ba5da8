"""The shipped model: accurate on MNIST test digits, and the served TFLite file answers like Keras."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from app import ROOT
from app.reader.answers import describe

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
    model = app.extensions["reader"].cnn
    images = mnist_small["x_test"] / np.float32(255)
    one_by_one = np.stack([model.predict(image[None])[0] for image in images])
    assert (one_by_one.argmax(axis=1) == keras_probabilities.argmax(axis=1)).mean() >= 0.995
    assert np.abs(one_by_one - keras_probabilities).max() < 0.05
    assert np.median(np.abs(one_by_one - keras_probabilities).max(axis=1)) < 1e-3
    np.testing.assert_allclose(model.predict(images), one_by_one, atol=1e-5)  # batched too


def test_one_model_serves_many_threads_at_once(app, mnist_small):
    model = app.extensions["reader"].cnn
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
    flat = describe(np.full(10, 0.1, np.float32), image, 0.75)
    sharp = describe(np.eye(10, dtype=np.float32)[3] * 0.97 + 0.003, image, 0.75)
    assert flat["unsure"] and not sharp["unsure"] and sharp["digit"] == 3


def test_serving_never_imports_tensorflow_or_training(tmp_path):
    """Every endpoint and page served, then: nothing of TensorFlow, Keras or training/ was loaded."""
    code = ("import io, sys; import numpy as np, cv2; from app import create_app; "
            f"app = create_app({{'DATABASE_URL': 'sqlite:///{tmp_path}/c.db'}}); c = app.test_client(); "
            "seven = {'strokes': [[[0, 0], [9, 0], [3, 12]]], 'width': 20, 'height': 20}; "
            "png = cv2.imencode('.png', np.pad(np.eye(40, dtype=np.uint8) * 255, 20))[1].tobytes(); "
            "codes = [c.post('/api/predict', json=seven).status_code, c.post('/api/read', json=seven).status_code, "
            "c.post('/api/predict/image', data={'image': (io.BytesIO(png), 'a.png')}).status_code, "
            "c.post('/api/read/image', data={'image': (io.BytesIO(png), 'a.png')}).status_code, "
            "c.get('/').status_code, c.get('/model').status_code]; "
            "assert all(code < 500 for code in codes), codes; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'training')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_server_module_imports_training_code():
    """app/ is what the server runs: training-only code lives in training/, and dependencies point one way."""
    import ast

    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("training", "tensorflow", "keras")]
    assert offenders == []
    assert not {"styles.py", "letters.py", "scans.py", "strokes.py"} & {p.name for p in (ROOT / "app").glob("*.py")}


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


def test_an_empty_batch_is_answered_empty_and_the_next_batch_still_read(mnist_small):
    """A picture with no candidate digit asks for no reading: LiteRT cannot size a batch of none."""
    from app.reader.models import DigitModel

    model = DigitModel(str(ROOT / "models" / "digit_cnn.tflite"))
    assert model.predict(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)
    images = mnist_small["x_test"][:3].astype(np.float32) / 255
    assert model.predict(images).argmax(axis=1).tolist() == mnist_small["y_test"][:3].tolist()


CAPPED_PREDICT = """
import resource, sys
import numpy as np
from app.reader.models import DigitModel, MAX_BATCH
model = DigitModel(sys.argv[1])
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
cap = size + 200 * 1024 * 1024  # as the picture process caps itself: what it uses when ready, plus a budget
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
images = np.zeros((20_000, 28, 28), np.float32)
images[::7, 10:18, 13:15] = 1.0  # every seventh a 1
probabilities = model.predict(images)
print(probabilities.shape[0], int((probabilities[::7].argmax(axis=1) == 1).sum()), MAX_BATCH)
"""


def test_thousands_of_candidates_are_read_under_a_memory_cap():
    """A noisy picture can propose thousands of candidate digits; read in one batch they needed gigabytes and
    LiteRT failed to allocate under the picture process's memory cap (a 500). They are read in chunks."""
    result = subprocess.run([sys.executable, "-c", CAPPED_PREDICT, str(ROOT / "models" / "digit_cnn.tflite")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    read, ones, chunk = (int(v) for v in result.stdout.split())
    assert read == 20_000 and chunk < 20_000 and ones >= 0.9 * len(range(0, 20_000, 7))
