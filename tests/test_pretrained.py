"""The pretrained recognizer cut to digits (training/pretrained.py, app/reader/pretrained.py) and the peer
beside it in the bench (bench/peers.py)."""

from __future__ import annotations

import hashlib
import io
import json

import cv2
import numpy as np
import pytest

from app import ROOT
from app.reader import line, pretrained
from app.reader.answers import Box
from app.reader.models import ModelError
from bench import scratch_reader
from training import pretrained as export

SHIPPED = ROOT / "models" / "digits_rec.onnx"


def tiny_recognizer(path, characters: list[str], seed: int = 0) -> np.ndarray:
    """A stand-in recognizer with the real one's output layer names: x (1, 3, 48, W) -> the mean over rows
    and channels, a (W, 4) projection, then linear_8 to blank + characters + space, softmax. Returns the
    output layer's weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    classes = len(characters) + 2
    project = rng.normal(size=(1, 4)).astype(np.float32)
    weights = rng.normal(size=(4, classes)).astype(np.float32)
    bias = rng.normal(size=(classes,)).astype(np.float32)
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0),  # (1, W)
             helper.make_node("Unsqueeze", ["m", "last"], ["u"]),  # (1, W, 1)
             helper.make_node("MatMul", ["u", "project"], ["h"]),  # (1, W, 4)
             helper.make_node("MatMul", ["h", "linear_8.w_0"], ["z"]),
             helper.make_node("Add", ["z", "linear_8.b_0"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["y"], axis=-1)]
    initializers = [numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
                    numpy_helper.from_array(np.array([2], np.int64), "last"),
                    numpy_helper.from_array(project, "project"), numpy_helper.from_array(weights, "linear_8.w_0"),
                    numpy_helper.from_array(bias, "linear_8.b_0")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 48, "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "W", classes])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    helper.set_model_props(model, {"character": "\n".join(characters)})
    onnx.save(model, str(path))
    return weights


def test_cutting_the_output_layer_is_decoding_with_only_digits_and_marks(tmp_path):
    """The cut model's probabilities are the full model's over the kept classes, renormalised: the same as
    forbidding every other character; it keeps the blank, the ten digits and the marks, in that order."""
    import onnxruntime as ort

    characters = list("!#-.ABCDEFGHIJ") + list("0123456789") + list("=/,:*+_~()'\"$abc")
    source, out = tmp_path / "full.onnx", tmp_path / "out"
    tiny_recognizer(source, characters)
    report = export.export(source, out)
    assert report["classes"] == ["blank", *pretrained.DIGITS, *pretrained.MARKS]
    keep = export.kept_classes(characters)
    assert [(["<blank>"] + characters + [" "])[k] for k in keep[1:]] == list(pretrained.DIGITS + pretrained.MARKS)
    x = np.random.default_rng(1).random((1, 3, 48, 40)).astype(np.float32)
    full = ort.InferenceSession(str(source)).run(None, {"x": x})[0][0]
    cut = ort.InferenceSession(str(out / "digits_rec.onnx")).run(None, {"x": x})[0][0]
    expected = full[:, keep] / full[:, keep].sum(axis=1, keepdims=True)
    assert cut.shape == (40, 1 + 10 + len(pretrained.MARKS)) and np.allclose(cut, expected, atol=1e-5)
    assert json.loads((out / "digits_rec.json").read_text())["sha256"] == hashlib.sha256(
        (out / "digits_rec.onnx").read_bytes()).hexdigest()


def test_a_recognizer_without_a_digit_class_is_refused():
    with pytest.raises(ValueError, match=r"no class for \['7'"):
        export.kept_classes(list("012345689") + list(pretrained.MARKS))


def test_the_shipped_model_comes_from_the_rapidocr_wheel_as_its_report_says(tmp_path):
    source = export.default_source()
    if source is None:
        pytest.skip("rapidocr is not installed (make dev installs it)")
    report = export.export(source, tmp_path)
    shipped = json.loads((ROOT / "models" / "digits_rec.json").read_text())
    assert report["source_sha256"] == shipped["source_sha256"] and report["classes"] == shipped["classes"]
    # the cut is reproduced exactly; the shipped file is that cut fine-tuned (training/digits_finetune.py)
    assert shipped["finetune"]["cut_sha256"] == report["sha256"]
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == shipped["sha256"] == shipped["finetune"]["sha256"]


def test_columns_are_the_digits_then_a_blank_holding_the_marks():
    model = pretrained.PretrainedModel(str(SHIPPED))
    paper = np.ones((pretrained.ROWS, 200), np.float32)
    columns = model.columns(paper)
    assert columns.shape == (pretrained.MIN_WIDTH // pretrained.STRIDE, 11)
    assert np.allclose(columns.sum(axis=1), 1, atol=1e-4)
    assert (columns.argmax(axis=1) == line.BLANK).all()  # blank paper: nothing read
    wide = model.columns(np.ones((pretrained.ROWS, 480), np.float32))
    assert wide.shape == (480 // pretrained.STRIDE, 11)


@pytest.mark.parametrize("content, message", [(None, "no such model file"), (b"not a model", "not an ONNX model")])
def test_a_missing_or_broken_file_is_a_model_error_naming_it(tmp_path, content, message):
    path = tmp_path / "digits_rec.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        pretrained.PretrainedModel(str(path))


def test_a_recognizer_with_other_classes_is_refused_at_start(tmp_path):
    path = tmp_path / "full.onnx"
    tiny_recognizer(path, list("0123456789AB"))
    with pytest.raises(ModelError, match="14 classes"):
        pretrained.PretrainedModel(str(path))


def number_picture(text: str) -> bytes:
    """A number written in a plain hand (OpenCV's Hershey script), dark on light paper."""
    paper = np.full((120, 60 + 48 * len(text)), 235, np.uint8)
    cv2.putText(paper, text, (20, 90), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 2.4, 30, 5, cv2.LINE_AA)
    return cv2.imencode(".png", paper)[1].tobytes()


def test_pictures_are_read_by_the_pretrained_recognizer_and_fall_back_without_it():
    """Where pictures are read (the picture process, or in place without one) the pretrained recognizer reads
    them (fused with the line reader only with PICTURE_FUSION); without its file, the line reader alone. A
    worker with a picture process does not load it."""
    in_place = scratch_reader(PICTURE_PROCESS=False)
    fused = scratch_reader(PICTURE_PROCESS=False, PICTURE_FUSION=True)
    fallback = scratch_reader(PICTURE_PROCESS=False, PICTURE_MODEL_PATH="")
    assert type(in_place.picture_numbers).__name__ == "PictureByPretrained"
    assert type(in_place.numbers.pretrained).__name__ == "LineReader"
    assert type(fused.numbers.pretrained).__name__ == "FusedLineReader"
    assert fused.number_in_picture(number_picture("40317"))["number"] == "40317"
    assert type(fallback.picture_numbers).__name__ == "PictureByLine" and fallback.numbers.pretrained is None
    shipped = scratch_reader()  # reads in its picture process, which holds the recognizer
    assert shipped.numbers.pretrained is None
    answer = shipped.number_in_picture(number_picture("40317"))
    assert in_place.number_in_picture(number_picture("40317"))["number"] == "40317"
    assert answer["number"] == "40317"
    boxes = [d["box"] for d in answer["digits"]]
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)  # left to right, within the picture
    assert all(b[0] >= 0 and b[0] + b[2] <= 60 + 48 * 5 + 1 for b in boxes)


