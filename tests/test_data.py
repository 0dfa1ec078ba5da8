"""Training data: UNIPEN's per-digit normalisation, folds that hold writers and contributors out whole,
and MNIST validation by writer."""

import json

import numpy as np
import pytest

from training import data


def _unipen_record(strokes, label=3, writer="apa/x1"):
    return {"label": label, "writer": writer, "strokes": strokes}


def _staircase_circle(radius: int) -> list[list[int]]:
    """A circle drawn on a coarse (72 dpi) device: integer points, a staircase."""
    angles = np.linspace(0, 2 * np.pi, 60)
    return np.round(np.column_stack([radius * np.cos(angles), radius * np.sin(angles)]) + 50).astype(int).tolist()


def test_unipen_digits_of_any_device_land_in_the_pendigits_box(tmp_path):
    small = [[[10, 10], [12, 30]], [[8, 20], [14, 20]]]  # a tiny Apple-sized drawing, two strokes
    huge = [[[1000, 1000], [1200, 3000]], [[800, 2000], [1400, 2000]]]  # the same shape, 100x the units
    path = tmp_path / "unipen.json"
    path.write_text(json.dumps([_unipen_record(small), _unipen_record(huge, writer="syn/y"),
                                _unipen_record([[], []], writer="syn/z")]))
    records = data.load_unipen(path)
    assert len(records) == 2  # the digit without ink is skipped
    for record in records:
        points = np.concatenate(record["strokes"])
        assert np.ptp(points, axis=0).max() == pytest.approx(data.UNIPEN_EXTENT)
        assert (points.min(axis=0) + points.max(axis=0)) / 2 == pytest.approx([250, 250])
    np.testing.assert_allclose(np.concatenate(records[0]["strokes"]), np.concatenate(records[1]["strokes"]), atol=1e-6)
    assert [r["contributor"] for r in records] == ["apa", "syn"] and {r["source"] for r in records} == {"unipen"}


def test_a_coarse_devices_staircase_is_smoothed_into_a_round_path():
    raw = np.asarray(_staircase_circle(6), np.float64)  # 12 device units across: every step shows
    smooth = data.normalise_unipen([raw])[0]
    centre = (smooth.min(axis=0) + smooth.max(axis=0)) / 2
    radii = np.linalg.norm(smooth - centre, axis=1)
    raw_scaled = (raw - (raw.min(axis=0) + raw.max(axis=0)) / 2) * data.UNIPEN_EXTENT / np.ptp(raw, axis=0).max()
    raw_radii = np.linalg.norm(raw_scaled, axis=1)
    assert radii.std() / radii.mean() < 0.5 * raw_radii.std() / raw_radii.mean()  # rounder than the staircase
    turns = np.abs(np.diff(np.arctan2(*np.diff(smooth, axis=0).T[::-1])))
    assert np.median(np.minimum(turns, 2 * np.pi - turns)) < 0.3  # no right-angle steps left


def test_a_fine_device_keeps_its_shape():
    raw = np.asarray(_staircase_circle(600), np.float64)
    out = data.normalise_unipen([raw])[0]
    back = (out - 250) / data.UNIPEN_EXTENT * np.ptp(raw, axis=0).max() + (raw.min(axis=0) + raw.max(axis=0)) / 2
    distance = np.min(np.linalg.norm(raw[:, None] - back[None], axis=2), axis=1)
    assert distance.max() < 12  # every drawn point is still on the path, within 1% of the drawing's size


def _pen_and_unipen() -> list[dict]:
    pen = [{"writer": w, "label": 0, "strokes": [], "source": "pendigits"} for w in range(1, 31)]
    unipen = [{"writer": f"{c}/w{i}", "contributor": c, "label": 0, "strokes": [], "source": "unipen"}
              for c in data.CONTRIBUTOR_FOLDS for i in range(3)]
    return pen + unipen


def test_every_writer_and_contributor_is_held_out_in_exactly_one_fold():
    records = _pen_and_unipen()
    held = [data.split_fold(records, fold)[1] for fold in range(1, data.FOLDS + 1)]
    assert sorted(len(fold) for fold in held) and sum(len(fold) for fold in held) == len(records)
    for fold, held_out in enumerate(held, start=1):
        train, _ = data.split_fold(records, fold)
        assert not {r["writer"] for r in train} & {r["writer"] for r in held_out}
        names = data.held_out_names(held_out)
        assert len(names["held_out_writers"]) == 30 // data.FOLDS
        assert names["held_out_contributors"]  # every fold judges at least one contributor
        assert not {r.get("contributor") for r in train} & set(names["held_out_contributors"])
    assert data.split_fold(records, 0) == (records, [])  # the shipped model holds out nobody
    assert set(data.held_out_names(held[-1])["held_out_writers"]) == data.EVAL_WRITERS


def test_an_institution_can_be_held_out_whole_in_place_of_the_folds_contributors():
    """train.py --held-out apa,apb,app: Apple's three contributors out together; the fold's pendigits writers
    stay its own."""
    from train import make_config, parse_args

    cfg = make_config(parse_args(["--recipe", "fine-tune", "--fold", "2", "--held-out", "apa,apb,app"]))
    train, held_out = data.split_fold(_pen_and_unipen(), cfg.fold, cfg.folds, cfg.held_out_contributors())
    names = data.held_out_names(held_out)
    assert names == {"held_out_writers": [2, 7, 12, 17, 22, 27], "held_out_contributors": ["apa", "apb", "app"]}
    assert not {r.get("contributor") for r in train} & {"apa", "apb", "app"} and len(train) + len(held_out) == 57
    assert make_config(parse_args(["--recipe", "fine-tune"])).held_out_contributors() is None


def test_mnist_validation_holds_out_whole_writers():
    rng = np.random.default_rng(0)
    writers = rng.integers(0, 50, 2000)
    validation, train = data.validation_split(len(writers), 300, writers, rng)
    assert len(validation) >= 300 and len(validation) + len(train) == 2000
    assert not set(writers[validation]) & set(writers[train])
    assert len(np.union1d(validation, train)) == 2000
    validation, train = data.validation_split(100, 10, None, rng)  # without writer ids: random images
    assert len(validation) == 10 and len(train) == 90


def test_mnist_writers_must_match_the_training_set(tmp_path):
    path = tmp_path / "writers.npz"
    np.savez(path, train_writer=np.arange(10, dtype=np.int16))
    assert data.load_mnist_writers(str(path), 10).tolist() == list(range(10))
    assert data.load_mnist_writers(str(path), 600) is None  # a --limit'ed or other MNIST
    assert data.load_mnist_writers(None, 10) is None
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(data.DataError):
        data.load_mnist_writers(str(tmp_path / "bad.npz"), 10)
