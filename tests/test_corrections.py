"""Corrections: stored in a real database (SQLite, and a real PostgreSQL server), exported, listed,
reviewed on the owner's page; bad input, floods and a database that is down get clear JSON answers."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from sqlalchemy import create_engine, text
from support import BAD_STROKES, SEVEN, canvas_payload, png_of, seven

from app import ROOT, create_app
from app.corrections import __main__ as corrections_cli
from app.corrections.store import CorrectionStore, make_engine, metadata
from bench import harness

MODEL_SHA256 = hashlib.sha256((ROOT / "models" / "digit_cnn.tflite").read_bytes()).hexdigest()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty corrections database of each kind: a new PostgreSQL database for every test, so that
    an app of an earlier test still migrating in the background cannot touch this one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'corrections.db'}"
    server = request.getfixturevalue("postgres_url")
    name = f"corrections_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def app_with(database_url):
    made = []

    def make(**config):
        made.append(create_app({"TESTING": True, "DATABASE_URL": database_url, **config}))
        return made[-1]
    yield make
    for app in made:  # close each app's pooled connections (PostgreSQL allows only so many)
        app.extensions["corrections"].run(app.extensions["corrections"].store.close)


@pytest.fixture
def client(app_with):
    return app_with().test_client()


def rows(app) -> list[dict]:
    return app.extensions["corrections"].run(app.extensions["corrections"].store.all)


def test_a_drawing_is_stored_with_its_label_and_the_models_answer(app_with):
    app = app_with()
    client = app.test_client()
    predicted = client.post("/api/predict", json=SEVEN).get_json()
    response = client.post("/api/corrections", json={**SEVEN, "label": 1})
    assert response.status_code == 201
    new_id = response.get_json()["id"]
    [row] = rows(app)
    assert row["id"] == new_id and row["source"] == "strokes" and row["label"] == 1
    assert json.loads(row["strokes"]) == SEVEN["strokes"] and (row["width"], row["height"]) == (300, 300)
    assert row["model_digit"] == predicted["digit"] == 7
    assert np.allclose(json.loads(row["model_probabilities"]), predicted["probabilities"], atol=1e-6)
    assert row["model_sha256"] == MODEL_SHA256 and row["image_png"] is None
    assert row["created"] is not None


def test_a_picture_is_stored_as_the_28x28_image_the_model_saw(app_with, mnist_small):
    app = app_with()
    photo = png_of(255 - cv2.resize(mnist_small["x_test"][0], (200, 200)))
    response = app.test_client().post("/api/corrections", data={"image": (io.BytesIO(photo), "d.png"), "label": "7"})
    assert response.status_code == 201
    [row] = rows(app)
    assert row["source"] == "picture" and row["label"] == 7 and row["strokes"] is None
    stored = cv2.imdecode(np.frombuffer(row["image_png"], np.uint8), cv2.IMREAD_GRAYSCALE)
    assert stored.shape == (28, 28) and stored.max() > 200
    assert row["model_digit"] == mnist_small["y_test"][0]


@pytest.mark.parametrize("label", [None, 10, -1, 3.5, True, "7", "seven", [7]])
def test_a_label_that_is_not_a_digit_is_400(client, label):
    body = {**SEVEN} if label is None else {**SEVEN, "label": label}
    response = client.post("/api/corrections", json=body)
    if label == "7":  # JSON text "7" is accepted as the digit 7, as a form field would be
        assert response.status_code == 201
        return
    assert response.status_code == 400 and "label" in response.get_json()["error"]


@pytest.mark.parametrize("body, status, message", BAD_STROKES)
def test_bad_drawings_get_the_prediction_apis_errors(client, body, status, message):
    if isinstance(body, dict):
        body = {**body, "label": 3}
    response = client.post("/api/corrections", json=body)
    assert response.status_code == status and message in response.get_json()["error"]


@pytest.mark.parametrize("image, label, status, message", [
    (None, "3", 400, "image"),
    (b"not a picture", "3", 400, "could not decode"),
    (png_of(np.full((50, 50), 240, np.uint8)), "3", 422, "no digit"),
    (png_of(np.zeros((50, 50), np.uint8)), None, 400, "label"),
    (png_of(np.zeros((50, 50), np.uint8)), "12", 400, "label"),
])
def test_bad_pictures_get_the_prediction_apis_errors(client, image, label, status, message):
    data = {"image": (io.BytesIO(image), "x.png")} if image is not None else {}
    data |= {"label": label} if label is not None else {}
    response = client.post("/api/corrections", data=data, content_type="multipart/form-data")
    assert response.status_code == status and message in response.get_json()["error"]


def test_other_content_types_and_oversized_bodies(client):
    assert client.post("/api/corrections", data="x", content_type="text/plain").status_code == 415
    big = {**SEVEN, "label": 1, "pad": "x" * 600_000}
    response = client.post("/api/corrections", json=big)
    assert response.status_code == 413 and "at most 524288 bytes" in response.get_json()["error"]


def test_a_flood_from_one_address_is_429_and_predictions_go_on(app_with):
    app = app_with(CORRECTIONS_PER_MINUTE=3)
    client = app.test_client()
    statuses = [client.post("/api/corrections", json=seven(i, 1)).status_code for i in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    response = client.post("/api/corrections", json=seven(6, 1))
    assert "try again" in response.get_json()["error"] and int(response.headers["Retry-After"]) >= 1
    other = client.post("/api/corrections", json=seven(7, 1), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 201  # the limit is per address
    assert client.post("/api/predict", json=SEVEN).status_code == 200
    assert len(rows(app)) == 4


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody@127.0.0.1:9/none",  # nothing listens on port 9
                                 "sqlite:////proc/no-such-place/corrections.db"])
def test_a_database_that_is_down_is_503_while_predictions_work(url):
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    client = app.test_client()
    response = client.post("/api/corrections", json={**SEVEN, "label": 1})
    assert response.status_code == 503 and "try again later" in response.get_json()["error"]
    assert client.post("/api/predict", json=SEVEN).get_json()["digit"] == 7


def test_export_and_list_for_retraining(app_with, database_url, tmp_path, pen_digits, mnist_small, capsys):
    app = app_with()
    client = app.test_client()
    for record in pen_digits[:6]:
        assert client.post("/api/corrections", json={**canvas_payload(record["strokes"]),
                                                     "label": record["label"]}).status_code == 201
    photo = png_of(255 - cv2.resize(mnist_small["x_test"][1], (100, 100)))
    picture = {"image": (io.BytesIO(photo), "p.png"), "label": "2"}
    assert client.post("/api/corrections", data=picture).status_code == 201
    out, images = tmp_path / "corrections.json", tmp_path / "pictures"
    assert corrections_cli.main(["--database", database_url, "export", str(out), "--images", str(images)]) == 0
    exported = json.loads(out.read_text())
    assert [r["label"] for r in exported] == [r["label"] for r in pen_digits[:6]]
    assert all(r["writer"] == "correction" and len(r["strokes"]) >= 1 for r in exported)
    assert np.allclose(exported[0]["strokes"][0], canvas_payload(pen_digits[0]["strokes"])["strokes"][0])
    [picture] = list(images.iterdir())
    assert picture.name.endswith("_2.png") and cv2.imread(str(picture), cv2.IMREAD_GRAYSCALE).shape == (28, 28)
    capsys.readouterr()
    assert corrections_cli.main(["--database", database_url, "list"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("7 corrections (6 drawings, 1 pictures)")
    two = next(line for line in listing.splitlines() if line.strip().startswith("2 "))
    assert int(two.split()[1]) == sum(r["label"] == 2 for r in pen_digits[:6]) + 1


def test_the_owners_page_needs_the_token_and_deletes_mislabels(app_with):
    assert app_with().test_client().get("/corrections").status_code == 404  # off without a token
    app = app_with(CORRECTIONS_ADMIN_TOKEN="s3cret")
    client = app.test_client()
    for label in (1, 7):
        client.post("/api/corrections", json={**SEVEN, "label": label})
    assert client.get("/corrections").status_code == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"owner:guess").decode()}
    assert client.get("/corrections", headers=wrong).status_code == 401
    auth = {"Authorization": "Basic " + base64.b64encode(b"owner:s3cret").decode()}
    page = client.get("/corrections", headers=auth)
    assert page.status_code == 200 and page.data.count(b'src="data:image/png;base64,') == 2
    first = min(r["id"] for r in rows(app))
    forged = client.post(f"/corrections/{first}/delete", data={"check": "0" * 64}, headers=auth)
    assert forged.status_code == 403 and len(rows(app)) == 2
    check = re.search(rf'/corrections/{first}/delete">\s*<input type="hidden" name="check" value="(\w+)"',
                      page.data.decode()).group(1)
    assert client.post(f"/corrections/{first}/delete", data={"check": check}).status_code == 401  # token needed too
    done = client.post(f"/corrections/{first}/delete", data={"check": check}, headers=auth)
    assert done.status_code == 303 and [r["label"] for r in rows(app)] == [7]


def test_migrations_build_exactly_the_tables_the_code_uses(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = CorrectionStore(database_url)
    assert store.count() == 0  # migrates on first use
    assert CorrectionStore(database_url).count() == 0  # and again, idempotently
    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert [d for d in differences if d[0] != "add_index" and d[0] != "remove_index"] == []


def test_eight_clients_posting_200_each_to_the_real_server_lose_nothing(database_url):
    """gunicorn with two workers (each migrating on first use, at the same time) and 8 concurrent clients."""
    env = {"DATABASE_URL": database_url, "FLASK_CORRECTIONS_PER_MINUTE": "100000", "WEB_CONCURRENCY": "2"}
    def client(first):
        port, start = first
        connection = harness.Connection(port, timeout=60, path="/api/corrections")
        ids = []
        for i in range(start, start + 200):
            connection.post(json.dumps(seven(i, 1)).encode(), expect=201)
            ids.append(json.loads(connection.body)["id"])
        connection.close()
        return ids

    with harness.serving(env) as (port, _), ThreadPoolExecutor(8) as pool:
        ids = [i for share in pool.map(client, [(port, 200 * k) for k in range(8)]) for i in share]
    assert len(ids) == len(set(ids)) == 1600
    assert CorrectionStore(database_url).count() == 1600


def test_nothing_identifies_the_sender(app_with):
    app = app_with()
    response = app.test_client().post("/api/corrections", json={**SEVEN, "label": 4},
                                      environ_base={"REMOTE_ADDR": "203.0.113.77"})
    assert "Set-Cookie" not in response.headers
    [row] = rows(app)
    assert "203.0.113.77" not in json.dumps(row, default=str)




OWNER = {"Authorization": "Basic " + base64.b64encode(b"owner:s3cret").decode()}


@pytest.mark.parametrize("headers, status", [
    ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403),
    ({"Sec-Fetch-Site": "same-site", "Origin": "https://sub.localhost"}, 403),
    ({"Origin": "https://evil.example"}, 403),  # a browser without Fetch Metadata still sends Origin
    ({"Origin": "null"}, 403),  # a sandboxed frame or a data: page
    ({"Origin": "http://localhost.evil.example"}, 403),
    ({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, 201),  # our page
    ({"Origin": "http://localhost"}, 201),
    ({}, 201),  # curl and scripts send neither
])
@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_only_our_own_page_or_a_non_browser_may_send_corrections(client, mnist_small, headers, status, kind):
    if kind == "json":
        response = client.post("/api/corrections", json={**SEVEN, "label": 7}, headers=headers)
    else:
        photo = png_of(255 - cv2.resize(mnist_small["x_test"][0], (100, 100)))
        response = client.post("/api/corrections", data={"image": (io.BytesIO(photo), "p.png"), "label": "7"},
                               headers=headers)
    assert response.status_code == status, response.get_json()
    if status == 403:
        assert "this site's own page" in response.get_json()["error"]


def test_ids_are_never_reused_so_a_delete_check_names_one_row_forever(app_with):
    app = app_with(CORRECTIONS_ADMIN_TOKEN="s3cret")
    client = app.test_client()
    first = client.post("/api/corrections", json={**SEVEN, "label": 1}).get_json()["id"]
    last = client.post("/api/corrections", json={**SEVEN, "label": 2}).get_json()["id"]
    page = client.get("/corrections", headers=OWNER).data.decode()
    check = re.search(rf'/corrections/{last}/delete">\s*<input type="hidden" name="check" value="(\w+)"', page).group(1)
    assert client.post(f"/corrections/{last}/delete", data={"check": check}, headers=OWNER).status_code == 303
    newer = client.post("/api/corrections", json={**SEVEN, "label": 3}).get_json()["id"]
    assert newer > last > first
    client.post(f"/corrections/{last}/delete", data={"check": check}, headers=OWNER)  # the old check, replayed
    assert sorted(r["label"] for r in rows(app)) == [1, 3]


def test_requests_refused_as_bad_use_up_none_of_the_quota(app_with):
    app = app_with(CORRECTIONS_PER_MINUTE=3)
    client = app.test_client()
    for _ in range(10):
        assert client.post("/api/corrections", json={**SEVEN, "label": "seven"}).status_code == 400
        assert client.post("/api/corrections", json={"strokes": [], "width": 1, "height": 1, "label": 1}
                           ).status_code in (400, 422)
    assert [client.post("/api/corrections", json=seven(i, 1)).status_code for i in range(4)] == \
        [201, 201, 201, 429]


def test_one_correction_and_the_whole_store_have_a_budget(app_with):
    app = app_with(CORRECTIONS_MAX_ROWS=2)
    client = app.test_client()
    huge = {"strokes": [[[i % 300, (i * 7) % 300] for i in range(2_500)]], "width": 300, "height": 300, "label": 1}
    response = client.post("/api/corrections", json=huge)
    assert response.status_code == 413 and "at most 2000 points" in response.get_json()["error"]
    assert [client.post("/api/corrections", json=seven(i, 1)).status_code for i in range(3)] == \
        [201, 201, 507]
    assert "full" in client.post("/api/corrections", json=seven(3, 1)).get_json()["error"]
    assert len(rows(app)) == 2


def test_the_owners_page_is_paged_and_never_cached(app_with):
    app = app_with(CORRECTIONS_ADMIN_TOKEN="s3cret", CORRECTIONS_PER_MINUTE=1000)
    client = app.test_client()
    ids = [client.post("/api/corrections", json=seven(i, i % 10)).get_json()["id"] for i in range(120)]
    page = client.get("/corrections", headers=OWNER)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert page.data.count(b'src="data:image/png;base64,') == 50
    seen, link = set(), "/corrections"
    while link:
        html = client.get(link, headers=OWNER).data.decode()
        seen |= {int(i) for i in re.findall(r"/corrections/(\d+)/delete", html)}
        found = re.search(r'href="(/corrections\?before=\d+)"', html)
        link = found.group(1) if found else None
    assert seen == set(ids)
    assert client.get("/corrections", headers={}).status_code == 401


def silent_database() -> tuple[socket.socket, str]:
    """A listening socket that never accepts: connections open, and then nothing is ever answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return listener, f"postgresql+psycopg://nobody@127.0.0.1:{listener.getsockname()[1]}/none"


