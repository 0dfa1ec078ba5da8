"""No picture costs more than its budget: pictures are decoded and read in a child process under an
operating-system CPU and memory budget; costly encodings are refused from their header; every degenerate
picture on every picture endpoint is answered with a 2xx or a 4xx JSON, never a 5xx."""

from __future__ import annotations

import io
import os
import signal
import time

import cv2
import numpy as np
import pytest
from support import png_of

from app import create_app
from app.errors import InputError
from app.reader import build_reader
from app.reader.picture_process import TOO_COSTLY, TOO_MUCH_MEMORY
from bench.probes import DEGENERATE, pillow


def post_picture(client, path: str, data: bytes):
    form = {"image": (io.BytesIO(data), "p.png")}
    if path == "/api/corrections":
        form["label"] = "3"
    return client.post(path, data=form, content_type="multipart/form-data")


@pytest.mark.parametrize("path", ["/api/predict/image", "/api/read/image", "/api/explain", "/api/corrections"])
@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_every_degenerate_picture_on_every_picture_endpoint_gets_json_not_a_5xx(client, path, name):
    response = post_picture(client, path, DEGENERATE[name]())
    assert response.status_code < 500, (name, path, response.get_json())
    if response.status_code >= 400:
        assert response.is_json and response.get_json()["error"]


@pytest.mark.parametrize("name", ["RLE8 BMP", "RLE4 BMP"])
def test_run_length_encoded_bmps_are_refused_from_their_header(reader, name):
    with pytest.raises(InputError, match="run-length") as refused:  # only the header check says so
        reader.read_digit_picture(DEGENERATE[name]())
    assert refused.value.status == 422


def test_a_picture_narrower_than_any_writing_is_refused_from_its_header(reader):
    with pytest.raises(InputError, match="narrow") as refused:
        reader.read_number_picture(pillow("L", (40_000_000, 1)))
    assert refused.value.status == 422


def test_lossless_pictures_past_their_pixel_limit_are_413_naming_the_way_out(reader):
    side = int(reader.settings.max_lossless_pixels ** 0.5) + 10
    with pytest.raises(InputError, match="send a JPEG") as refused:
        reader.read_digit_picture(pillow("L", (side, side)))
    assert refused.value.status == 413


def test_the_thickest_point_of_each_piece_is_found_in_one_pass_as_the_per_piece_loop_found_it():
    """_drop_shadows measured each piece by comparing the whole label image once per piece (1.3 CPU-s for a
    grid of dots); ink.piece_maxima does it in one pass and must agree with that loop exactly."""
    from app.reader import ink

    rng = np.random.default_rng(7)
    for _ in range(10):
        mask = cv2.dilate((rng.random((90, 120)) > 0.94).astype(np.uint8), np.ones((2, 2), np.uint8))
        count, labels, _, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        depth = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
        per_piece = [depth[labels == i].max() for i in range(1, count)]
        assert count > 20 and list(ink.piece_maxima(labels, depth, count)[1:]) == per_piece


def test_ink_that_thinning_erases_whole_has_a_pen_width():
    """2x2 dots vanish when thinned; their pen width was a median of nothing (NaN), then a 500."""
    from app.reader import preprocessing

    mask = np.zeros((40, 40), bool)
    mask[10:12, 10:12] = mask[30:32, 20:22] = True
    assert preprocessing.pen_width(mask) == pytest.approx(2.0, abs=0.6)


def child_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """An app whose pictures may cost 0.05 CPU-s and 40 MB: a budget that an ordinary photo passes."""
    database = tmp_path_factory.mktemp("db") / "c.db"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", "PICTURE_CPU_SECONDS": 0.05,
                       "PICTURE_MEMORY_MB": 40})