def test_the_api_answers_a_picture_with_the_pretrained_reading(client):
    response = client.post("/api/read/image", data={"image": (io.BytesIO(number_picture("2956")), "n.png")})
    body = response.get_json()
    assert response.status_code == 200 and body["number"] == "2956" and len(body["digits"]) == 4


def test_the_peer_reads_the_digits_of_its_text():
    from bench import peers

    peer = peers.peer(peers.RapidOcr.name)
    if peer is None:
        pytest.skip("rapidocr is not installed (make dev installs it)")
    answer = peer.number_in_picture(number_picture("40317"))
    assert answer["number"] == "40317" and set(answer["number"]) <= peers.DIGITS
    with pytest.raises(Exception, match="not a picture"):
        peer.number_in_picture(b"nope")


class FixedColumns:
    """A stand-in sequence model whose columns read a fixed number: `sure` of each digit at its column."""

    rows, stride, path = 32, 4, "fixed.tflite"

    def __init__(self, number: str, sure: float, width: int = 12) -> None:
        self.table = np.full((width, 11), (1 - 0.98) / 10)
        self.table[:, line.BLANK] = 0.98
        for i, digit in enumerate(number):
            self.table[2 + 3 * i] = (1 - sure) / 10
            self.table[2 + 3 * i, int(digit)] = sure

    def read_strip(self, strip: line.Strip) -> np.ndarray:
        return self.table


