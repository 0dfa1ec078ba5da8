"""train.py: a tiny run makes a loadable model and a complete report; bad data is one clear line."""

import json
import subprocess
import sys

import numpy as np
import pytest
from support import MNIST_FIXTURE, PEN_FIXTURE

import train
from training import batches
from training.config import RECIPES

REPORT_KEYS = {"args", "data_sha256", "pen_data_sha256", "train_accuracy", "validation_accuracy", "test_accuracy",
               "per_class_accuracy", "confusion_matrix", "parameters", "epochs", "best_epoch", "wall_seconds",
               "history", "versions"}
PICTURES = ("training_curves.png", "confusion_matrix.png", "mistakes.png")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    status = train.main(["--data", str(MNIST_FIXTURE), "--pen-data", str(PEN_FIXTURE), "--limit", "512",
                         "--epochs", "1", "--validation", "88", "--out", str(out)])
    return status, out


def test_tiny_run_makes_a_loadable_model_and_a_complete_report(tiny_run, mnist_small):
    import keras

    status, out = tiny_run
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert report.keys() >= REPORT_KEYS
    assert report["args"]["limit"] == 512 and report["epochs"] == 1
    assert len(report["data_sha256"]) == 64 and len(report["pen_data_sha256"]) == 64
    confusion = np.array(report["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == len(mnist_small["y_test"])
    assert np.isclose(np.trace(confusion) / confusion.sum(), report["test_accuracy"])
    assert 0.3 < report["test_accuracy"] <= 1  # one epoch on 512 digits learns something
    model = keras.saving.load_model(out / "digit_cnn.keras")
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert (out / "digit_cnn.tflite").stat().st_size > 10_000
    for name in PICTURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_reprints_the_test_accuracy(tiny_run, capsys, monkeypatch, tmp_path):
    _, out = tiny_run
    report = json.loads((out / "report.json").read_text())
    monkeypatch.setenv("PENDIGITS_PATH", str(tmp_path / "missing.json"))  # evaluating needs no pen data
    assert train.main(["--evaluate", str(out / "digit_cnn.keras"), "--data", str(MNIST_FIXTURE)]) == 0
    assert f"test accuracy {report['test_accuracy']:.4f}" in capsys.readouterr().out


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


GOOD = {"x_train": np.zeros((5, 28, 28), np.uint8), "y_train": np.zeros(5, np.uint8),
        "x_test": np.zeros((3, 28, 28), np.uint8), "y_test": np.zeros(3, np.uint8)}


@pytest.mark.parametrize("name, make, message", [
    ("missing", lambda p: p, "no such file"),
    ("corrupt", lambda p: p.write_bytes(b"PK\x03\x04 definitely not a zip") and p, "not a readable .npz"),
    ("no-test", lambda p: write_npz(p, x_train=GOOD["x_train"], y_train=GOOD["y_train"]), "missing array"),
    ("shape", lambda p: write_npz(p, **{**GOOD, "x_train": np.zeros((5, 32, 32), np.uint8)}), "(N, 28, 28)"),
    ("labels", lambda p: write_npz(p, **{**GOOD, "y_test": np.array([0, 3, 11])}), "labels 0-9"),
    ("count", lambda p: write_npz(p, **{**GOOD, "y_train": np.zeros(4, np.uint8)}), "N labels"),
])
def test_malformed_data_is_one_clear_line_and_exit_2(tmp_path, capsys, name, make, message):
    path = make(tmp_path / f"{name}.npz")
    assert train.main(["--data", str(path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "--data" in err


def test_command_line_exit_status_and_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "train.py", "--data", str(tmp_path / "nope.npz")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "no such file" in result.stderr


def test_corrections_exported_from_the_app_teach_the_next_model(tmp_path):
    """People correct a style the model has never seen (an X meant as a 4); export -> train -> it reads them."""
    from app import create_app
    from app.corrections import __main__ as corrections_cli

    database = f"sqlite:///{tmp_path / 'corrections.db'}"
    client = create_app({"TESTING": True, "DATABASE_URL": database, "CORRECTIONS_PER_MINUTE": 1000}).test_client()
    rng = np.random.default_rng(0)
    for _ in range(40):
        centre, size = rng.uniform(120, 200, 2), rng.uniform(60, 100)
        cross = [[(centre + (-size, -size) + rng.normal(0, 6, 2)).tolist(), (centre + (size, size)).tolist()],
                 [(centre + (size, -size) + rng.normal(0, 6, 2)).tolist(), (centre + (-size, size)).tolist()]]
        response = client.post("/api/corrections", json={"strokes": cross, "width": 320, "height": 320, "label": 4})
        assert response.status_code == 201
    exported = tmp_path / "corrections.json"
    assert corrections_cli.main(["--database", database, "export", str(exported)]) == 0

    def held_out_accuracy(weight: int) -> float:
        out = tmp_path / f"model-{weight}"
        assert train.main(["--data", str(MNIST_FIXTURE), "--pen-data", str(PEN_FIXTURE), "--limit", "512",
                           "--epochs", "2", "--validation", "88", "--corrections", str(exported),
                           "--corrections-weight", str(weight), "--out", str(out),
                           "--letters", "0", "--styles", "0", "--scans", "0"]) == 0  # isolate them (letters: an X)
        report = json.loads((out / "report.json").read_text())["corrections"]
        assert report["trained_on"] == 32 and report["held_out_newest"] == 8  # the newest 20% judge
        return report["held_out_accuracy"]

    assert held_out_accuracy(0) < 0.5  # without them, an X is not a 4
    assert held_out_accuracy(20) >= 0.75


def test_fine_tuning_starts_from_the_given_model_and_holds_out_its_fold(tiny_run, tmp_path, pen_digits):
    """--init starts from the given weights (a near-zero learning rate leaves them as they were);
    --fold K names exactly the fold's writers as held out."""
    import keras

    from training import data

    _, base = tiny_run
    out = tmp_path / "fold2"
    assert train.main(["--data", str(MNIST_FIXTURE), "--pen-data", str(PEN_FIXTURE), "--limit", "128",
                       "--epochs", "1", "--validation", "88", "--lr", "1e-12", "--fold", "2",
                       "--init", str(base / "digit_cnn.keras"), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["held_out_writers"] == sorted({r["writer"] for r in pen_digits if data.fold_of(r) == 2})
    assert report["held_out_writers"]  # the fixture has a writer in fold 2, so this test can fail
    assert report["training_letters"] > 100
    kernels = [keras.saving.load_model(path / "digit_cnn.keras").layers[1].get_weights()[0] for path in (base, out)]
    assert np.allclose(*kernels, atol=1e-6)  # a fresh model would start from other random weights
    fresh = tmp_path / "fresh"
    assert train.main(["--data", str(MNIST_FIXTURE), "--limit", "128", "--epochs", "1", "--validation", "88",
                       "--lr", "1e-12", "--seed", "2", "--letters", "0", "--out", str(fresh)]) == 0
    assert not np.allclose(kernels[0], keras.saving.load_model(fresh / "digit_cnn.keras").layers[1].get_weights()[0],
                           atol=1e-3)


@pytest.mark.parametrize("fold", ["-1", "6"])
def test_a_fold_outside_the_folds_is_one_clear_line(fold, capsys):
    assert train.main(["--data", str(MNIST_FIXTURE), "--fold", fold]) == 2
    assert "--fold" in capsys.readouterr().err


def test_the_trajectory_model_trains_on_pen_paths_and_exports_for_the_server(tmp_path, pen_digits, monkeypatch):
    from app.reader import models, trajectory

    monkeypatch.delenv("MNIST_PATH", raising=False)  # it needs no MNIST (offline, loading it would fail)
    out = tmp_path / "trajectory"
    assert train.main(["--pen-data", str(PEN_FIXTURE), "--model", "trajectory",
                       "--epochs", "2", "--fold", "5", "--out", str(out)]) == 0
    report = json.loads((out / "trajectory_report.json").read_text())
    assert report["held_out_writers"] == [5, 10] and 0 <= report["validation_accuracy"] <= 1
    served = models.DigitModel(str(out / "trajectory.tflite"))
    paths = np.stack([trajectory.features([np.asarray(s, float) for s in r["strokes"]]) for r in pen_digits[:4]])
    probabilities = served.predict(paths)
    assert probabilities.shape == (4, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)


def test_the_trajectory_model_needs_pen_data(tmp_path, capsys):
    assert train.main(["--data", str(MNIST_FIXTURE), "--pen-data", "", "--model", "trajectory",
                       "--out", str(tmp_path)]) == 2
    assert "--pen-data" in capsys.readouterr().err


@pytest.mark.parametrize("share, expected", [(0.0, (0.0, 0.0)), (0.5, (0.35, 0.65)), (1.0, (0.95, 1.0))])
def test_scans_send_their_share_of_training_digits_through_the_picture_path(mnist_small, share, expected):
    import keras

    def first_images(scans: float) -> tuple[np.ndarray, np.ndarray]:
        # Batches of one: each draws from its own generator, so a scanned digit leaves the others as they were.
        cfg = RECIPES["cnn"].with_overrides(scans=scans, traced=0.0, scribbles=0.0, letters=0.0, batch_size=1,
                                            pen_repeat=0)
        stream = batches.make_batches(keras, x, y, [], [], cfg)
        images, targets = zip(*(stream[i] for i in range(len(x))))
        return np.concatenate(images), np.concatenate(targets)

    x, y = batches.to_images(mnist_small["x_train"][:120])[..., 0], mnist_small["y_train"][:120]
    images, targets = first_images(share)
    unscanned, same_targets = first_images(0.0)
    np.testing.assert_array_equal(targets, same_targets)  # the labels stay
    changed = np.abs(images - unscanned).reshape(len(images), -1).max(axis=1) > 0
    assert expected[0] <= changed.mean() <= expected[1]


def test_export_writes_a_quantized_tflite_that_answers_like_the_keras_model(tiny_run, mnist_small, tmp_path):
    import shutil

    import keras

    from app.reader import models

    _, out = tiny_run
    for quantize in ("none", "dynamic"):
        folder = tmp_path / quantize
        folder.mkdir()
        shutil.copy(out / "digit_cnn.keras", folder / "digit_cnn.keras")
        shutil.copy(out / "report.json", folder / "report.json")
        assert train.main(["--export", str(folder / "digit_cnn.keras"), "--quantize", quantize]) == 0
        report = json.loads((folder / "report.json").read_text())
        assert report["tflite_export"]["quantize"] == quantize
        assert report["tflite_export"]["bytes"] == (folder / "digit_cnn.tflite").stat().st_size
    float_size, int8_size = ((tmp_path / q / "digit_cnn.tflite").stat().st_size for q in ("none", "dynamic"))
    assert int8_size < 0.4 * float_size  # int8 weights: about a quarter
    images = batches.to_images(mnist_small["x_test"][:64])
    expected = keras.saving.load_model(out / "digit_cnn.keras").predict(images, verbose=0)
    exact = models.DigitModel(str(tmp_path / "none" / "digit_cnn.tflite")).predict(images)
    quantized = models.DigitModel(str(tmp_path / "dynamic" / "digit_cnn.tflite")).predict(images)
    np.testing.assert_allclose(exact, expected, atol=1e-4)
    assert np.abs(quantized - expected).max() < 0.05 and (quantized.argmax(1) == expected.argmax(1)).mean() >= 0.95


def test_exporting_something_that_is_not_a_model_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "digit_cnn.keras"
    bad.write_bytes(b"not a zip")
    assert train.main(["--export", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: not a saved Keras model") and "Traceback" not in err
    assert not (tmp_path / "digit_cnn.tflite").exists()


def test_unipen_digits_are_trained_on_and_a_fold_holds_out_whole_contributors(tmp_path, pen_digits, monkeypatch):
    """--unipen-data mixes UNIPEN digits in; --fold names the contributors it held out, and the recipe and
    config are in the report."""
    monkeypatch.delenv("MNIST_PATH", raising=False)
    unipen = tmp_path / "unipen.json"
    contributors = ["syn", "apb", "ced", "app", "apa"]  # one per fold
    unipen.write_text(json.dumps([{"label": r["label"], "writer": f"{contributors[i % 5]}/w{i % 7}",
                                   "strokes": [[[x * 0.03, y * 0.03] for x, y in s] for s in r["strokes"]]}
                                  for i, r in enumerate(pen_digits)]))
    out = tmp_path / "trajectory"
    assert train.main(["--recipe", "trajectory", "--pen-data", str(PEN_FIXTURE), "--unipen-data", str(unipen),
                       "--epochs", "1", "--fold", "2", "--out", str(out)]) == 0
    report = json.loads((out / "trajectory_report.json").read_text())
    assert report["held_out_contributors"] == ["apb"] and report["held_out_writers"] == [2]  # fixture: 2, 5, 10
    assert report["recipe"] == "trajectory" and report["config"]["epochs"] == 1 and report["config"]["fold"] == 2
    assert len(report["unipen_data_sha256"]) == 64 and report["best_epoch"] == 1


def test_recipes_set_the_options_and_flags_override_them():
    base = train.make_config(train.parse_args(["--recipe", "base"]))
    assert not base.pen and base.scans == 0 and base.letters == 0 and base.init is None
    tuned = train.make_config(train.parse_args(["--recipe", "fine-tune", "--epochs", "7", "--fold", "3"]))
    assert tuned.init == "models/base/digit_cnn.keras" and tuned.epochs == 7 and tuned.fold == 3
    assert tuned.lr == RECIPES["fine-tune"].lr and tuned.model == "cnn"
    assert train.make_config(train.parse_args(["--recipe", "trajectory"])).model == "trajectory"


def test_the_line_reader_trains_with_ctc_and_exports_for_the_server(tmp_path, mnist_small):
    """A tiny line run: numbers composed per writer, fold 5's pen writers held out, a TFLite file the
    server's LineModel reads column by column, and the report."""
    from app.reader import line

    writers = tmp_path / "writers.npz"
    np.savez(writers, train_writer=(np.arange(len(mnist_small["y_train"])) % 30).astype(np.int16))
    out = tmp_path / "line"
    assert train.main(["--recipe", "line", "--data", str(MNIST_FIXTURE), "--mnist-writers", str(writers),
                       "--pen-data", str(PEN_FIXTURE), "--unipen-data", "", "--epochs", "1", "--pictures", "32",
                       "--batch-size", "16", "--validation", "100", "--out", str(out)]) == 0
    report = json.loads((out / "line_report.json").read_text())
    assert report["recipe"] == "line" and report["held_out_writers"] == [5, 10]  # the fixture's fold-5 writers
    assert 0 <= report["validation_exact"] <= 1 and report["config"]["fold"] == 5
    columns = line.LineModel(str(out / "line.tflite")).columns(np.zeros((line.HEIGHT, 96), np.float32))
    assert columns.shape == (96 // line.STRIDE, 11) and np.allclose(columns.sum(axis=1), 1, atol=1e-4)


def test_the_online_reader_trains_with_ctc_on_composed_numbers_and_exports_for_the_server(tmp_path):
    from app.reader import online

    out = tmp_path / "online"
    assert train.main(["--recipe", "online", "--pen-data", str(PEN_FIXTURE), "--unipen-data", "", "--fold", "2",
                       "--epochs", "1", "--pictures", "32", "--batch-size", "16", "--out", str(out)]) == 0
    report = json.loads((out / "online_report.json").read_text())
    assert report["recipe"] == "online" and report["held_out_writers"] == [2]  # the fixture's fold-2 writer
    assert 0 <= report["validation_exact"] <= 1 and report["config"]["model"] == "online"
    seven = [np.array([[0.0, 0], [40, 0], [15, 60]]), np.array([[60.0, 0], [60, 60]])]
    features, _ = online.path(seven)
    frames = online.OnlineModel(str(out / "online.tflite")).frames(features)
    assert frames.shape == (len(features) // online.STRIDE, 11) and np.allclose(frames.sum(axis=1), 1, atol=1e-4)


def test_the_line_reader_needs_the_mnist_writers(tmp_path, capsys):
    assert train.main(["--recipe", "line", "--data", str(MNIST_FIXTURE), "--pen-data", str(PEN_FIXTURE),
                       "--epochs", "1", "--out", str(tmp_path)]) == 2
    assert "--mnist-writers" in capsys.readouterr().err


def test_an_existing_model_is_never_replaced_without_overwrite(tmp_path, capsys):
    shipped = tmp_path / "digit_cnn.keras"
    shipped.write_bytes(b"the shipped model")
    assert train.main(["--data", str(MNIST_FIXTURE), "--limit", "64", "--epochs", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--overwrite" in err
    assert shipped.read_bytes() == b"the shipped model"
    assert train.parse_args([]).out == "out/models"  # by default nothing is written under models/


@pytest.mark.parametrize("command", [
    ["train.py", "--evaluate", "nope.keras"],
    ["train.py", "--export", "README.md"],
    ["-m", "app.predict", "--model", "nope.tflite", "docs/examples/digit.jpg"],
    ["-m", "app.predict", "--model", "README.md", "docs/examples/digit.jpg"],
])
def test_a_bad_model_path_is_one_clear_line(command):
    result = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr


def test_without_mnist_and_offline_the_error_says_where_to_point(tmp_path, monkeypatch, capsys):
    import keras

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    monkeypatch.setenv("MNIST_PATH", "")  # set empty: no MNIST file, not even ../shared/data's
    assert train.main(["--evaluate", "models/digit_cnn.keras"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "MNIST_PATH" in err


def test_a_small_training_run_prints_no_tensorflow_chatter(tmp_path):
    result = subprocess.run([sys.executable, "train.py", "--data", str(MNIST_FIXTURE), "--limit", "64",
                             "--epochs", "1", "--validation", "32", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    for chatter in ("oneDNN", "absl", "Saved artifact", "TensorSpec", "cuda", "W0000", "I0000"):
        assert chatter not in output
    assert len(output.splitlines()) <= 6, output


def test_a_second_run_is_refused_before_tensorflow_or_any_data_is_loaded(tmp_path, monkeypatch, capsys):
    import training
    from training import run

    (tmp_path / "digit_cnn.keras").write_bytes(b"a model")
    for name, module in (("import_tensorflow", training), ("load_data", run)):
        monkeypatch.setattr(module, name, lambda *a, name=name: pytest.fail(f"{name} ran"))
    assert train.main(["--recipe", "fine-tune", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "exists" in err and "--overwrite" in err


def test_data_paths_default_to_the_variables_else_shared_data_as_the_makefile_has_it(tmp_path, monkeypatch):
    for name in ("mnist.npz", "pendigits_train.json"):
        (tmp_path / name).write_text("x")
    monkeypatch.setattr(train, "SHARED_DATA", tmp_path)
    for variable in ("MNIST_PATH", "PENDIGITS_PATH", "UNIPEN_PATH", "MNIST_WRITERS_PATH"):
        monkeypatch.delenv(variable, raising=False)
    args = train.parse_args([])
    assert (args.data, args.pen_data) == (str(tmp_path / "mnist.npz"), str(tmp_path / "pendigits_train.json"))
    assert args.unipen_data is None and args.mnist_writers is None  # not there: none
    monkeypatch.setenv("PENDIGITS_PATH", "")  # set empty: none, even where the file is
    monkeypatch.setenv("MNIST_PATH", "/elsewhere/mnist.npz")
    args = train.parse_args([])
    assert args.pen_data is None and args.data == "/elsewhere/mnist.npz"


@pytest.mark.parametrize("recipe, warned", [("fine-tune", ["pendigits", "UNIPEN", "mnist_writers"]),
                                            ("base", ["mnist_writers"]), ("line", [])])
def test_a_missing_data_set_is_warned_about(recipe, warned):
    args = train.parse_args(["--recipe", recipe, "--pen-data", "", "--unipen-data", "", "--mnist-writers", ""])
    warnings = train.missing_sources(train.make_config(args), args)
    assert len(warnings) == len(warned) and all(w.split()[1].startswith(n[:5]) for w, n in zip(warnings, warned))


def test_a_run_cut_off_resumes_from_its_last_epoch_with_the_optimizers_state(tmp_path, monkeypatch, capsys):
    """--resume: a run cut off after its first of two epochs continues from the backup beside the model (the
    weights with the optimizer's state, the epoch, the history) and ends with both epochs in its report; other
    flags, or nothing to resume, are refused in one line."""
    import h5py
    import keras

    args = ["--data", str(MNIST_FIXTURE), "--pen-data", str(PEN_FIXTURE), "--limit", "256", "--epochs", "2",
            "--validation", "88", "--letters", "0", "--scans", "0", "--out", str(tmp_path)]
    assert train.main([*args, "--resume"]) == 2
    assert "no interrupted run to resume" in capsys.readouterr().err
    original = keras.callbacks.BackupAndRestore

    class CutOff(original):  # the machine goes away once the first epoch's backup is written
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.callbacks, "BackupAndRestore", CutOff)
    with pytest.raises(KeyboardInterrupt):
        train.main(args)
    backup = tmp_path / "digit_cnn.resume"
    with h5py.File(backup / "latest.weights.h5") as saved:  # the optimizer's moments, not only the weights
        assert "optimizer" in saved
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    monkeypatch.setattr(keras.callbacks, "BackupAndRestore", original)
    assert train.main([*args, "--resume", "--lr", "0.01"]) == 2
    assert "had other settings (lr)" in capsys.readouterr().err
    assert train.main([*args, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "Epoch 2/2" in printed and "Epoch 1/2" not in printed  # only the epoch that was left
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["history"]["loss"]) == 2 and len(report["history"]["val_accuracy"]) == 2
    assert report["best_epoch"] in (1, 2) and not backup.exists()


def test_balanced_sources_give_each_pen_source_an_equal_share_of_the_same_pen_items():
    """--balance-sources: as many pen items an epoch as pen_repeat gives, split equally between pendigits and
    UNIPEN (the smaller source's digits drawn more often); corrections keep their own weight."""
    pen = ([{"source": "pendigits"}] * 3 + [{"source": "unipen"}] * 6
           + [{"source": "pendigits", "correction": True}])
    plain = batches.pen_items(pen, RECIPES["fine-tune"])
    balanced = batches.pen_items(pen, RECIPES["fine-tune"].with_overrides(balance_sources=True))

    def share(items, source):
        return sum(1 for _, i in items if pen[i]["source"] == source and not pen[i].get("correction"))

    assert (share(plain, "pendigits"), share(plain, "unipen")) == (6, 12)
    assert (share(balanced, "pendigits"), share(balanced, "unipen")) == (9, 9)
    assert sum(1 for _, i in balanced if i == 9) == RECIPES["fine-tune"].corrections_weight
    assert {i for _, i in balanced} == set(range(len(pen)))  # every digit still drawn


def test_varied_pen_digits_keep_their_strokes_and_move_them_a_little_each_on_its_own():
    """--vary (augment.vary): every stroke kept, point for point, moved by a few percent of the digit's size,
    the strokes of a digit of several not all by the same amount; with --vary 0 no random number is drawn,
    so the recipes' batches stay as they were."""
    from training import augment

    four = [np.array([[30.0, 0], [0, 60], [50, 60]]), np.array([[40.0, 10], [40, 100]])]
    rng = np.random.default_rng(3)
    varied = augment.vary(four, rng)
    assert [v.shape for v in varied] == [s.shape for s in four]
    moves = [v - s for v, s in zip(varied, four)]
    assert all(0 < np.abs(m).max() < 0.2 * 100 for m in moves)  # a few percent of a 100-high digit
    assert not np.allclose(moves[0].mean(axis=0), moves[1].mean(axis=0), atol=0.5)

    record = {"strokes": four, "label": 4}
    plain = RECIPES["fine-tune"].with_overrides(styles=0.0)
    varied_cfg = plain.with_overrides(vary=1.0)
    rng_plain, rng_same = np.random.default_rng(5), np.random.default_rng(5)
    assert batches.styled_pen(record, rng_plain, plain) is four
    rng_same.random()  # the one draw that decides on a style
    assert rng_plain.random() == rng_same.random()  # and nothing more was drawn
    varied = batches.styled_pen(record, np.random.default_rng(5), varied_cfg)
    assert not all(np.allclose(a, b) for a, b in zip(varied, four))


def test_some_strokes_reversed_keeps_order_and_points_and_turns_at_least_one():
    """--directions (augment.some_reversed): the pen-path model sees a digit's strokes in their order, each drawn
    from either end, never all of them as drawn; over many draws each stroke is turned about half the time."""
    from training import augment

    four = [np.array([[30.0, 0], [0, 60], [50, 60]]), np.array([[40.0, 10], [40, 100]])]
    rng = np.random.default_rng(0)
    turned = np.zeros(2)
    for _ in range(400):
        drawn = augment.some_reversed(four, rng)
        flips = [not np.array_equal(d, s) for d, s in zip(drawn, four)]
        assert all(np.array_equal(d, s[::-1]) for d, s, f in zip(drawn, four, flips) if f)
        assert any(flips)
        turned += flips
    assert np.all((turned > 0.5 * 400) & (turned < 0.8 * 400))  # even odds, and one more when neither turned
    dot = [np.array([[5.0, 5.0]])]
    assert [d.tolist() for d in augment.some_reversed(dot, rng)] == [[[5.0, 5.0]]]


class _Keras:
    """What fresh_batches takes from Keras: a PyDataset base."""

    class utils:  # noqa: N801 - keras.utils, as the code names it
        class PyDataset:
            def __init__(self, **kwargs):
                pass


def test_a_later_stage_on_another_stream_never_repeats_the_pictures_of_the_first():
    def first_batch(stream: int) -> float:
        cfg = RECIPES["line-more"].with_overrides(pictures=4, batch_size=2, stream=stream)
        return batches.fresh_batches(_Keras, cfg, lambda rng, index: rng.random())[0]

    assert first_batch(0) == first_batch(0) != first_batch(3) != first_batch(4)
    cfg = RECIPES["line-more"]  # stream 0: the pictures every earlier run saw
    assert first_batch(0) == np.random.default_rng([cfg.seed, 0, 0]).random()
