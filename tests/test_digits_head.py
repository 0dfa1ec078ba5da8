"""The pretrained recognizer's output layer refitted to handwritten numbers (training/digits_head.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from support import PEN_FIXTURE

from app import ROOT
from app.reader import line, pretrained
from training import digits_head, lines
from training.pretrained import OUTPUT_LAYER

SHIPPED = ROOT / "models" / "digits_rec.onnx"


def _pen_writers(ids: list[int]) -> list[dict]:
    """The pen fixture's digits copied once per writer id."""
    records = json.loads(PEN_FIXTURE.read_text())
    return [{**r, "writer": writer, "strokes": [np.array(s, float) for s in r["strokes"]]}
            for writer in ids for r in records[:20]]


def _initializers(path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


@pytest.fixture
def cut_model(tmp_path):
    """A copy of the shipped recognizer whose report says it is only cut (no head fitted yet)."""
    shutil.copy(SHIPPED, tmp_path / "digits_rec.onnx")
    report = json.loads(SHIPPED.with_suffix(".json").read_text())
    report.pop("head", None)
    report.pop("finetune", None)
    (tmp_path / "digits_rec.json").write_text(json.dumps(report))
    pen = tmp_path / "pen.json"
    pen.write_text(json.dumps([{**r, "strokes": [s.tolist() for s in r["strokes"]]} for r in _pen_writers([1, 2, 3])]))
    return tmp_path / "digits_rec.onnx", pen


def test_validating_writers_are_apart_and_held_out_writers_never_used():
    training, validating = digits_head.split_writers({}, None, _pen_writers(list(range(1, 13))))
    # writers 5 and 10 are the last fold's, held out for evaluation: 10 writers remain
    assert len(training) + len(validating) == 10 and len(validating) == 1
    assert not any(t is v for t in training for v in validating)


def test_the_head_reads_features_exactly_as_the_served_model_reads_the_strip():
    """No skew: the features the fit sees, through the shipped output layer, are the served columns."""
    rng = np.random.default_rng(3)
    writer = digits_head.split_writers({}, None, _pen_writers([1, 2, 3]))[0][0]
    grey, digits, _ = lines.picture(writer, rng, length=4, gap="normal", paper="plain")
    paper = line.strip_of(line.writing_band(grey), pretrained.ROWS).paper
    features = digits_head.feature_model(str(SHIPPED)).run([digits_head.FEATURES],
                                                          {"x": pretrained.network_input(paper)})[0][0]
    weights, bias = digits_head.output_layer(str(SHIPPED))
    logits = features @ weights + bias
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    served = pretrained.PretrainedModel(str(SHIPPED)).columns(paper)
    assert np.allclose(pretrained.fold_marks(probabilities), served, atol=1e-4)
    number = line.number_of(line.greedy_decode(served))
    assert digits_head.exact([features], [number], weights, bias) == 1.0
    assert digits_head.exact([features], [number + "1"], weights, bias) == 0.0


def test_a_fit_changes_only_the_output_layer_and_reports_it(cut_model, capsys):
    model, pen = cut_model
    before = _initializers(model)
    argv = ["--model", str(model), "--pen-data", str(pen), "--pictures", "30", "--validation-pictures", "8",
            "--epochs", "1", "--lr", "0.01"]
    assert digits_head.main(argv) == 0
    after = _initializers(model)
    layer = {f"{OUTPUT_LAYER}.w_0", f"{OUTPUT_LAYER}.b_0"}
    assert all(np.array_equal(before[name], after[name]) for name in before if name not in layer)
    assert not np.array_equal(before[f"{OUTPUT_LAYER}.w_0"], after[f"{OUTPUT_LAYER}.w_0"])
    report = json.loads(model.with_suffix(".json").read_text())
    head = report["head"]
    assert head["pictures"] <= 30 and head["validation_pictures"] <= 8 and len(head["losses"]) == 1
    assert 0 <= head["validation_exact_after"] <= 1 and head["training_writers"] == 2
    assert report["sha256"] == head["sha256"] != head["cut_sha256"]
    notice = {p.key: p.value for p in onnx.load(str(model)).metadata_props}["notice"]
    assert "refitted" in report["notice"] and "refitted" in notice
    assert "read exactly" in capsys.readouterr().out
    # A second fit would start from the first: refused until the model is cut again.
    assert digits_head.main(argv) == 2
    assert "already refitted" in capsys.readouterr().err


def test_too_few_writers_is_a_clear_error(cut_model, tmp_path, capsys):
    model, _ = cut_model
    pen = tmp_path / "one.json"
    pen.write_text(json.dumps([{**r, "strokes": [s.tolist() for s in r["strokes"]]} for r in _pen_writers([1])]))
    assert digits_head.main(["--model", str(model), "--pen-data", str(pen), "--pictures", "4"]) == 2
    assert "too few writers" in capsys.readouterr().err
