"""Fuzzing every endpoint that takes a body: whatever arrives, the answer is a 2xx/4xx with a JSON body,
never a 500 or an HTML page (hypothesis generates the inputs; a failure prints the smallest one)."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON_ENDPOINTS = ["/api/predict", "/api/read", "/api/explain", "/api/corrections"]
PICTURE_ENDPOINTS = ["/api/predict/image", "/api/read/image", "/api/explain", "/api/corrections"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

numbers = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 5e-324, -0.0, 1e308, 2**63]))
json_values = st.recursive(st.none() | st.booleans() | numbers | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=6),
                           max_leaves=40)
points = st.lists(st.one_of(st.tuples(numbers, numbers).map(list), json_values), min_size=0, max_size=12)
drawings = st.fixed_dictionaries(
    {"strokes": st.one_of(st.lists(points, max_size=6), json_values)},
    optional={"width": st.one_of(numbers, json_values), "height": st.one_of(numbers, json_values),
              "label": st.one_of(st.integers(-3, 12), json_values)})


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    from app import create_app
    database = tmp_path_factory.mktemp("fuzzdb") / "c.db"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}",
                       "CORRECTIONS_PER_MINUTE": 10**6}).test_client()


def assert_clean(response):
    assert response.status_code < 500, (response.status_code, response.data[:300])
    assert response.is_json, response.data[:300]
    body = response.get_json()
    assert response.status_code < 300 or isinstance(body.get("error"), str)


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@FUZZ
@given(body=st.one_of(drawings, json_values))
def test_any_json_body_gets_a_clean_answer(fuzz_client, path, body):
    raw = json.dumps(body, allow_nan=True)
    assert_clean(fuzz_client.post(path, data=raw, content_type="application/json"))


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@FUZZ
@given(raw=st.binary(max_size=300), content_type=st.sampled_from(
    ["application/json", "application/json; charset=latin-1", "text/plain", "", "application/x-www-form-urlencoded"]))
def test_any_bytes_get_a_clean_answer(fuzz_client, path, raw, content_type):
    assert_clean(fuzz_client.post(path, data=raw, headers={"Content-Type": content_type} if content_type else {}))


def mutated_picture(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, value in flips:
        out[at % len(out)] = value
    return bytes(out)


SEEDS = [cv2.imencode(ext, np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1)))[1].tobytes()
         for ext in (".png", ".jpg", ".bmp", ".webp")]


@pytest.mark.parametrize("path", PICTURE_ENDPOINTS)
@FUZZ
@given(seed=st.sampled_from(SEEDS), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 2000), label=st.sampled_from(["3", "", "x", "99"]))
def test_any_picture_gets_a_clean_answer(fuzz_client, path, seed, flips, cut, label):
    data = mutated_picture(seed, flips)[: cut or None]
    form = {"image": (io.BytesIO(data), "p"), "label": label}
    assert_clean(fuzz_client.post(path, data=form, content_type="multipart/form-data"))


@pytest.mark.parametrize("path", PICTURE_ENDPOINTS)
@FUZZ
@given(raw=st.binary(max_size=400), boundary=st.sampled_from(["x", "", "a" * 80, "é"]))
def test_any_multipart_body_gets_a_clean_answer(fuzz_client, path, raw, boundary):
    response = fuzz_client.post(path, data=b"--x\r\n" + raw, content_type=f"multipart/form-data; boundary={boundary}")
    assert_clean(response)
