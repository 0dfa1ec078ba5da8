"""The JSON API: answers for real drawings and pictures, and a clear 4xx JSON error for bad input."""

import io
import json
import math

import cv2
import numpy as np
import pytest
from support import BAD_STROKES, SEVEN, canvas_payload, png_of

from app.config import Settings
from app.errors import InputError
from app.reader.drawing import parse_strokes
from training import augment as pen_augment
from training import data as pen_data


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


def test_real_pen_digits_are_recognised(client, pen_digits):
    held_out = [r for r in pen_digits if r["writer"] in pen_data.EVAL_WRITERS]
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
    flags = [client.post("/api/predict", json={"strokes": [(s * 3).tolist() for s in pen_augment.random_scribble(rng)],
                                               "width": 300, "height": 300}).get_json()["unsure"]
             for _ in range(40)]
    assert sum(flags) >= 30


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
    with pytest.raises(InputError, match="on the canvas"):  # a huge int is a number, but off the canvas
        parse_strokes(body, Settings())
    body["strokes"].pop()
    arrays = parse_strokes(body, Settings())
    assert [a.dtype for a in arrays] == [np.float64, np.float64]
    assert [a.tolist() for a in arrays] == [[[1.0, 2.5], [3.0, 4.0]], [[7.25, 8.0]]]


@pytest.mark.parametrize("raw", ["[" * 970 + "]" * 970, '{"a":' * 5000 + "1" + "}" * 5000,
                                 '{"strokes": ' + "[" * 100_000 + "]" * 100_000 + "}"])