def test_a_database_that_never_answers_fails_fast_after_the_first_try_and_logs_once(caplog):
    listener, url = silent_database()
    with listener, caplog.at_level(logging.WARNING):
        client = create_app({"TESTING": True, "DATABASE_URL": url}).test_client()
        started = time.monotonic()
        first = client.post("/api/corrections", json={**SEVEN, "label": 1})
        assert first.status_code == 503 and first.headers["Retry-After"] == "5"
        assert time.monotonic() - started < 8  # the 3 s connect timeout (the start-up check may run first)
        started = time.monotonic()
        later = [client.post("/api/corrections", json={**SEVEN, "label": 1}).status_code for _ in range(10)]
        assert later == [503] * 10 and time.monotonic() - started < 2  # known down: no waiting
    unavailable = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(unavailable) == 1 and len(unavailable[0].getMessage()) < 400
    assert not any(r.exc_info for r in caplog.records)


def test_corrections_waiting_for_a_slow_database_are_bounded(app_with):
    listener, url = silent_database()
    with listener:
        app = create_app({"TESTING": True, "DATABASE_URL": url, "CORRECTIONS_QUEUE": 1})
        app.extensions["corrections"].store.breaker.cool_down = 0  # every request tries the database
        time.sleep(3.5)  # the start-up check has timed out

        def send(_):
            started = time.monotonic()
            response = app.test_client().post("/api/corrections", json={**SEVEN, "label": 1})
            return response.status_code, response.get_json()["error"], time.monotonic() - started

        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(send, range(3)))
    queued_out = [a for a in answers if "queued to the limit" in a[1]]
    assert len(queued_out) >= 1 and all(a[0] == 503 and a[2] < 1 for a in queued_out)


@pytest.mark.parametrize("strokes", [[[[150, 150]]], [[[10, 10]], [[300, 300]]], [[[10, 10], [12, 13]], [[299, 5]]]])
def test_taps_are_no_correction_either(app_with, strokes):
    app = app_with()
    response = app.test_client().post("/api/corrections", json={"strokes": strokes, "width": 320, "height": 320,
                                                                "label": 1})
    assert response.status_code == 422 and "taps" in response.get_json()["error"]
    assert rows(app) == []
