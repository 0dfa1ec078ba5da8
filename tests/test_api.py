"""The JSON API: answers for real drawings and pictures, and a clear 4xx JSON error for bad input."""

import io
import math

import cv2
import numpy as np
import pytest
from conftest import canvas_payload

from app import inputs
from app import strokes as pen_strokes

SEVEN = [[[40, 40], [200, 40], [110, 260]]]


def assert_answer(response):
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    probabilities = body["probabilities"]
    assert len(probabilities) == 10 and all(0 <= p <= 1 for p in probabilities)
    assert math.isclose(sum(probabilities), 1, abs_tol=1e-4)
    assert body["digit"] == int(np.argmax(probabilities))
    assert body["confidence"] == max(probabilities)
    assert isinstance(body["unsure"], bool)
    assert body["preview"].startswith("data:image/png;base64,")
    return body


def test_real_pen_digits_by_unseen_writers_are_recognised(client, pen_digits):
    held_out = [r for r in pen_digits if r["writer"] in pen_strokes.EVAL_WRITERS]
    assert len(held_out) >= 50
    right = sum(assert_answer(client.post("/api/predict", json=canvas_payload(r["strokes"])))["digit"] == r["label"]
                for r in held_out)
    assert right / len(held_out) >= 0.95


def test_placement_on_the_canvas_does_not_change_the_answer(client, pen_digits):
    for record in pen_digits[:10]:
        natural = client.post("/api/predict", json=canvas_payload(record["strokes"])).get_json()
        corner = client.post("/api/predict", json=canvas_payload(record["strokes"], box=(2, 2, 40, 40))).get_json()
        assert natural["digit"] == corner["digit"]
        assert np.allclose(natural["probabilities"], corner["probabilities"], atol=0.05)


def test_random_scribbles_are_flagged_unsure(client):
    rng = np.random.default_rng(2024)
    flags = [client.post("/api/predict", json={"strokes": [(s * 3).tolist() for s in pen_strokes.random_scribble(rng)],
                                               "width": 300, "height": 300}).get_json()["unsure"]
             for _ in range(40)]
    assert sum(flags) >= 30


