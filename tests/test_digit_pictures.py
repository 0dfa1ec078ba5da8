"""Pictures of one digit: the CNN reads them; when it is unsure the sequence reader takes a second look,
and only its sure single digit replaces the CNN's unsure answer."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from support import png_of

from app import ROOT
from app.config import Settings
from training import lines


@pytest.fixture(scope="module")
def cnn_alone():
    from bench import scratch_app

    return scratch_app(LINE_MODEL_PATH="", PICTURE_MODEL_PATH="").test_client()  # no second look at all


@pytest.fixture(scope="module")
def paper_digits(mnist_small):
    """60 one-digit pictures on gridded and ruled paper (composed as training/lines.py composes them) from the
    fixture's MNIST test digits, grouped into 20 pretend writers."""
    pretend = np.arange(len(mnist_small["y_test"])) % 20
    writers = lines.mnist_writers(mnist_small["x_test"], mnist_small["y_test"], pretend)
    rng = np.random.default_rng(5)
    out = []
    for i in range(60):
        grey, truth, _ = lines.picture(writers[i % len(writers)], rng, length=1, paper=("grid", "ruled")[i % 2])
        out.append((cv2.imencode(".png", grey)[1].tobytes(), int(truth)))
    return out


def post(client, png: bytes) -> dict:
    response = client.post("/api/predict/image", data={"image": (io.BytesIO(png), "digit.png")})
    assert response.status_code in (200, 422)
    return response.get_json()


def test_the_second_look_reads_what_the_cnn_was_unsure_of_and_never_overrules_a_sure_cnn(client, cnn_alone,
                                                                                           paper_digits):
    right = {"alone": 0, "second look": 0}
    second_looks = 0
    for png, truth in paper_digits:
        alone, both = post(cnn_alone, png), post(client, png)
        if "error" in alone:
            continue
        assert alone["reader"] == "digit"
        if not alone["unsure"]:  # a sure CNN answer stands, to the last digit of every probability
            assert both == alone
        elif both["reader"] == "line":
            second_looks += 1
            assert not both["unsure"] and both["confidence"] >= Settings().second_look_sure
            assert both["preview"] == alone["preview"]
        right["alone"] += alone["digit"] == truth and not alone["unsure"]
        right["second look"] += both["digit"] == truth and not both["unsure"]
    assert second_looks >= 5 and right["second look"] >= right["alone"] + 5, (second_looks, right)


@pytest.mark.parametrize("recognizer, reader", [(True, "PictureByPretrained"), (False, "PictureByLine")])
def test_the_second_look_is_the_pretrained_recognizer_where_it_is_shipped(recognizer, reader):
    # It read more real digits the CNN was unsure of than the line model, and took fewer scribbles for digits.
    from bench import scratch_reader

    config = {} if recognizer else {"PICTURE_MODEL_PATH": ""}
    in_place = scratch_reader(PICTURE_PROCESS=False, **config)
    assert type(in_place.second_look).__name__ == reader
    assert in_place.second_look is in_place.picture_numbers  # the very reader /api/read/image serves


def test_a_plain_clear_digit_is_read_by_the_cnn_alone(client, mnist_small):
    body = post(client, png_of(255 - mnist_small["x_test"][0]))
    assert body["reader"] == "digit" and body["digit"] == mnist_small["y_test"][0] and not body["unsure"]


def test_a_blank_picture_is_still_a_422(client):
    response = client.post("/api/predict/image", data={"image": (io.BytesIO(png_of(np.full((80, 80), 240, np.uint8))),
                                                                 "blank.png")})
    assert response.status_code == 422 and "blank" in response.get_json()["error"]


def test_why_says_when_the_sequence_reader_answered(client, paper_digits):
    for png, _ in paper_digits:
        answer = post(client, png)
        if answer.get("reader") == "line":
            body = client.post("/api/explain", data={"image": (io.BytesIO(png), "d.png")}).get_json()
            assert body["reader"] == "line" and body["digit"] == answer["digit"]
            assert body["caption"].startswith("The single-digit network was unsure")
            assert np.asarray(body["evidence"]["answer"]).shape == (28, 28)
            return
    pytest.fail("no picture went to the second look")


def test_the_photo_block_of_make_eval_counts_every_paper(reader, mnist_small):
    from bench import digit_photo_eval

    pretend = np.arange(len(mnist_small["y_test"])) % 20
    sources = {"MNIST": lines.mnist_writers(mnist_small["x_test"], mnist_small["y_test"], pretend)}
    pictures = digit_photo_eval.compose(sources, 2, seed=3)
    result = digit_photo_eval.judge(reader, pictures)
    assert set(result) == {*lines.PAPERS, "all"} and result["all"]["count"] == 2 * len(lines.PAPERS)
    for row in result.values():
        assert abs(row["right"] + row["unsure"] + row["wrong"] - 1) < 1e-3
    assert "| all (14) |" in digit_photo_eval.table({"a reader": result})


def test_a_picture_of_a_number_sent_as_one_digit_names_the_number(client):
    """The CNN is unsure of a whole number (it is no digit); the number reader surely reads it, so the
    answer says so instead of leaving only a best guess."""
    number = (ROOT / "docs" / "examples" / "number.jpg").read_bytes()
    body = post(client, number)
    assert body["unsure"] and body["number_hint"] == "1987"
    one = post(client, (ROOT / "docs" / "examples" / "digit.jpg").read_bytes())
    assert "number_hint" not in one
