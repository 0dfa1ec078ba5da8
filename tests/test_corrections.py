"""Corrections: stored in a real database (SQLite, and a real PostgreSQL server), exported, listed,
reviewed on the owner's page; bad input, floods and a database that is down get clear JSON answers."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from sqlalchemy import text
from support import BAD_STROKES, SEVEN, canvas_payload, png_of

from app import ROOT, create_app
from app.corrections import __main__ as corrections_cli
from app.corrections.store import CorrectionStore, make_engine, metadata
from bench import harness

MODEL_SHA256 = hashlib.sha256((ROOT / "models" / "digit_cnn.tflite").read_bytes()).hexdigest()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty corrections database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'corrections.db'}"
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as connection:  # every test starts from an empty, unmigrated database
        connection.execute(text("DROP TABLE IF EXISTS corrections"))
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return url


@pytest.fixture
def app_with(database_url):
    def make(**config):
        return create_app({"TESTING": True, "DATABASE_URL": database_url, **config})
    return make


@pytest.fixture
def client(app_with):
    return app_with().test_client()


def rows(app) -> list[dict]:
    return app.extensions["corrections"].all()


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
    statuses = [client.post("/api/corrections", json={**SEVEN, "label": 1}).status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    response = client.post("/api/corrections", json={**SEVEN, "label": 1})
    assert "try again" in response.get_json()["error"] and int(response.headers["Retry-After"]) >= 1
    other = client.post("/api/corrections", json={**SEVEN, "label": 1}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
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
    body = json.dumps({**SEVEN, "label": 1}).encode()

    def client(port):
        connection = harness.Connection(port, timeout=60, path="/api/corrections")
        ids = []
        for _ in range(200):
            connection.post(body, expect=201)
            ids.append(json.loads(connection.body)["id"])
        connection.close()
        return ids

    with harness.serving(env) as (port, _), ThreadPoolExecutor(8) as pool:
        ids = [i for share in pool.map(client, [port] * 8) for i in share]
    assert len(ids) == len(set(ids)) == 1600
    assert CorrectionStore(database_url).count() == 1600


def test_nothing_identifies_the_sender(app_with):
    app = app_with()
    response = app.test_client().post("/api/corrections", json={**SEVEN, "label": 4},
                                      environ_base={"REMOTE_ADDR": "203.0.113.77"})
    assert "Set-Cookie" not in response.headers
    [row] = rows(app)
    assert "203.0.113.77" not in json.dumps(row, default=str)