@pytest.mark.parametrize("first, second, read, doubtful", [
    (("47", 0.9), ("47", 0.9), "47", False),  # agreeing: the first reader's digits, sure
    (("41", 0.45), ("47", 0.99), "47", False),  # the first barely read its 1, the second is sure of a 7
    (("41", 0.99), ("47", 0.45), "41", False),
    (("41", 0.6), ("47", 0.6), "41", True),  # equally unsure: the first wins the tie, and it is doubtful
])
def test_two_readers_are_fused_by_their_ctc_scores(first, second, read, doubtful):
    from app.reader.line_fusion import FusedLineReader

    picture = np.full((60, 120), 230, np.uint8)
    cv2.putText(picture, "47", (20, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 3)
    readers = [line.LineReader(FixedColumns(*first), line.Calibration(0.3, 0.9)),
               line.LineReader(FixedColumns(*second), line.Calibration(0.3, 0.9))]
    digits, unsure = FusedLineReader(readers, [1.0, 1.0]).read(picture)
    assert "".join(str(d.probabilities.argmax()) for d in digits) == read and unsure == doubtful


@pytest.mark.parametrize("sure, number_unsure, doubtful", [
    (0.99, 0.6, False),  # each digit's column sure: the number has most of the probability (about 0.8)
    (0.6, 0.6, True),  # each digit at 0.6: P(47) is about 0.3, under the bar
    (0.6, 0.2, False),  # ... over a lower one
    (0.6, 0.0, False),  # a calibration fitted before the bar existed never flags by it
])
def test_a_number_the_columns_give_too_little_probability_is_doubtful(sure, number_unsure, doubtful):
    picture = np.full((60, 120), 230, np.uint8)
    cv2.putText(picture, "47", (20, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 3)
    reader = line.LineReader(FixedColumns("47", sure), line.Calibration(0.3, 0.9, number_unsure))
    digits, unsure = reader.read(picture)
    assert "".join(str(d.probabilities.argmax()) for d in digits) == "47" and unsure == doubtful
    assert not any(d.unsure for d in digits)  # the digits' own bar (0.3) flags none: the number's does


class CallingReferee:
    """A stand-in referee that calls a fixed number (each digit sure, boxes 30 px apart) and notes each ask."""

    def __init__(self, number: str) -> None:
        self.number, self.asked = number, []

    def __call__(self, band: line.Band, digits: int) -> list[line.LineDigit]:
        self.asked.append(digits)
        return [line.LineDigit(np.eye(10)[int(d)], Box(30.0 * i, 5.0, 20.0, 40.0), False)
                for i, d in enumerate(self.number)]


@pytest.mark.parametrize("first, second, call, read, doubtful", [
    (("47", 0.9), ("47", 0.9), "11", "47", False),  # agreeing readers: the referee is never asked
    (("41", 0.6), ("47", 0.6), "", "41", True),  # no sure call: the CTC scores alone, a tie is doubtful
    (("41", 0.6), ("47", 0.6), "47", "47", False),  # a sure call settles the tie
    (("41", 0.3), ("47", 0.3), "17", "17", False),  # a number neither read, when both barely read theirs
    (("41", 0.999), ("47", 0.3), "47", "41", False),  # a reader far surer than the call is not overruled
])
def test_a_referee_settles_what_the_readers_dispute(first, second, call, read, doubtful):
    from app.reader.line_fusion import FusedLineReader

    picture = np.full((60, 120), 230, np.uint8)
    cv2.putText(picture, "47", (20, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 3)
    readers = [line.LineReader(FixedColumns(*first), line.Calibration(0.2, 0.9)),
               line.LineReader(FixedColumns(*second), line.Calibration(0.2, 0.9))]
    referee = CallingReferee(call)
    digits, unsure = FusedLineReader(readers, [1.0, 1.0], referee).read(picture)
    assert "".join(str(d.probabilities.argmax()) for d in digits) == read and unsure == doubtful
    assert referee.asked == ([] if first[0] == second[0] else [2])  # told the most digits either read
    if read not in (first[0], second[0]):  # a number only the referee read comes with its own boxes
        assert [d.box for d in digits] == [d.box for d in referee(None, 2)]


class CountedColumns(FixedColumns):
    """FixedColumns that counts how often it is read."""

    def __init__(self, number: str, sure: float) -> None:
        super().__init__(number, sure)
        self.reads = 0

    def read_strip(self, strip: line.Strip) -> np.ndarray:
        self.reads += 1
        return super().read_strip(strip)


@pytest.mark.parametrize("first, second, look, read", [
    (("47", 0.9), ("47", 0.9), ("41", 0.99), "47"),  # agreeing readers: no second look is taken
    (("41", 0.6), ("47", 0.6), ("47", 0.9), "47"),  # a tie, settled by the second look
    (("41", 0.6), ("47", 0.6), ("17", 0.99), "17"),  # a number only the second look read, read surely
])
def test_a_second_look_is_taken_only_where_the_readers_differ(first, second, look, read):
    from app.reader.line_fusion import FusedLineReader

    picture = np.full((60, 120), 230, np.uint8)
    cv2.putText(picture, "47", (20, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 3)
    readers = [line.LineReader(FixedColumns(*first), line.Calibration(0.2, 0.9)),
               line.LineReader(FixedColumns(*second), line.Calibration(0.2, 0.9))]
    second_look = CountedColumns(*look)
    wider = line.LineReader(second_look, line.Calibration(0.2, 0.9))
    fused = FusedLineReader(readers, [1.0, 1.0], None, [(wider, 2.0)])
    digits, _ = fused.read(picture)
    assert "".join(str(d.probabilities.argmax()) for d in digits) == read
    assert second_look.reads == (first[0] != second[0])


def test_a_stretched_strip_is_wider_and_maps_back_to_the_same_picture():
    paper = np.full((80, 200), 235, np.uint8)
    cv2.putText(paper, "2956", (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 25, 4)
    band = line.writing_band(paper)
    plain, wide = line.strip_of(band, 32), line.strip_of(band, 32, 1.25)
    assert wide.paper.shape[1] == round(plain.paper.shape[1] * 1.25)
    assert wide.x_scale * wide.paper.shape[1] == pytest.approx(plain.x_scale * plain.paper.shape[1])
    assert (wide.left, wide.top, wide.y_scale) == (plain.left, plain.top, plain.y_scale)


def test_the_segmenter_referees_only_a_plain_sure_reading():
    """The segmenter calls a clearly written number with boxes on its digits in the picture's pixels, and
    makes no call on ink that falls into far more pieces than the readers' digits."""
    from app.reader.number_readers import SegmenterReferee

    reader = scratch_reader(PICTURE_PROCESS=False)
    referee = SegmenterReferee(reader.numbers.cnn, reader.settings.unsure_threshold)
    paper = np.full((240, 600), 235, np.uint8)
    for i, digit in enumerate("307"):
        cv2.putText(paper, digit, (60 + 150 * i, 190), cv2.FONT_HERSHEY_SIMPLEX, 5, 25, 14, cv2.LINE_AA)
    called = referee(line.writing_band(paper), 3)
    assert "".join(str(d.probabilities.argmax()) for d in called) == "307"
    for i, digit in enumerate(called):
        x, y, w, h = digit.box
        assert 60 + 150 * i - 10 <= x and x + w <= 60 + 150 * i + 130 and y >= 40 and y + h <= 215
    hatched = paper.copy()
    for x in range(0, 600, 9):
        cv2.line(hatched, (x, 30), (x + 40, 210), 25, 2)
    assert referee(line.writing_band(hatched), 3) == []


def test_the_referee_cuts_no_more_pieces_than_the_digits_read_need(monkeypatch):
    """Its cost is bounded by what the readers read (6 pieces a digit), and by 60 pieces however long."""
    from app.reader import number_readers, picture_segmenter
    from app.reader.number_readers import SegmenterReferee

    reader = scratch_reader(PICTURE_PROCESS=False)
    referee = SegmenterReferee(reader.numbers.cnn, reader.settings.unsure_threshold)
    paper = np.full((120, 400), 235, np.uint8)
    cv2.putText(paper, "4071", (30, 95), cv2.FONT_HERSHEY_SIMPLEX, 3, 25, 9, cv2.LINE_AA)
    band = line.writing_band(paper)
    caps = []
    cut = picture_segmenter.picture_candidates
    monkeypatch.setattr(picture_segmenter, "picture_candidates",
                        lambda mask, most: caps.append(most) or cut(mask, most))
    assert len(referee(band, 4)) == 4 and referee(band, 40) and caps == [24, 60]
    assert referee(band, 1) == []  # "4071" is more than 6 pieces of centre line: no call on it as one digit
    monkeypatch.setattr(number_readers, "REFEREE_PIECES", 60)
    assert len(referee(band, 1)) == 4  # the cap, not the reading, withheld that call
    assert number_readers.REFEREE_MOST <= picture_segmenter.MAX_SEGMENTS


def test_where_we_and_the_peer_disagree_is_counted_by_who_was_right_and_drawn(tmp_path):
    from bench import line_eval

    pictures = [{"png": number_picture(t), "truth": t, "paper": "plain"} for t in ("12", "34", "56", "78")]
    ours = [{"number": n} for n in ("12", "34", "50", "99")]
    peer = [{"number": n} for n in ("12", "31", "56", "77")]
    found = line_eval.disagreement(pictures, ours, peer)
    assert found["count"] == 3 and found["who_is_right"] == {"ours_right": 1, "peer_right": 1, "both_wrong": 1}
    assert [e["index"] for e in found["examples"]] == [1, 2, 3]
    sheet = tmp_path / "sheet.png"
    line_eval.disagreement_sheet(pictures, found["examples"], str(sheet))
    assert cv2.imread(str(sheet)).shape[0] == 3 * (90 + 36 + 8)  # one captioned tile per disagreement


def test_every_compared_reader_can_be_named_on_the_command_line():
    """--readers is comma-separated: a column name with a comma could never be chosen."""
    from bench import line_eval, number_eval

    assert not [name for name in [*line_eval.READERS, *number_eval.READERS] if "," in name]
