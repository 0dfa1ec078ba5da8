"""The pretrained recognizer run and fine-tuned in TensorFlow (training/onnx_graph.py, training/digits_finetune.py)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from support import PEN_FIXTURE

from app import ROOT
from app.reader import line, pretrained
from training import digits_finetune, lines
from training.digits_head import FitRefusedError
from training.onnx_graph import OnnxGraph

SHIPPED = ROOT / "models" / "digits_rec.onnx"


def _writers() -> list:
    records = json.loads(PEN_FIXTURE.read_text())
    return lines.pen_writers([{**r, "writer": 1, "strokes": [np.array(s, float) for s in r["strokes"]]}
                              for r in records[:40]])


def _strip(length: int, seed: int) -> tuple[np.ndarray, str]:
    grey, digits, _ = lines.picture(_writers()[0], np.random.default_rng(seed), length=length, gap="wide",
                                    paper="plain")
    return line.strip_of(line.writing_band(grey), pretrained.ROWS).paper, digits


@pytest.fixture(scope="module")
def graph():
    return OnnxGraph(onnx.load(str(SHIPPED)), output=digits_finetune.LOGITS)


def _served(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("length", [2, 8])
def test_tensorflow_reads_a_strip_exactly_as_onnx_runtime_does(graph, length):
    """No skew between what is trained and what is served: the same columns, narrow strip or wide."""
    paper, _ = _strip(length, seed=length)
    x = pretrained.network_input(paper)
    import tensorflow as tf

    ours = tf.nn.softmax(graph(x), -1).numpy()
    assert ours.shape == _served(graph.model, x).shape and np.abs(ours - _served(graph.model, x)).max() < 1e-4
    # the fit's batches hold each strip as the server's input, then zeros (as PaddleOCR pads)
    strip = np.round(paper * 255).astype(np.uint8)
    batch = digits_finetune.batch_input([strip, np.zeros((pretrained.ROWS, 900), np.uint8)])
    served = pretrained.network_input(strip.astype(np.float32) / 255.0)
    assert np.array_equal(batch[:1, :, :, :served.shape[3]], served) and not batch[0, :, :, served.shape[3]:].any()


def test_trained_weights_go_back_into_the_same_graph(graph):
    model = onnx.load(str(SHIPPED))
    changed = OnnxGraph(model, output=digits_finetune.LOGITS)
    bias = changed.variables["linear_8.b_0"]
    bias.assign(bias.numpy() + np.eye(bias.shape[0], dtype=np.float32)[4] * 30)  # class 4 is the digit 3
    changed.write_weights()
    columns = _served(model, pretrained.network_input(_strip(3, seed=1)[0]))[0]
    assert (columns.argmax(axis=1) == 4).all()  # the served file now reads 3 everywhere
    assert not (_served(graph.model, pretrained.network_input(_strip(3, seed=1)[0]))[0].argmax(axis=1) == 4).all()


def test_batch_norm_statistics_and_shapes_are_not_trained(graph):
    names = {name for name, v in graph.variables.items() if not v.trainable}
    statistics = {n.input[i] for n in graph.model.graph.node if n.op_type == "BatchNormalization" for i in (3, 4)}
    assert names == statistics and len(names) == 6
    assert not [name for name, v in graph.constants.items() if v.dtype == np.float32 and v.size > 1]


def test_an_operation_it_cannot_run_is_named():
    node = onnx.helper.make_node("Gather", ["x", "i"], ["y"])
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
                                   [onnx.numpy_helper.from_array(np.array([0, 1], np.int64), "i")])
    with pytest.raises(NotImplementedError, match="Gather"):
        OnnxGraph(onnx.helper.make_model(graph))(np.zeros(2, np.float32))


def test_a_fine_tune_lowers_the_ctc_loss_and_keeps_the_weights_near_the_start():
    strips, labels = digits_finetune.picture_strips(_writers(), 8, seed=5, empty_share=0.25)
    assert len(strips) >= 6 and "" in labels and all(s.dtype == np.uint8 and s.shape[0] == pretrained.ROWS
                                                    for s in strips)
    graph = OnnxGraph(onnx.load(str(SHIPPED)), output=digits_finetune.LOGITS)
    start = {name: v.numpy().copy() for name, v in graph.variables.items()}
    before = digits_finetune.ctc_loss(graph, strips, labels)
    cfg = digits_finetune.FinetuneConfig(epochs=3, batch_size=8, lr=3e-4, warmup=1)
    digits_finetune.fit(graph, strips, labels, cfg)
    assert digits_finetune.ctc_loss(graph, strips, labels) < before
    moved = [name for name, v in graph.variables.items() if not np.array_equal(v.numpy(), start[name])]
    assert "linear_8.w_0" in moved and "conv2d_68.w_0" in moved  # the first convolution trains too
    assert all(np.array_equal(graph.variables[n].numpy(), start[n]) for n in graph.variables if
               not graph.variables[n].trainable)


class _CutOffError(Exception):
    pass


@pytest.mark.parametrize("saved_at", ["mid-epoch", "an epoch's last step"])
def test_a_fine_tune_cut_off_and_resumed_ends_where_one_unbroken_run_ends(tmp_path, monkeypatch, saved_at):
    """The state saved mid-run (weights, Adam's moments, the step) brings a resumed run to the very weights
    an unbroken one reaches, and the run's losses and batches go on where they stopped."""
    strips, labels = digits_finetune.picture_strips(_writers(), 12, seed=7, empty_share=0.2)
    cfg = digits_finetune.FinetuneConfig(epochs=2, batch_size=4, lr=3e-4, warmup=1)
    per_epoch = -(-len(strips) // cfg.batch_size)
    assert per_epoch >= 3
    save_every = per_epoch if saved_at == "an epoch's last step" else per_epoch + 1
    monkeypatch.setattr(digits_finetune, "SAVE_EVERY", save_every)
    unbroken = OnnxGraph(onnx.load(str(SHIPPED)), output=digits_finetune.LOGITS)
    expected = digits_finetune.fit(unbroken, strips, labels, cfg)
    saving = digits_finetune.Saving(tmp_path / "run.resume", "cut-sha")
    calls, batch_input = [], digits_finetune.batch_input

    def cut_off_after_the_save(batch):
        calls.append(1)
        if len(calls) == save_every + 1:
            raise _CutOffError
        return batch_input(batch)

    monkeypatch.setattr(digits_finetune, "batch_input", cut_off_after_the_save)
    with pytest.raises(_CutOffError):
        digits_finetune.fit(OnnxGraph(onnx.load(str(SHIPPED)), output=digits_finetune.LOGITS), strips, labels, cfg,
                            saving=saving)
    assert json.loads((saving.folder / "state.json").read_text())["step"] == save_every
    monkeypatch.setattr(digits_finetune, "batch_input", batch_input)
    resumed = OnnxGraph(onnx.load(str(SHIPPED)), output=digits_finetune.LOGITS)
    losses = digits_finetune.fit(resumed, strips, labels, cfg, saving=dataclasses.replace(saving, resume=True))
    assert len(losses) == 2 and losses == pytest.approx(expected, abs=1e-4)
    worst = max(float(np.abs(resumed.variables[n].numpy() - unbroken.variables[n].numpy()).max())
                for n in unbroken.variables)
    assert worst < 2e-5  # retracing for the resumed run's first batch shape moves a few weights by ~5e-6


@pytest.mark.parametrize("change", ["settings", "cut model", "nothing saved"])
def test_a_resume_with_other_settings_or_another_cut_model_is_refused(tmp_path, change):
    strips, labels = digits_finetune.picture_strips(_writers(), 4, seed=8, empty_share=0.0)
    cfg = digits_finetune.FinetuneConfig(epochs=1, batch_size=2, lr=3e-4, warmup=1)
    saving = digits_finetune.Saving(tmp_path / "run.resume", "cut-sha")
    graph = OnnxGraph(onnx.load(str(SHIPPED)), output=digits_finetune.LOGITS)
    if change != "nothing saved":
        digits_finetune.save_state(saving, cfg, graph.trainable, _built_adam(graph), {"step": 1, "losses": [],
                                                                                      "total": 0.0})
    other = {"settings": (dataclasses.replace(cfg, lr=1e-4), saving),
             "cut model": (cfg, dataclasses.replace(saving, cut_sha256="another")),
             "nothing saved": (cfg, saving)}[change]
    with pytest.raises(FitRefusedError, match="--resume"):
        digits_finetune.fit(graph, strips, labels, other[0], saving=dataclasses.replace(other[1], resume=True))


def _built_adam(graph):
    import tensorflow as tf

    optimiser = tf.keras.optimizers.Adam(1e-4)
    optimiser.build(graph.trainable)
    return optimiser


def test_pictures_with_no_number_have_an_empty_target():
    strips, labels = digits_finetune.picture_strips(_writers(), 30, seed=2, empty_share=1.0)
    assert strips and set(labels) == {""}


@pytest.mark.parametrize("section", ["finetune", "head"])
def test_a_model_already_trained_on_numbers_is_not_fine_tuned_again(tmp_path, capsys, section):
    """A second run would start from the first one's weights and pull towards them, not PaddleOCR's."""
    (tmp_path / "digits_rec.onnx").write_bytes(SHIPPED.read_bytes())
    (tmp_path / "digits_rec.json").write_text(json.dumps({section: {}}))
    assert digits_finetune.main(["--model", str(tmp_path / "digits_rec.onnx"), "--pen-data", str(PEN_FIXTURE)]) == 2
    assert "already refitted" in capsys.readouterr().err


def test_the_shipped_recognizer_is_the_fine_tuned_one_its_report_describes():
    report = json.loads(SHIPPED.with_suffix(".json").read_text())
    model = onnx.load(str(SHIPPED))
    notice = {p.key: p.value for p in model.metadata_props}["notice"]
    assert notice == report["notice"] == digits_finetune.NOTICE
    finetune = report["finetune"]
    assert finetune["validation_exact_after"] > finetune["validation_exact_before"]
    assert finetune["cut_sha256"] != finetune["sha256"] == report["sha256"]