def photo(side: int) -> bytes:
    rng = np.random.default_rng(2)
    grey = np.clip(rng.normal(220, 8, (side, side)), 0, 255).astype(np.uint8)
    cv2.putText(grey, "7", (side // 4, side * 3 // 4), cv2.FONT_HERSHEY_SIMPLEX, side / 40, 30, side // 25)
    return png_of(grey)


def test_past_its_cpu_budget_a_picture_is_a_quick_422_and_the_worker_spends_nothing(tight):
    process = tight.extensions["reader"].picture_process.processes[0]
    client = tight.test_client()
    assert post_picture(client, "/api/predict/image", photo(200)).status_code == 200  # within budget
    costly = photo(3000)  # 9 MP of PNG: far more than 0.05 s to decode
    mine = time.process_time()
    spent = child_cpu(process._pid)
    response = post_picture(client, "/api/predict/image", costly)
    assert response.status_code in (413, 422)
    assert response.get_json()["error"] in (TOO_COSTLY, TOO_MUCH_MEMORY)
    if process._pid:  # the child was not replaced: it stopped at its budget
        assert child_cpu(process._pid) - spent < 0.05 + 0.15
    assert time.process_time() - mine < 0.1  # the worker only waited
    assert post_picture(client, "/api/predict/image", photo(200)).status_code == 200  # and the next one is read


def test_a_picture_process_that_dies_is_replaced_and_the_request_gets_a_4xx(client, app):
    process = app.extensions["reader"].picture_process.processes[0]
    assert post_picture(client, "/api/predict/image", photo(120)).status_code == 200
    os.kill(process._pid, signal.SIGKILL)
    response = post_picture(client, "/api/predict/image", photo(120))
    assert response.status_code in (200, 422)  # the dead child's job is refused, never a 500
    assert post_picture(client, "/api/predict/image", photo(120)).status_code == 200


def test_past_its_memory_cap_a_picture_is_a_413_and_the_next_is_read(tight):
    client = tight.test_client()
    big = pillow("RGBA", (3400, 3400), colour=(255, 255, 255, 255))  # 46 MB decoded: past a 40 MB cap
    response = post_picture(client, "/api/read/image", big)
    assert response.status_code in (413, 422) and response.get_json()["error"] in (TOO_MUCH_MEMORY, TOO_COSTLY)
    assert post_picture(client, "/api/read/image", photo(120)).status_code in (200, 422)


def test_the_cli_and_the_benches_read_pictures_in_the_same_budgeted_process(reader):
    assert reader.picture_process is not None
    with pytest.raises(InputError, match="run-length"):
        reader.digit_in_picture(DEGENERATE["RLE8 BMP"]())
    assert reader.digit_in_picture(photo(120)).answer["digit"] in range(10)


def test_without_a_picture_process_pictures_are_read_in_place(reader):
    in_place = build_reader(reader.settings.replace(picture_process=False))
    assert in_place.picture_process is None
    picture = photo(160)
    assert in_place.digit_in_picture(picture).answer == reader.digit_in_picture(picture).answer


def test_an_unsure_picture_is_decoded_once_for_both_looks(reader, monkeypatch):
    """The second look reads the very picture the CNN read: one decode, not two."""
    from app.reader import pictures

    in_place = build_reader(reader.settings.replace(picture_process=False))
    decoded, looked = [], []
    real_decode, real_numbers = pictures.decode_picture, in_place.second_look
    monkeypatch.setattr(pictures, "decode_picture", lambda *args: decoded.append(1) or real_decode(*args))
    monkeypatch.setattr(in_place.cnn, "predict", lambda images: np.full((len(images), 10), 0.1, np.float32))

    class Counted:
        def read(self, picture):
            looked.append(picture)
            return real_numbers.read(picture)

    in_place.second_look = Counted()
    grey = np.full((120, 200), 235, np.uint8)
    cv2.putText(grey, "7", (60, 100), cv2.FONT_HERSHEY_SIMPLEX, 3, 20, 8)
    in_place.read_digit_picture(png_of(grey))
    assert len(looked) == 1 and len(decoded) == 1
