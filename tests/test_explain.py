"""POST /api/explain and python -m app.predict --explain: the answer /api/predict gives, and why."""

from __future__ import annotations

import base64
import io
import logging

import cv2
import numpy as np
import pytest
from support import BAD_STROKES, SEVEN, canvas_payload, png_of

from app import predict as cli
from app.reader import explain, lookalikes
from bench import explain_eval


def decoded(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return cv2.imdecode(np.frombuffer(base64.b64decode(data_url.split(",", 1)[1]), np.uint8), cv2.IMREAD_GRAYSCALE)


def picture_of(image: np.ndarray) -> dict:
    return {"image": (io.BytesIO(png_of(image)), "digit.png")}


def test_a_drawing_is_answered_as_predict_answers_it_with_every_part_of_why(client):
    predicted = client.post("/api/predict", json=SEVEN).get_json()
    response = client.post("/api/explain", json=SEVEN)
    body = response.get_json()
    assert response.status_code == 200
    for key in ("digit", "probabilities", "confidence", "unsure", "preview"):
        assert body[key] == predicted[key]
    assert body["runner_up"] == int(np.argsort(body["probabilities"])[-2]) != body["digit"]
    assert f"for {body['digit']}" in body["caption"]
    for key in ("answer", "runner_up", "more_like_runner_up"):
        assert np.asarray(body["evidence"][key]).shape == (28, 28)
    assert [len(s) for s in body["evidence"]["drawing"]["answer"]] == [len(s) for s in SEVEN["strokes"]]
    assert body["fusion"]["fused"] == pytest.approx(body["probabilities"], abs=1e-5)
    assert body["fusion"]["path"] is not None and body["fusion"]["path_weight"] == 0.5
    assert len(body["neighbours"]) == explain.LOOKALIKES
    assert body["neighbours"][0]["label"] == body["digit"]
    assert [n["similarity"] for n in body["neighbours"]] == sorted((n["similarity"] for n in body["neighbours"]),
                                                                   reverse=True)
    assert {n["source"] for n in body["neighbours"]} <= set(lookalikes.SOURCES)
    assert {n["label"] for n in body["runner_up_neighbours"]} == {body["runner_up"]}
    assert all(decoded(n["png"]).shape == (28, 28) for n in body["neighbours"] + body["runner_up_neighbours"])
    assert [layer["shape"] for layer in body["layers"]] == [[28, 28, 32], [14, 14, 48], [14, 14, 48], [7, 7, 96]]
    for layer in body["layers"]:
        assert layer["note"] and len(layer["maps"]) == explain.MAPS_PER_LAYER
        assert [m["strength"] for m in layer["maps"]] == sorted((m["strength"] for m in layer["maps"]), reverse=True)
        assert all(decoded(m["png"]).shape == tuple(layer["shape"][:2]) for m in layer["maps"])


def test_the_evidence_lies_on_the_ink_and_its_drawing_mapping_lands_on_the_ink(client):
    body = client.post("/api/explain", json=SEVEN).get_json()
    seen = decoded(body["preview"]) > 255 * explain.INK
    evidence = {key: np.asarray(body["evidence"][key]) for key in ("answer", "runner_up", "more_like_runner_up")}
    assert not evidence["answer"][~seen].any() and not evidence["runner_up"][~seen].any()
    assert not evidence["more_like_runner_up"][seen].any() and (evidence["more_like_runner_up"] >= 0).all()
    assert evidence["answer"].max() > 0
    scale, dx, dy = body["evidence"]["drawing"]["to_image"]
    for stroke, values in zip(SEVEN["strokes"], body["evidence"]["drawing"]["answer"]):
        for (x, y), value in zip(stroke, values):
            row, column = int(y * scale + dy), int(x * scale + dx)
            assert seen[row, column], (x, y)  # every drawn point lands on the ink the network saw
            assert value == evidence["answer"][row, column]


def test_a_picture_is_answered_as_predict_image_answers_it(client, mnist_small):
    paper = 255 - mnist_small["x_test"][3]
    predicted = client.post("/api/predict/image", data=picture_of(paper)).get_json()
    body = client.post("/api/explain", data=picture_of(paper)).get_json()
    for key in ("digit", "probabilities", "confidence", "unsure", "preview"):
        assert body[key] == predicted[key]
    assert body["evidence"]["drawing"] is None and body["fusion"] is None
    assert body["neighbours"][0]["label"] == body["digit"] == mnist_small["y_test"][3]


def test_erasing_the_ink_the_evidence_ranks_first_costs_more_than_erasing_ink_at_random(app, pen_digits):
    explainer = app.extensions["reader"].why.explainer
    rng = np.random.default_rng(0)
    from app.reader import preprocessing

    judged = [explain_eval.judge(explainer, preprocessing.render_strokes(r["strokes"]), rng) for r in pen_digits]
    assert np.mean([j["wins"] for j in judged]) >= 0.9
    block = explain_eval.summary(judged, [r["label"] for r in pen_digits], 0.75)
    assert block["deletion_area_evidence"] < block["deletion_area_random"] - 0.1
    assert block["nearest_agrees_with_answer"] >= 0.95


@pytest.mark.parametrize("body, status, words", BAD_STROKES)
def test_every_bad_drawing_gets_the_same_4xx_as_predict(client, body, status, words):
    response = client.post("/api/explain", json=body)
    assert response.status_code == status == client.post("/api/predict", json=body).status_code
    assert words in response.get_json()["error"]


@pytest.mark.parametrize("kwargs, status, words", [
    ({"data": {"picture": (io.BytesIO(b"x"), "x.png")}}, 400, "image"),
    ({"data": {"image": (io.BytesIO(b"not an image"), "x.png")}}, 400, "decode"),
    ({"data": {"image": (io.BytesIO(b""), "x.png")}}, 400, "empty"),
    ({"data": picture_of(np.full((60, 60), 255, np.uint8))}, 422, "blank"),
    ({"data": picture_of(np.full((9000, 9000), 255, np.uint8))}, 413, "too large"),
    ({"data": "{}", "content_type": "text/plain"}, 415, "application/json"),
    ({"data": "{", "content_type": "application/json"}, 400, "JSON"),
])
def test_every_bad_picture_or_type_is_a_json_4xx(client, kwargs, status, words):
    response = client.post("/api/explain", **kwargs)
    assert response.status_code == status
    assert words in response.get_json()["error"]


def test_a_tap_is_unsure_as_it_is_on_predict(client):
    tap = {"strokes": [[[150, 150], [151, 150]]], "width": 300, "height": 300}
    assert client.post("/api/explain", json=tap).get_json()["unsure"] is True


@pytest.mark.parametrize("rows, columns, region", [((2, 5), (2, 5), "top left"), ((18, 22), (10, 14), "bottom"),
                                                    ((12, 15), (19, 22), "right")])
def test_the_caption_names_where_the_weight_lies_within_the_ink(rows, columns, region):
    image = np.zeros((28, 28), np.float32)
    image[2:22, 2:22] = 1.0
    weights = np.zeros((28, 28))
    weights[slice(*rows), slice(*columns)] = 1.0
    assert explain.region_of(weights, image) == region


def test_a_bank_made_by_another_model_is_refused_and_explanations_go_on_without_it(tmp_path, caplog):
    from app import create_app

    stale = tmp_path / "stale.npz"
    lookalikes.LookalikeBank(np.zeros((3, 28, 28), np.uint8), np.arange(3), np.zeros(3), np.eye(3, 128),
                             "0" * 64).save(stale)
    with pytest.raises(lookalikes.BankError, match="another model"):
        lookalikes.LookalikeBank.load(stale, "1" * 64)
    with caplog.at_level(logging.WARNING):
        app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "LOOKALIKES_PATH": str(stale)})
    assert "make lookalikes" in caplog.text
    body = app.test_client().post("/api/explain", json=SEVEN).get_json()
    assert body["digit"] == 7 and body["neighbours"] == [] and body["layers"]