def test_deeply_nested_json_is_400_not_a_crash(client, raw):
    response = client.post("/api/predict", data=raw, content_type="application/json")
    assert response.status_code in (400, 413)
    assert response.get_json()["error"]


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00garbage", b'{"strokes": "\xc3\x28"}', b"\x00" * 64, b"1" * 5000])
def test_bytes_that_are_not_json_text_are_400(client, raw):
    response = client.post("/api/predict", data=raw, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"] == "the body is not valid JSON"


class BrokenStream(io.RawIOBase):
    """A request body whose reading fails part way, as a broken chunked body or a reset does in a real server."""

    def __init__(self, error: Exception) -> None:
        self.error, self.sent = error, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.sent:
            self.sent = True
            buffer[:5] = b'{"str'
            return 5
        raise self.error


@pytest.mark.parametrize("error", [OSError("Invalid chunk size"), ValueError("bad framing"), EOFError(),
                                   ConnectionResetError(), RuntimeError("the server's body reader broke")])
@pytest.mark.parametrize("path, content_type", [("/api/predict", "application/json"),
                                                ("/api/predict/image", "multipart/form-data; boundary=x")])
def test_a_body_that_fails_while_being_read_is_400(client, error, path, content_type):
    environ = {"wsgi.input": io.BufferedReader(BrokenStream(error)), "wsgi.input_terminated": True}
    response = client.post(path, data=b"", content_type=content_type, environ_overrides=environ,
                           headers={"Content-Length": ""})
    assert response.status_code == 400
    assert "could not read the request body" in response.get_json()["error"]


def test_a_body_larger_than_its_declared_length_is_cut_at_the_limit(client):
    environ = {"wsgi.input": io.BytesIO(b"[" + b" " * 700_000 + b"]"), "wsgi.input_terminated": True}
    response = client.post("/api/predict", data=b"", content_type="application/json", environ_overrides=environ,
                           headers={"Content-Length": ""})
    assert response.status_code == 413 and "at most 524288 bytes" in response.get_json()["error"]


@pytest.mark.parametrize("content_type", ["application/vnd.api+json", "application/problem+json", "text/json",
                                          "application/jsonx", "multipart/form-data", ""])
def test_only_application_json_is_accepted(client, content_type):
    response = client.post("/api/predict", data=json.dumps(SEVEN),
                           headers={"Content-Type": content_type} if content_type else {})
    assert response.status_code == 415 and "application/json" in response.get_json()["error"]


def test_application_json_with_a_charset_is_accepted(client):
    response = client.post("/api/predict", data=json.dumps(SEVEN),
                           content_type="application/json; charset=utf-8")
    assert assert_answer(response)["digit"] == 7


def test_pictures_must_come_as_multipart(client):
    response = client.post("/api/predict/image", data=png_of(np.zeros((9, 9), np.uint8)), content_type="image/png")
    assert response.status_code == 415 and "multipart/form-data" in response.get_json()["error"]


@pytest.mark.parametrize("path, allow", [("/api/predict", "OPTIONS, POST"), ("/api/predict/image", "OPTIONS, POST"),
                                         ("/api/health", "GET, HEAD, OPTIONS")])
def test_options_says_which_methods_with_no_body(client, path, allow):
    response = client.open(path, method="OPTIONS")
    assert response.status_code == 204 and response.data == b""
    assert response.headers["Allow"] == allow


def test_options_on_an_unknown_api_path_is_a_json_404(client):
    response = client.open("/api/nothing", method="OPTIONS")
    assert response.status_code == 404 and response.get_json()["error"]


@pytest.mark.parametrize("method, path, kwargs", [
    ("get", "/", {}), ("get", "/model", {}), ("get", "/static/js/main.js", {}), ("get", "/api/health", {}),
    ("post", "/api/predict", {"json": SEVEN}),
    ("post", "/api/predict", {"data": "{", "content_type": "application/json"}),
    ("get", "/api/predict", {}), ("get", "/nowhere", {}), ("options", "/api/predict", {}),
])
def test_every_response_carries_the_security_headers(client, method, path, kwargs):
    response = getattr(client, method)(path, **kwargs)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("gap", [5e-324, 1e-310, 1e-300, 1e-12, 0.0])
def test_a_drawing_of_vanishing_size_is_a_dot_answered_unsure(client, gap, recwarn):
    response = client.post("/api/predict", json={"strokes": [[[10, 10], [10 + gap, 10]]], "width": 300, "height": 300})
    body = assert_answer(response)
    assert body["unsure"] is True
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("strokes", [[[[150, 150]]], [[[150, 150], [153, 151]]], [[[10, 10], [12, 14]], [[11, 11]]],
                                     [[[10, 10]], [[300, 300]]], [[[10, 10]], [[300, 12]], [[150, 310], [151, 312]]]])
def test_a_tap_or_a_tiny_tick_is_unsure(client, strokes):
    """Taps are never a digit: one, or several far apart (the drawing is big, its ink is not)."""
    assert assert_answer(client.post("/api/predict", json={"strokes": strokes, "width": 320,
                                                           "height": 320}))["unsure"] is True


def test_a_small_real_digit_is_not_called_a_tick(client, pen_digits):
    record = next(r for r in pen_digits if r["label"] == 7)
    body = assert_answer(client.post("/api/predict", json=canvas_payload(record["strokes"], box=(2, 2, 40, 40))))
    assert body["digit"] == 7 and body["unsure"] is False


def test_a_drawing_that_renders_without_ink_is_422(client, monkeypatch):
    from app.reader import preprocessing
    for blank in (np.zeros((28, 28), np.float32), np.full((28, 28), np.nan, np.float32)):
        monkeypatch.setattr(preprocessing, "render_strokes", lambda strokes, image=blank: image)
        response = client.post("/api/predict", json=SEVEN)
        assert response.status_code == 422 and "no ink" in response.get_json()["error"]


def test_uploads_beyond_the_per_worker_slots_are_503_and_the_slot_comes_back(app, client, mnist_small):
    picture = png_of(255 - cv2.resize(mnist_small["x_test"][0], (100, 100)))
    slots = app.upload_slots
    taken = 0
    while slots.take():
        taken += 1
    try:
        response = client.post("/api/predict/image", data={"image": (io.BytesIO(picture), "d.png")})
        assert response.status_code == 503 and "try again" in response.get_json()["error"]
        assert response.headers["Retry-After"] == "1"
    finally:
        for _ in range(taken):
            slots.give_back()
    assert taken == app.config["UPLOADS_PER_WORKER"]
    for _ in range(taken + 2):  # every request gives its slot back, failed ones included
        client.post("/api/predict/image", data={"image": (io.BytesIO(b"junk"), "d.png")})
    assert assert_answer(client.post("/api/predict/image", data={"image": (io.BytesIO(picture), "d.png")}))


@pytest.mark.parametrize("body", [b"--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc",  # no end
                                  b"no boundary at all", b"--x--\r\n"])
def test_malformed_multipart_forms_are_400(client, body):
    response = client.post("/api/predict/image", data=body, content_type="multipart/form-data; boundary=x")
    assert response.status_code == 400 and response.get_json()["error"]


def test_static_files_are_fingerprinted_cached_and_compressed(client):
    page = client.get("/").data.decode()
    script = next(part.split('"')[0] for part in page.split('src="')[1:] if "main.js" in part)
    assert "?v=" in script
    fresh = client.get(script, headers={"Accept-Encoding": "gzip, br"})
    assert fresh.status_code == 200 and "immutable" in fresh.headers["Cache-Control"]
    assert fresh.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in fresh.headers["Vary"]
    import gzip
    plain = client.get("/static/js/main.js")
    assert gzip.decompress(fresh.data) == plain.data and len(fresh.data) < len(plain.data) / 2
    assert plain.headers["Cache-Control"] == "no-cache" and "Content-Encoding" not in plain.headers
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


def test_every_module_is_fingerprinted_through_what_it_imports(tmp_path):
    import os
    import time

    from app.web.static_files import StaticFiles

    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "main.js").write_text('import { a } from "./a.js";\nimport "./why.js";\nexport const m = a;\n')
    (tmp_path / "js" / "a.js").write_text('export { b as a } from "./b.js";\n')
    (tmp_path / "js" / "b.js").write_text("export const b = 1;\n")
    (tmp_path / "js" / "why.js").write_text("export {};\n")
    files = StaticFiles(tmp_path)
    before = {name: files.fingerprint(f"js/{name}") for name in ("main.js", "a.js", "b.js", "why.js")}
    served = files.body("js/main.js").decode()
    assert f'from "./a.js?v={before["a.js"]}"' in served and f'import "./why.js?v={before["why.js"]}"' in served
    assert f'from "./b.js?v={before["b.js"]}"' in files.body("js/a.js").decode()
    (tmp_path / "js" / "b.js").write_text("export const b = 2;\n")  # a change two imports deep
    later = time.time() + 5
    os.utime(tmp_path / "js" / "b.js", (later, later))
    after = {name: files.fingerprint(f"js/{name}") for name in ("main.js", "a.js", "b.js", "why.js")}
    assert after["b.js"] != before["b.js"] and after["a.js"] != before["a.js"]
    assert after["main.js"] != before["main.js"] and after["why.js"] == before["why.js"]