def png_of(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, data = cv2.imencode(ext, image)
    return data.tobytes()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp"])
def test_pictures_of_digits_dark_on_light_are_recognised(client, mnist_small, ext):
    right = 0
    for digit, label in zip(mnist_small["x_test"][:40], mnist_small["y_test"][:40]):
        photo = 255 - cv2.resize(digit, (224, 224), interpolation=cv2.INTER_CUBIC)  # a big dark-on-light scan
        response = client.post("/api/predict/image", data={"image": (io.BytesIO(png_of(photo, ext)), "d" + ext)})
        right += assert_answer(response)["digit"] == label
    assert right >= 38


def test_a_picture_of_a_blank_page_is_a_422(client):
    response = client.post("/api/predict/image", data={"image": (io.BytesIO(png_of(np.full((90, 90), 240, np.uint8))),
                                                                 "blank.png")})
    assert response.status_code == 422 and "no digit" in response.get_json()["error"]


def big_points(n):
    return {"strokes": [[[i % 300, i % 200] for i in range(n)]], "width": 300, "height": 300}


BAD_STROKES = [
    pytest.param({"strokes": [], "width": 300, "height": 300}, 422, "no ink", id="no-strokes"),
    pytest.param([], 400, "JSON object", id="list-body"),
    pytest.param({"width": 300, "height": 300}, 400, "strokes", id="missing-strokes"),
    pytest.param({"strokes": "7", "width": 300, "height": 300}, 400, "strokes", id="strokes-string"),
    pytest.param({"strokes": [[]], "width": 300, "height": 300}, 400, "non-empty", id="empty-stroke"),
    pytest.param({"strokes": [[[1, 2, 3]]], "width": 300, "height": 300}, 400, "[x, y]", id="three-coordinates"),
    pytest.param({"strokes": [[[1, 2], [3]]], "width": 300, "height": 300}, 400, "[x, y]", id="ragged-points"),
    pytest.param({"strokes": [[1, 2]], "width": 300, "height": 300}, 400, "[x, y]", id="numbers-not-points"),
    pytest.param({"strokes": [[[1, 2], {"x": 1, "y": 2}]], "width": 300, "height": 300}, 400, "[x, y]",
                 id="object-point"),
    pytest.param({"strokes": [[[1, "2"]]], "width": 300, "height": 300}, 400, "finite number", id="string-coordinate"),
    pytest.param({"strokes": [[[4, 5], [6, 7], [1, False]]], "width": 300, "height": 300}, 400, "finite number",
                 id="bool-among-numbers"),
    pytest.param({"strokes": [[[1, True]]], "width": 300, "height": 300}, 400, "finite number", id="bool-coordinate"),
    pytest.param({"strokes": [[[1, None]]], "width": 300, "height": 300}, 400, "finite number", id="null-coordinate"),
    pytest.param({"strokes": [[[1, 2]]], "height": 300}, 400, "width", id="missing-width"),
    pytest.param({"strokes": [[[1, 2]]], "width": 0, "height": 300}, 400, "positive", id="zero-width"),
    pytest.param({"strokes": [[[1, 2]]], "width": -5, "height": 300}, 400, "positive", id="negative-height"),
    pytest.param({"strokes": [[[1, 2]]], "width": 1e9, "height": 300}, 400, "at most", id="absurd-canvas"),
    pytest.param({"strokes": [[[1e7, 2]]], "width": 300, "height": 300}, 400, "on the canvas", id="off-canvas"),
    pytest.param(big_points(20_000), 413, "too many points", id="too-many-points"),
    pytest.param({"strokes": [[[1, 2]]] * 500, "width": 300, "height": 300}, 413, "too many strokes", id="too-many"),
]


@pytest.mark.parametrize("body, status, message", BAD_STROKES)
def test_malformed_stroke_requests_get_a_clear_json_error(client, body, status, message):
    response = client.post("/api/predict", json=body)
    assert response.status_code == status
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("raw", ['{"strokes": [[[1, NaN]]], "width": 9, "height": 9}',
                                 '{"strokes": [[[1, Infinity]]], "width": 9, "height": 9}',
                                 '{"strokes": [[[1%s, 1]]], "width": 9, "height": 9}' % ("0" * 400),
                                 '{"strokes": [[[1, 1]]], "width": 9, "height": 1%s}' % ("0" * 400),
                                 "{not json", ""])
def test_non_finite_and_broken_json_are_400(client, raw):
    response = client.post("/api/predict", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("post", "/api/predict", {"data": "{}", "content_type": "text/plain"}, 415),
    ("post", "/api/predict", {"data": "x" * 600_000, "content_type": "application/json"}, 413),
    ("get", "/api/predict", {}, 405),
    ("put", "/api/predict/image", {}, 405),
    ("get", "/api/nothing-here", {}, 404),
    ("post", "/api/predict/image", {"data": {"picture": (io.BytesIO(b"x"), "x.png")}}, 400),
    ("post", "/api/predict/image", {"data": {"image": (io.BytesIO(b"not an image"), "x.png")}}, 400),
    ("post", "/api/predict/image", {"data": {"image": (io.BytesIO(b""), "x.png")}}, 400),
    ("post", "/api/predict/image", {"data": b"x" * (11 << 20), "content_type": "application/octet-stream"}, 413),
])
def test_wrong_method_type_size_or_file_is_a_json_4xx(client, method, path, kwargs, status):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.is_json and response.get_json()["error"]
    if status == 405:
        assert response.get_json()["error"] == f"{method.upper()} is not allowed here; use POST"


def test_pictures_with_too_many_pixels_are_refused_before_decoding(client):
    # A 9000x9000 PNG of one colour compresses to a few hundred KB but would decode to 81 MB.
    huge = png_of(np.full((9000, 9000), 255, np.uint8))
    response = client.post("/api/predict/image", data={"image": (io.BytesIO(huge), "huge.png")})
    assert response.status_code == 413 and "too large" in response.get_json()["error"]


def test_pages_and_health(client):
    assert b'id="pad"' in client.get("/").data
    page = client.get("/model")
    assert page.status_code == 200 and b"MNIST test accuracy" in page.data
    assert client.get("/model/confusion_matrix.png").mimetype == "image/png"
    assert client.get("/model/secret.txt").status_code == 404
    assert client.get("/api/health").get_json()["status"] == "ok"


def test_stroke_points_arrive_as_float_arrays_unchanged(app):
    body = {"strokes": [[[1, 2.5], [3, 4]], [[7.25, 8]], [[2**70, 1]]], "width": 10, "height": 10}
    with pytest.raises(inputs.InputError, match="on the canvas"):  # a huge int is a number, but off the canvas
        inputs.parse_strokes(body, app.config)
    body["strokes"].pop()
    arrays = inputs.parse_strokes(body, app.config)
    assert [a.dtype for a in arrays] == [np.float64, np.float64]
    assert [a.tolist() for a in arrays] == [[[1.0, 2.5], [3.0, 4.0]], [[7.25, 8.0]]]