def test_the_bank_finds_the_most_similar_first_and_filters_by_label():
    embeddings = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.7, 0.7, 0]], np.float32)
    bank = lookalikes.LookalikeBank(np.zeros((4, 28, 28), np.uint8), np.array([1, 2, 3, 2]), np.array([0, 1, 2, 1]),
                                    embeddings, "x")
    assert [n.index for n in bank.nearest(np.array([1.0, 0.05, 0]), 3)] == [0, 1, 3]
    assert [n.index for n in bank.nearest(np.array([1.0, 0.05, 0]), 5, label=2)] == [1, 3]
    assert bank.nearest(np.array([1.0, 0, 0]), 2)[1].source == "pendigits"


def test_the_cli_writes_a_sheet_of_why(tmp_path, mnist_small, capsys):
    picture = tmp_path / "four.png"
    picture.write_bytes(png_of(255 - mnist_small["x_test"][4]))
    assert cli.main([str(picture), "--explain", "--sheet-dir", str(tmp_path)]) == 0
    sheet = cv2.imread(str(tmp_path / "four.why.png"))
    assert sheet is not None and sheet.shape[0] > 600 and sheet.shape[1] > 500
    assert capsys.readouterr().out.startswith(f"{picture}: {mnist_small['y_test'][4]} (")


def test_the_pen_path_share_is_reported_only_where_a_path_model_answers(tmp_path):
    from app import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "TRAJECTORY_MODEL_PATH": ""})
    body = app.test_client().post("/api/explain", json=canvas_payload(
        [[[100, 100], [400, 100], [220, 450]]])).get_json()
    assert body["fusion"]["path"] is None and body["fusion"]["path_weight"] == 0.0
    assert body["fusion"]["picture"] == pytest.approx(body["probabilities"], abs=1e-5)


def test_explanations_wait_in_the_bounded_pool_and_get_a_quick_503_past_it():
    import threading
    import time

    from app import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "OFFLOAD_MAX_WAITING": 1,
                      "OFFLOAD_DEADLINE": 0.3})
    release = threading.Event()
    blocker = threading.Thread(target=app.extensions["reader"].run, args=(release.wait, 5))
    blocker.start()  # the one pool thread is busy and the queue is full
    time.sleep(0.05)
    try:
        started = time.monotonic()
        response = app.test_client().post("/api/explain", json=SEVEN)
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert "busy" in response.get_json()["error"] and time.monotonic() - started < 1
        assert app.test_client().post("/api/predict", json=SEVEN).status_code == 200  # drawing goes on
    finally:
        release.set()
        blocker.join()
    assert app.test_client().post("/api/explain", json=SEVEN).get_json()["digit"] == 7


def test_the_explanations_block_of_make_eval_runs_on_every_fold(tmp_path):
    from support import MNIST_FIXTURE, PEN_FIXTURE

    assert explain_eval.main(["--pen-data", str(PEN_FIXTURE), "--unipen-data", "", "--data", str(MNIST_FIXTURE),
                              "--per-fold", "4", "--out", str(tmp_path)]) == 0
    import json

    block = json.loads((tmp_path / "explain_eval.json").read_text())
    assert block["folds"] == 5 and 0 < block["digits"] <= 20
    assert len(block["deletion_curve_evidence"]) == len(block["deletion_curve_random"]) == 11
    assert block["deletion_curve_evidence"][0] == block["deletion_curve_random"][0]  # nothing erased yet
    assert 0 <= block["faithfulness_wins"] <= 1 and 0 <= block["knn1_accuracy"] <= 1