def test_a_served_module_revalidates_by_its_fingerprint(client):
    page = client.get("/").data.decode()
    script = next(part.split('"')[0] for part in page.split('src="')[1:] if "main.js" in part)
    first = client.get(script)
    assert first.headers["ETag"].strip('"') == script.split("v=")[1]
    assert client.get(script, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    imports = [line for line in first.data.decode().splitlines() if line.startswith("import")]
    assert imports and all("?v=" in line for line in imports)



@pytest.mark.parametrize("drawing_bar, picture_bar", [(0.0, 1.01), (1.01, 0.0)])
def test_a_drawing_is_unsure_by_the_drawing_bar_alone(mnist_small, drawing_bar, picture_bar):
    # The fused answer of a drawing has its own bar (DRAWING_UNSURE); the CNN's bar for pictures does not move
    # it, and /api/explain flags a drawing as /api/predict does.
    from app import create_app

    client = create_app({"TESTING": True, "DRAWING_UNSURE": drawing_bar, "UNSURE_THRESHOLD": picture_bar}).test_client()
    for route in ("/api/predict", "/api/explain"):
        body = client.post(route, json=SEVEN).get_json()
        assert body["digit"] == 7 and body["unsure"] is (drawing_bar > 1), (route, body["confidence"])
    photo = 255 - cv2.resize(mnist_small["x_test"][0], (224, 224), interpolation=cv2.INTER_CUBIC)
    picture = client.post("/api/predict/image", data={"image": (io.BytesIO(png_of(photo)), "d.png")}).get_json()
    assert picture["unsure"] is (picture_bar > 1), picture["confidence"]
