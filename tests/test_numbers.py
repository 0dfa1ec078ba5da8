"""Whole numbers: /api/read groups strokes into digits left to right; /api/read/image reads a photo of a number."""

from __future__ import annotations

import io
import json
import math

import cv2
import numpy as np
import pytest
from support import BAD_STROKES, PEN_FIXTURE

from app import ROOT, create_app
from app.reader import Drawing
from app.reader.drawing import written_strokes
from bench import number_eval
from training import data as pen_data


@pytest.fixture(scope="module")
def writers():
    """The fixture's pen digits by writer, as float arrays."""
    return number_eval.group_by_writer(pen_data.load_pendigits(PEN_FIXTURE))


@pytest.fixture(scope="module")
def split_client(tmp_path_factory):
    """The app with the segmenter's split as the answer: the referee may refute it, never overrule it (the
    tests of the segmenter's own rules switch one off to show the split without it)."""
    database = tmp_path_factory.mktemp("split") / "c.db"
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}",
                       "DRAWN_REFEREE_OVERRULE": 0.0}).test_client()


def payload(points, width, height):
    return {"strokes": [np.round(s, 1).tolist() for s in points], "width": width, "height": height}


def test_numbers_by_real_writers_are_read_digit_by_digit(client, writers):
    rng = np.random.default_rng(0)
    right = total = 0
    for writer in sorted(pen_data.EVAL_WRITERS & set(writers)):
        for i in range(12):
            points, truth, width, height = number_eval.compose(writers[writer], rng, list(number_eval.GAPS)[i % 4])
            response = client.post("/api/read", json=payload(points, width, height))
            assert response.status_code == 200
            right += response.get_json()["number"] == truth
            total += 1
    # Writer 10 writes 4 as two strokes with a gap whose first reads as a confident 6: 12% of their
    # numbers are split there (make eval has the full figures); the fixture's few digits show it.
    assert right / total >= 0.75


def test_the_answer_lists_digits_left_to_right_with_boxes_and_strokes(client, writers):
    sizes: list[int] = []
    points, truth, width, height = number_eval.compose(writers[5], np.random.default_rng(3), "normal", sizes)
    body = client.post("/api/read", json=payload(points, width, height)).get_json()
    assert set(body) == {"number", "digits", "unsure", "text", "marks", "lines"}
    assert body["number"] == "".join(str(d["digit"]) for d in body["digits"]) == body["text"]
    assert body["marks"] == [] and body["lines"] == 1  # a composed number: one line, no points
    assert body["unsure"] == any(d["unsure"] for d in body["digits"])
    lefts = [d["box"][0] for d in body["digits"]]
    assert lefts == sorted(lefts)
    assert sorted(i for d in body["digits"] for i in d["strokes"]) == list(range(len(points)))
    for digit in body["digits"]:
        assert set(digit) == {"digit", "probabilities", "confidence", "unsure", "box", "strokes"}
        assert abs(sum(digit["probabilities"]) - 1) < 1e-4 and digit["confidence"] == max(digit["probabilities"])
        x, y, w, h = digit["box"]
        inside = np.concatenate([points[i] for i in digit["strokes"]])
        assert (inside >= (x - 0.1, y - 0.1)).all() and (inside <= (x + w + 0.1, y + h + 0.1)).all()
    if body["number"] == truth:  # the strokes of each digit are that digit's own
        starts = np.cumsum([0, *sizes])
        assert [d["strokes"] for d in body["digits"]] == [list(range(a, b)) for a, b in zip(starts, starts[1:])]


def test_a_single_digit_is_a_one_digit_number(client):
    body = client.post("/api/read", json={"strokes": [[[40, 40], [200, 40], [110, 260]]],
                                          "width": 300, "height": 300}).get_json()
    assert body["number"] == "7" and len(body["digits"]) == 1 and body["digits"][0]["strokes"] == [0]


def test_a_dot_is_not_a_digit(client, writers):
    points, truth, width, height = number_eval.compose(writers[10], np.random.default_rng(1), "wide")
    dot_x = float(np.concatenate(points).max(axis=0)[0]) + 30
    with_dot = [*points, np.array([[dot_x, 150.0]])]
    body = client.post("/api/read", json=payload(with_dot, width + 60, height)).get_json()
    assert len(body["number"]) == len(truth)


@pytest.mark.parametrize("taps", [[[[150, 150]]], [[[x, 100]] for x in range(5, 305, 3)][:100],
                                  [[[x, 100], [x + 1, 101]] for x in range(0, 320, 2)]])
def test_taps_alone_are_no_number(client, taps):
    response = client.post("/api/read", json={"strokes": taps, "width": 320, "height": 320})
    assert response.status_code == 422 and "error" in response.get_json()


def test_more_strokes_than_a_number_has_are_refused_before_any_reading(client):
    ticks = [[[x, 100], [x + 8, 130]] for x in range(0, 305, 5)]  # 61 short strokes, none a tap
    response = client.post("/api/read", json={"strokes": ticks, "width": 320, "height": 320})
    assert response.status_code == 422 and "too many strokes" in response.get_json()["error"]
    response = client.post("/api/read", json={"strokes": ticks[:60], "width": 320, "height": 320})
    assert response.status_code == 200


def test_taps_among_digits_are_left_out_and_the_stroke_indices_stay_right(client, writers):
    points, truth, width, height = number_eval.compose(writers[10], np.random.default_rng(4), "wide")
    taps = [np.array([[5.0, 5.0]]), np.array([[width - 5, height - 5]])]
    drawn = [taps[0], *points, taps[1]]
    body = client.post("/api/read", json=payload(drawn, width, height)).get_json()
    assert body["number"] == truth
    used = sorted(i for d in body["digits"] for i in d["strokes"])
    assert used == list(range(1, len(points) + 1))  # every real stroke, by its index in the request; no tap


@pytest.mark.parametrize("strokes, width, tap", [
    ([[[0, 0], [0, 30]], [[5, 5], [8, 5]]], 400, 1.5),     # small writing on a big canvas: 5% of its 30 px stroke
    ([[[0, 0], [0, 300]], [[5, 5], [8, 5]]], 400, 12.0),   # writing that fills the canvas: 3% of the canvas
    ([[[0, 0], [0, 6]], [[5, 5], [8, 5]]], 400, 12.0),     # nothing but taps and ticks: they stay taps
])
def test_the_tap_size_follows_the_writing_where_it_is_small(strokes, width, tap):
    drawing = Drawing([np.array(s, float) for s in strokes], width, 400.0)
    assert drawing.tap_size(0.03) == pytest.approx(tap)
    assert written_strokes(drawing.strokes, drawing.tap_size(0.03)) == [
        i for i, s in enumerate(strokes) if np.ptp(np.array(s), axis=0).max() >= tap]


def test_a_number_written_small_on_a_big_canvas_keeps_every_stroke(client, writers):
    rng, checked = np.random.default_rng(5), 0
    while checked < 3:
        points, truth, width, height = number_eval.compose(writers[5], rng, "normal")
        small = [p * 0.4 + (60, 150) for p in points]
        if min(np.ptp(p, axis=0).max() for p in small) >= 12:  # 3% of 400 px: a stroke that used to be a tap
            continue
        natural = client.post("/api/read", json=payload(points, width, height)).get_json()
        body = client.post("/api/read", json=payload(small, 800, 400)).get_json()
        assert body["number"] == natural["number"]
        assert sorted(i for d in body["digits"] for i in d["strokes"]) == list(range(len(points)))
        checked += 1


@pytest.mark.parametrize("body, status, message", BAD_STROKES)
def test_read_errors_are_those_of_predict(client, body, status, message):
    response = client.post("/api/read", json=body)
    assert response.status_code == status
    assert message in response.get_json()["error"]


def number_photo(points, width, height, factor=3.0):
    paper = np.full((int(height * factor), int(width * factor)), 235, np.uint8)
    for stroke in points:
        cv2.polylines(paper, [np.round(stroke * factor).astype(np.int32)], False, 30, int(6 * factor), cv2.LINE_AA)
    return cv2.imencode(".png", paper)[1].tobytes()


def test_a_photo_of_a_number_is_read_with_boxes_in_its_pixels(client, writers):
    rng = np.random.default_rng(4)
    right = 0
    for _ in range(10):
        sizes: list[int] = []
        points, truth, width, height = number_eval.compose(writers[5], rng, "normal", sizes)
        photo = number_photo(points, width, height)
        response = client.post("/api/read/image", data={"image": (io.BytesIO(photo), "n.png")})
        body = response.get_json()
        assert response.status_code == 200 and set(body) == {"number", "digits", "unsure", "text", "marks"}
        assert body["text"] == body["number"] and body["marks"] == []  # a pen number has no marks to find
        right += body["number"] == truth
        for digit in body["digits"]:
            assert "strokes" not in digit
            x, y, w, h = digit["box"]
            assert x >= 0 and x + w <= width * 3 + 2 and y >= 0 and y + h <= height * 3 + 2
        if body["number"] == truth:  # each box sits on its own digit's ink
            for digit, (a, b) in zip(body["digits"], digit_spans(points, sizes)):
                x, _, w, _ = digit["box"]
                assert abs((x + w / 2) - (a + b) / 2 * 3) < 0.5 * (b - a) * 3 + 20
    assert right >= 8


def digit_spans(points, sizes):
    """Left and right x of each digit of a composed number (its strokes, in writing order, sizes[k] of them)."""
    ends = np.cumsum([0, *sizes])
    return [(float(np.concatenate(points[a:b])[:, 0].min()), float(np.concatenate(points[a:b])[:, 0].max()))
            for a, b in zip(ends[:-1], ends[1:])]


def test_a_blank_photo_is_422_and_bad_files_400(client):
    blank = cv2.imencode(".png", np.full((100, 300), 240, np.uint8))[1].tobytes()
    response = client.post("/api/read/image", data={"image": (io.BytesIO(blank), "b.png")})
    assert response.status_code == 422 and "no digit" in response.get_json()["error"]
    response = client.post("/api/read/image", data={"image": (io.BytesIO(b"nope"), "b.png")})
    assert response.status_code == 400 and "could not decode" in response.get_json()["error"]


@pytest.mark.parametrize("noise", ["speckle", "checkerboard", "stripes"])
def test_pictures_of_noise_are_refused_quickly_not_read_for_seconds(client, noise):
    """Noise, checkerboards and stripes are no number: a 422, never a number read from them."""
    rng = np.random.default_rng(0)
    image = {"speckle": (rng.random((1000, 1000)) > 0.5) * 255,
             "checkerboard": np.indices((1000, 1000)).sum(0) // 8 % 2 * 255,
             "stripes": np.tile(np.arange(1000) // 3 % 2 * 255, (1000, 1))}[noise].astype(np.uint8)
    response = client.post("/api/read/image", data={"image": (io.BytesIO(cv2.imencode(".png", image)[1].tobytes()),
                                                               "noise.png")})
    assert response.status_code == 422
    assert "too much ink" in response.get_json()["error"] or "no digit" in response.get_json()["error"]


def test_command_line_reads_numbers_in_pictures(tmp_path, writers):
    import subprocess
    import sys

    rng = np.random.default_rng(8)
    paths, truths = [], []
    for i in range(3):
        points, truth, width, height = number_eval.compose(writers[5], rng, "wide")
        path = tmp_path / f"number{i}.png"
        path.write_bytes(number_photo(points, width, height))
        paths.append(str(path))
        truths.append(truth)
    result = subprocess.run([sys.executable, "-m", "app.predict", "--number", *paths], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    read = [line.split(": ", 1)[1].split()[0] for line in result.stdout.strip().splitlines()]
    assert sum(r == t for r, t in zip(read, truths)) >= 2 and all(r.isdigit() for r in read)


def test_the_join_prior_is_a_fitted_file_the_reader_loads(tmp_path, client):
    """The join prior's weights come from models/join_prior.json (written by training.join_prior), one per
    feature after the intercept, and reading a number follows them: a prior that never joins splits a
    two-stroke 4 into two digits; a prior fitted on other features is refused when the app starts."""
    from app.reader import segmenter

    weights, temperature, floor = segmenter.join_prior()
    features = segmenter.join_features((10, 0, 5, 40), (0, 0, 12, 40), 40.0)
    assert len(weights) == 1 + len(features) and temperature > 0 and 0 <= floor < 0.5
    four = {"strokes": [[[40, 40], [40, 170], [160, 170]], [[130, 60], [130, 290]]], "width": 320, "height": 320}
    assert len(client.post("/api/read", json=four).get_json()["digits"]) == 1
    never = tmp_path / "never.json"
    never.write_text(json.dumps({"weights": [-40.0] + [0.0] * len(features), "temperature": 1.0, "floor": 0.0}))
    config = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "JOIN_PRIOR_PATH": str(never),
              "DRAWN_REFEREE_OVERRULE": 0.0}  # the split as it is (the referee would mend it: test_drawn_referee)
    assert len(create_app(config).test_client().post("/api/read", json=four).get_json()["digits"]) == 2
    never.write_text(json.dumps({"weights": [-40.0] + [0.0] * (len(features) - 2), "temperature": 1.0, "floor": 0}))
    segmenter.join_prior.cache_clear()
    with pytest.raises(ValueError, match="refit"):
        create_app(config)


@pytest.mark.parametrize(("mark", "before", "text", "kind"), [
    ([[75, 60], [92, 61]], False, "3-14", "dash"),
    ([[2, 59], [20, 60]], True, "-314", "minus"),
    ([[79, 95], [81, 97], [80, 99], [78, 97]], False, "3.14", "point"),
    ([[80, 95], [77, 111]], False, "3,14", "comma"),
])
def test_marks_in_a_photo_of_a_number_are_read_into_its_text_never_as_digits(client, mark, before, text, kind):
    three = [[30, 20], [55, 20], [40, 50], [57, 70], [30, 100]]
    one, four = [[105, 20], [105, 100]], [[[150, 20], [140, 75], [175, 75]], [[165, 45], [165, 100]]]
    strokes = [mark, three, one, *four] if before else [three, mark, one, *four]
    photo = number_photo([np.array(s, float) for s in strokes], 200, 130)
    body = client.post("/api/read/image", data={"image": (io.BytesIO(photo), "n.png")}).get_json()
    assert body["number"] == "314" and body["text"] == text
    assert [(m["mark"], m["after"]) for m in body["marks"]] == [(kind, -1 if before else 0)]
    x, y, w, h = body["marks"][0]["box"]  # in the picture's pixels (drawn at 3x)
    assert abs(x - 3 * min(p[0] for p in mark)) <= 15 and abs(y - 3 * min(p[1] for p in mark)) <= 15


def test_a_stroke_finished_after_the_next_digit_goes_back_to_its_own(client):
    seven, one, bar = [[40, 40], [120, 40], [70, 200]], [[180, 40], [180, 200]], [[50, 120], [110, 120]]
    body = {"strokes": [seven, one, bar], "width": 300, "height": 240}  # the 7 crossed after the 1
    answer = client.post("/api/read", json=body).get_json()
    assert answer["number"] == "71"
    assert [d["strokes"] for d in answer["digits"]] == [[0, 2], [1]]  # indices of the request's strokes


def test_delayed_strokes_are_put_back_and_written_order_is_left_alone(writers):
    from app.reader.segmenter import box_of, digit_order
    from training.compose import delayed

    rng = np.random.default_rng(11)
    kept = restored = late_numbers = 0
    for i in range(300):
        sizes: list[int] = []
        points, _, _, _ = number_eval.compose(writers[sorted(writers)[i % len(writers)]], rng,
                                              list(number_eval.GAPS)[i % 4], sizes)
        kept += digit_order([box_of(s) for s in points]) == list(range(len(points)))
        if any(size > 1 for size in sizes[:-1]):
            late, owners = delayed(points, sizes)
            regrouped = [owners[k] for k in digit_order([box_of(s) for s in late])]
            restored += regrouped == sorted(regrouped)  # each digit's strokes together again
            late_numbers += 1
    # Delayed, no number has its digits together (the runs would split them); put back, most do (86% of the
    # fixture's; the rest overlap the next digit, where a late stroke cannot be told from the next digit's).
    assert kept >= 297 and late_numbers >= 50 and restored >= 0.83 * late_numbers, (kept, restored, late_numbers)


def test_a_five_flagged_first_and_finished_after_the_next_digit_goes_back_to_its_flag():
    """The late stroke need not lie under its digit's other strokes: a 5's body, written after the next
    digit, only half-overlaps its flag (drawn first), and overlaps the next digit not at all."""
    from app.reader.segmenter import digit_order

    one, flag, six, body = (20, 30, 4, 80), (166, 28, 37, 10), (214, 37, 60, 76), (135, 35, 45, 81)
    assert digit_order([one, flag, six, body]) == [0, 1, 3, 2]
    assert digit_order([one, body, flag, six]) == [0, 1, 2, 3]  # written in order: left alone


@pytest.mark.parametrize(("gain", "number", "groups"),
                         [(None, "41", [[0, 2], [1]]), (math.inf, "211", [[0], [2], [1]])])
def test_a_fours_stem_drawn_after_the_next_digit_goes_back_by_the_reading(split_client, monkeypatch, gain, number,
                                                                         groups):
    """A 4's bar, then a 1, then the 4's stem a little apart from its bar: digit_order's rule (the late stroke
    must overlap its digit) leaves the stem where it was drawn, and it would be a digit of its own. Tried
    after the earlier strokes it nearly reaches, the order whose split reads best wins (LATE_GAIN); with the
    search off (an unreachable gain), the bar and stem stay apart."""
    from app.reader import segmenter

    if gain is not None:
        monkeypatch.setattr(segmenter, "LATE_GAIN", gain)
    bar, one, stem = [[30, 40], [20, 110], [70, 110]], [[130, 40], [130, 160]], [[74, 40], [74, 160]]
    assert segmenter.digit_order([segmenter.box_of(np.array(s, float)) for s in (bar, one, stem)]) == [0, 1, 2]
    answer = split_client.post("/api/read", json={"strokes": [bar, one, stem], "width": 320, "height": 200}).get_json()
    assert answer["number"] == number and [d["strokes"] for d in answer["digits"]] == groups


def test_a_stroke_drawn_back_is_tried_after_each_stroke_it_nearly_reaches():
    """_drawn_back: strokes whose centre is left of the one drawn before them (LATE_WIDTH: none wider than a
    digit); _placements: the order with
    that stroke after each earlier stroke within LATE_REACH (a gap under the narrower one's width) and
    where it was drawn, never the order it is already in."""
    from app.reader.segmenter import Box, _drawn_back, _placements

    boxes = [Box(0, 0, 50, 100), Box(200, 0, 50, 100), Box(100, 0, 50, 100), Box(60, 0, 20, 100)]
    assert _drawn_back(boxes) == [2, 3]
    assert _drawn_back(boxes + [Box(-400, 0, 400, 100)]) == [2, 3]  # back left, but wider than any digit
    # stroke 3 (60..80) nearly reaches stroke 0 (a gap of 10, half its width) and none of the others
    assert _placements([0, 1, 2, 3], 3, boxes) == [[0, 3, 1, 2]]
    assert _placements([0, 3, 1, 2], 3, boxes) == [[0, 1, 2, 3]]


def test_a_four_in_two_strokes_with_a_gap_is_one_digit_read_from_both_views(client):
    """The first stroke of such a 4 alone is a confident 6 or 2 to the picture model, not to the pen path:
    with every candidate read from both views, the split into two digits no longer wins."""
    zero = [[150 + 25 * np.sin(t), 100 - 55 * np.cos(t)] for t in np.linspace(0, 2 * np.pi, 40)]
    body = {"strokes": [[[30, 40], [20, 110], [70, 110]], [[80, 40], [80, 160]], zero], "width": 320, "height": 200}
    answer = client.post("/api/read", json=body).get_json()
    assert answer["number"] == "40" and [d["strokes"] for d in answer["digits"]] == [[0, 1], [2]]


@pytest.mark.parametrize(("cost", "number", "groups"), [(None, "44", [[0, 1], [2, 3]]), (0.0, "41", [[0, 1, 2], [3]])])
def test_a_four_does_not_take_in_the_next_fours_first_stroke(client, monkeypatch, cost, number, groups):
    """"44" in two-stroke 4s, the second reaching back over the first: its first stroke taken into the first 4
    still reads 4 and leaves its stem a 1. The run that shares its last stroke with a same, sure digit pays
    (SHARED_STROKE_COST); without the cost, the merge wins."""
    from app.reader import segmenter

    if cost is not None:
        monkeypatch.setattr(segmenter, "SHARED_STROKE_COST", cost)

    def four(x: float) -> list:
        return [[[x + 30, 40], [x, 170], [x + 120, 170]], [[x + 90, 60], [x + 90, 290]]]

    answer = client.post("/api/read", json={"strokes": four(20) + four(120), "width": 400, "height": 320}).get_json()
    assert answer["number"] == number and [d["strokes"] for d in answer["digits"]] == groups


@pytest.mark.parametrize(("strokes", "bonus", "number"), [
    ([[[60, 40], [30, 170], [90, 170]], [[115, 40], [115, 290]]], None, "4"),  # an L and a stem: each a sure 1,
    ([[[60, 40], [30, 170], [90, 170]], [[115, 40], [115, 290]]], 0.0, "11"),  # together a sure 4; no bonus: split
    ([[[60, 40], [30, 170]], [[75, 40], [75, 290]]], 5.0, "11"),  # two close lines read 1 together: never given
])
def test_two_strokes_that_read_as_neither_alone_are_one_digit(split_client, monkeypatch, strokes, bonus, number):
    """A 4 written as two strokes far apart, each a sure 1 alone, is one 4 (WHOLE_BONUS); two strokes that
    together read as one of them (1 and 1 read 1) keep the geometry's split, even where a bonus given
    regardless of the reading would merge them into one 1."""
    from app.reader import segmenter

    if bonus is not None:
        monkeypatch.setattr(segmenter, "WHOLE_BONUS", bonus)
    answer = split_client.post("/api/read", json={"strokes": strokes, "width": 400, "height": 320}).get_json()
    assert answer["number"] == number


@pytest.mark.parametrize(("first", "second", "whole", "merged"), [
    ((2, 0.6), (1, 0.95), (4, 0.95), True),    # a 4's open bar, a doubtful 2, and its stem: one 4
    ((1, 0.95), (1, 0.95), (4, 0.95), True),   # two sure 1s far apart that make a sure 4
    ((2, 0.4), (1, 0.95), (4, 0.95), False),   # a stroke read as nothing much is not half of a digit
    ((2, 0.6), (1, 0.95), (4, 0.8), False),    # the two together must read surely
    ((2, 0.6), (1, 0.95), (1, 0.95), False),   # ... and as neither of them
])
def test_a_two_stroke_run_is_a_whole_digit_when_its_strokes_read_fairly_and_it_surely(first, second, whole, merged):
    """_more_than_its_strokes (WHOLE_BONUS): each stroke read at least FAIR as a digit, together at least SURE
    as another."""
    from app.reader.segmenter import _more_than_its_strokes

    def reading(digit, p):
        probabilities = np.full(10, (1 - p) / 9)
        probabilities[digit] = p
        return probabilities

    runs = {(0, 1): reading(*first), (1, 2): reading(*second), (0, 2): reading(*whole)}
    assert _more_than_its_strokes(runs, 0, 2) is merged


def _reading(digit: int, p: float) -> np.ndarray:
    probabilities = np.full(10, (1 - p) / 9)
    probabilities[digit] = p
    return probabilities


@pytest.mark.parametrize(("mine", "theirs", "strokes", "shares"), [
    ((4, 0.93), (4, 1.0), 2, True),    # a 1 and a 4's bar make a fair 4; the bar and its stem a perfect one
    ((4, 0.99), (4, 1.0), 2, False),   # as sure either way (within PAIR_GAIN): the geometry decides
    ((4, 0.93), (1, 1.0), 2, False),   # the pair reads another digit
    ((4, 0.50), (4, 0.85), 2, False),  # the pair is surer, but not sure
    ((4, 0.99), (4, 0.95), 3, True),   # a run of three strokes pays without being less sure
])
def test_a_run_shares_its_last_stroke_with_a_surer_same_digit(mine, theirs, strokes, shares):
    """_shares_last_stroke (SHARED_STROKE_COST): a two-stroke run only when the pair its last stroke makes with
    the next reads clearly surer than the run; a longer run whenever the pair is sure."""
    from app.reader.segmenter import _shares_last_stroke

    reading = {(0, strokes): _reading(*mine), (strokes - 1, strokes + 1): _reading(*theirs)}
    assert _shares_last_stroke(reading, 0, strokes) is shares


@pytest.mark.parametrize(("gain", "number"), [(None, "144"), (1.0, "414")])
def test_a_one_does_not_take_in_the_next_fours_bar(monkeypatch, gain, number):
    """"144" in two-stroke 4s, close together: the 1 with the first 4's bar reads a fair 4 (0.93), the bar
    with its stem a perfect one, and the prior (read here from a table) favours the chain 1+bar, stem,
    bar+stem ("414"); the two-stroke run that shares its last stroke with a surer same digit pays. With a
    gain no pair can reach, the chain wins again."""
    from app.reader import segmenter

    if gain is not None:
        monkeypatch.setattr(segmenter, "PAIR_GAIN", gain)
    boxes = [segmenter.Box(float(10 * i), 0.0, 5.0, 100.0) for i in range(5)]  # 1, bar, stem, bar, stem
    joins = {(1, 0): 0.48, (2, 0): 0.36, (2, 1): 0.85, (3, 1): 0.61, (3, 2): 0.19, (4, 2): 0.6, (4, 3): 0.85,
             (3, 0): 0.22, (4, 1): 0.31}  # (unit, the run's first unit): the prior that the unit joins the run
    monkeypatch.setattr(segmenter, "_join_probability",
                        lambda prior, unit, run, scale, floor=None, merged=None: joins[(int(unit[0]) // 10,
                                                                                        int(run[0]) // 10)])
    readings = {(0, 1): (1, 1.0), (0, 2): (4, 0.93), (0, 3): (4, 0.18), (1, 2): (2, 0.76), (1, 3): (4, 1.0),
                (1, 4): (4, 0.18), (2, 3): (1, 1.0), (2, 4): (4, 0.94), (2, 5): (4, 0.79), (3, 4): (2, 0.69),
                (3, 5): (4, 1.0), (4, 5): (1, 1.0)}
    runs = list(readings)
    probabilities = np.stack([_reading(*readings[run]) for run in runs])
    path, _ = segmenter._two_best_paths(len(boxes), segmenter._run_scores(None, runs, probabilities, boxes,
                                                                          seen=probabilities))
    assert "".join(str(readings[run][0]) for run in path) == number


def test_the_best_split_and_its_margin_are_those_of_trying_every_split():
    """_two_best_paths (dynamic programming keeping two ways per point) against enumerating every split."""
    from app.reader.segmenter import _two_best_paths

    def splits(start: int, count: int):
        if start == count:
            yield []
        for end in range(start + 1, min(start + 4, count) + 1):
            for rest in splits(end, count):
                yield [(start, end), *rest]

    rng = np.random.default_rng(5)
    for count in range(1, 8):
        scores = {(a, b): float(rng.normal()) for a in range(count) for b in range(a + 1, min(a + 4, count) + 1)}
        totals = sorted(((sum(scores[r] for r in path), path) for path in splits(0, count)), reverse=True)
        path, margin = _two_best_paths(count, scores)
        assert path == totals[0][1]
        assert margin == (pytest.approx(totals[0][0] - totals[1][0]) if len(totals) > 1 else math.inf)


@pytest.mark.parametrize(("margin", "unsure"), [(0.0, False), (1e6, True)])
def test_a_number_whose_second_best_split_comes_close_is_unsure(tmp_path, margin, unsure):
    """NUMBER_SPLIT_MARGIN: how far ahead of the next best split of the strokes the chosen one must be."""
    seven, bar, one = [[40, 40], [120, 40], [70, 200]], [[50, 120], [110, 120]], [[180, 40], [180, 200]]
    client = create_app({"TESTING": True, "NUMBER_SPLIT_MARGIN": margin,
                         "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}).test_client()
    answer = client.post("/api/read", json={"strokes": [seven, bar, one], "width": 300, "height": 240}).get_json()
    assert answer["number"] == "71" and answer["unsure"] is unsure
    assert not any(d["unsure"] for d in answer["digits"])  # the doubt is the split's, not a digit's


@pytest.mark.parametrize(("bar", "unsure"), [(0.0, False), (1.0, True)])
def test_a_drawn_numbers_digit_under_the_number_bar_is_unsure(tmp_path, bar, unsure):
    """NUMBER_DIGIT_UNSURE: the top probability under which a digit of a drawn number is unsure (its own bar,
    not the single digit's UNSURE_THRESHOLD); the number is unsure with it."""
    one, seven = [[60, 40], [60, 200]], [[140, 40], [220, 40], [170, 200]]
    client = create_app({"TESTING": True, "NUMBER_DIGIT_UNSURE": bar, "UNSURE_THRESHOLD": 1 - bar,
                         "NUMBER_SPLIT_MARGIN": 0.0, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}).test_client()
    answer = client.post("/api/read", json={"strokes": [one, seven], "width": 300, "height": 240}).get_json()
    assert answer["number"] == "17"
    assert [d["unsure"] for d in answer["digits"]] == [unsure, unsure] and answer["unsure"] is unsure


def unipen_like(path, records):
    """A UNIPEN-format file made of the fixture's pen digits: writers named contributor/name, fold 5's
    contributors (apa, imp) and a training one (syn), coordinates in a device's larger units."""
    contributors = {2: "syn", 5: "apa", 10: "imp"}
    path.write_text(json.dumps([{"label": r["label"], "writer": f"{contributors[r['writer']]}/w{r['writer']}",
                                 "strokes": [(np.asarray(s) * 7).tolist() for s in r["strokes"]]} for r in records]))
    return str(path)


def pen_sources(tmp_path) -> list[str]:
    """The command line naming the fixture's pendigits and a UNIPEN-like copy of it."""
    unipen = unipen_like(tmp_path / "unipen.json", json.loads(PEN_FIXTURE.read_text()))
    return ["--pen-data", str(PEN_FIXTURE), "--unipen-data", unipen]


def test_the_number_evaluation_reads_each_pen_sources_held_out_writers_apart(tmp_path):
    """make eval's number block: one table per pen source, each from the fold's held-out writers only."""
    assert number_eval.main([*pen_sources(tmp_path), "--numbers", "10", "--readers", "strokes: segmenter",
                             "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "number_eval.json").read_text())
    sources = summary["sources"]
    assert summary["fold"] == 5 and list(sources) == ["pendigits writers", "UNIPEN contributors"]
    assert sources["pendigits writers"]["writers"] == [5, 10]  # writer 2 trains fold 5
    assert sources["UNIPEN contributors"]["writers"] == ["apa/w5", "imp/w10"]  # syn trains it
    for name, result in sources.items():
        assert result["counts"]["strokes: segmenter"] == 10
        rows = number_eval.table(result, name).splitlines()
        assert rows[0] == f"| numbers by {name} | strokes: segmenter |" and any("read alone" in r for r in rows)


def test_the_join_prior_is_fitted_on_both_pen_sources_training_writers_only(tmp_path):
    from training import join_prior

    out = tmp_path / "prior.json"
    assert join_prior.main([*pen_sources(tmp_path), "--numbers", "60", "--out", str(out)]) == 0
    prior = json.loads(out.read_text())
    fitted = prior["fitted_on"]
    assert fitted["writers"] == 2 and fitted["unipen_data_sha256"]  # pendigits writer 2 and syn/w2
    assert len(prior["weights"]) == len(prior["features"]) and fitted["joins"] > 0 and fitted["splits"] > 0


def test_every_fold_is_read_by_its_own_models_and_join_prior(tmp_path, monkeypatch):
    """The every-fold block: each fold's held-out writers read with that fold's models and a join prior
    fitted on that fold's training writers only; pooled per source."""
    from training import join_prior

    records = json.loads(PEN_FIXTURE.read_text())
    unipen = unipen_like(tmp_path / "unipen.json", records)
    fitted = []
    real = join_prior.fitted_prior
    monkeypatch.setattr(join_prior, "fitted_prior", lambda train, model, *a: fitted.append(
        ({r["writer"] for r in train}, model)) or real(train, model, *a))
    pooled = number_eval.every_fold(pen_data.load_pen(str(PEN_FIXTURE), unipen), 4, 0, prior_numbers=30)
    assert sorted(map(str, fitted[1][0])) == ["10", "5", "apa/w5", "imp/w10", "syn/w2"]  # fold 2 holds out writer 2
    assert [model.split("/")[-2] for _, model in fitted] == [f"fold{k}" for k in range(1, 6)]
    # pendigits writer 5 and 10 are fold 5's, 2 fold 2's; syn is fold 1's, apa and imp fold 5's
    assert sorted(pooled["pendigits writers"]["folds"]) == [2, 5]
    assert sorted(pooled["UNIPEN contributors"]["folds"]) == [1, 5]
    for result in pooled.values():
        assert result["worst"] <= result["exact"] <= 1 and result["writers"] >= 2
    assert number_eval.fold_table(pooled).count("\n") == 3
    by_row = number_eval.fold_rows_table(pooled).splitlines()
    labels = [row.split(" | ")[0].removeprefix("| ") for row in by_row[2:]]
    expected = [f"length {n}" for n in range(2, 6)] + [f"gap: {gap}" for gap in number_eval.GAPS]
    assert labels == [label for label in expected if label in labels] and "gap: touching" in labels
    for row in by_row[2:]:  # every row pooled over the folds of each source, a rate
        cells = [cell.strip(" %|") for cell in row.split(" | ")[1:]]
        rates = [float(c) for c in cells if c != "–"]  # a source whose numbers had no such row: a dash
        assert len(cells) == 2 and rates and all(0 <= rate <= 100 for rate in rates)


def test_the_drawn_referee_reads_only_the_folds_whose_writers_it_never_saw(tmp_path):
    """The pretrained recognizer was fine-tuned on every pen writer but the line recipe's held-out fold's."""
    from training.config import RECIPES

    unipen = unipen_like(tmp_path / "unipen.json", json.loads(PEN_FIXTURE.read_text()))
    records = pen_data.load_pen(str(PEN_FIXTURE), unipen)
    asked = {fold: reader.numbers.referee is not None for fold, reader, _ in number_eval.fold_readers(records, 30)}
    assert asked == {fold: fold == RECIPES["line"].fold for fold in range(1, pen_data.FOLDS + 1)}


def test_make_evals_every_fold_block_gets_every_writer_of_both_sources(tmp_path, monkeypatch):
    """main --every-fold hands every_fold all the pen data (training and held-out writers of both sources),
    not the last table's held-out writers (a loop variable once shadowed it: no training writer was left)."""
    records = json.loads(PEN_FIXTURE.read_text())
    unipen = unipen_like(tmp_path / "unipen.json", records)
    given = []
    monkeypatch.setattr(number_eval, "every_fold", lambda records, *a, **k: given.append(records) or {})
    monkeypatch.setattr(number_eval, "evaluate", lambda readers, held, *a: {"writers": []})
    monkeypatch.setattr(number_eval, "table", lambda *a: "")
    assert number_eval.main(["--pen-data", str(PEN_FIXTURE), "--unipen-data", str(unipen), "--numbers", "1",
                             "--readers", "strokes: segmenter", "--every-fold", "2", "--out", str(tmp_path)]) == 0
    [records_given] = given
    assert len(records_given) == len(pen_data.load_pen(str(PEN_FIXTURE), unipen))
    assert {r["source"] for r in records_given} == {"pendigits", "unipen"}


def test_the_institution_check_reads_each_contributor_by_its_fold_and_by_the_whole_institution_model(tmp_path):
    """bench.institutions: a model folder whose report holds out apa and imp is compared with the fold that
    held each of them out; the same models both ways give the same accuracy (no drop)."""
    import shutil

    from bench import institutions

    records = json.loads(PEN_FIXTURE.read_text())
    unipen = unipen_like(tmp_path / "unipen.json", records)
    model = tmp_path / "model"
    shutil.copytree(ROOT / "models" / "cv" / "fold5", model)
    assert institutions.fold_models(ROOT / "models" / "cv")["apa"].name == "fold5"
    assert institutions.main([str(model), "--unipen-data", unipen, "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "institutions.json").read_text())
    assert result["held_out"] == ["apa", "imp"]
    assert result["by_fold"] == result["held_out_whole"] and result["by_fold"]["apa"]["count"] > 0


def test_the_online_reader_reads_drawn_numbers_without_cutting_them_first(tmp_path, writers):
    """NUMBER_STROKE_READER=online: the pen path read as a sequence (models/online.tflite); each digit names
    its strokes (every stroke in exactly one digit) and a box round them; without the model, the segmenter."""
    config = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "NUMBER_STROKE_READER": "online"}
    app = create_app(config)
    assert type(app.extensions["reader"].stroke_numbers).__name__ == "DrawnByOnline"
    client = app.test_client()
    rng = np.random.default_rng(2)
    right = 0
    for i in range(20):
        points, truth, width, height = number_eval.compose(writers[5], rng, list(number_eval.GAPS)[i % 5])
        body = client.post("/api/read", json=payload(points, width, height)).get_json()
        right += body["number"] == truth
        owned = sorted(s for d in body["digits"] for s in d["strokes"])
        assert owned == list(range(len(points)))
        for digit in body["digits"]:
            x, y, w, h = digit["box"]
            inside = np.concatenate([points[s] for s in digit["strokes"]]) if digit["strokes"] else None
            assert inside is None or (abs(x - inside[:, 0].min()) < 1 and abs(y + h - inside[:, 1].max()) < 1)
    assert right >= 14  # 88-89% of held-out writers' numbers (docs/accuracy.md); the fixture's are few
    fallback = create_app({**config, "ONLINE_MODEL_PATH": ""})
    assert type(fallback.extensions["reader"].stroke_numbers).__name__ == "DrawnBySegmenter"


def test_the_label_review_counts_each_misread_unipen_digit_by_its_reviewed_class(tmp_path):
    """bench.label_review: every UNIPEN digit its held-out fold misreads is listed and counted under the class
    the review gives it; one the review never saw is "not reviewed". Digits relabelled wrong here are misread."""
    from bench import label_review

    records = json.loads(PEN_FIXTURE.read_text())
    relabelled = [i for i, r in enumerate(records) if r["writer"] in (5, 10)][:4]
    for i in relabelled:
        records[i] = {**records[i], "label": (records[i]["label"] + 5) % 10}
    unipen = unipen_like(tmp_path / "unipen.json", records)
    review = tmp_path / "review.json"
    review.write_text(json.dumps({"unipen_sha256": "", "review": {str(relabelled[0]): "label",
                                                                 str(relabelled[1]): "cut"}}))
    assert label_review.main(["--unipen-data", unipen, "--review", str(review), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "label_review.json").read_text())
    listed = {m["index"] for m in result["misread_digits"]}
    assert set(relabelled) <= listed
    assert all(m["read"] != m["label"] for m in result["misread_digits"])
    counts = {name: row["count"] for name, row in result["by_class"].items()}
    assert counts["label"] == 1 and counts["cut"] == 1 and counts["model"] == 0
    assert counts["not reviewed"] == len(listed) - 2 and result["misread"] == len(listed)
    assert result["by_class"]["label"]["points"] == round(100 / result["digits"], 3)
    assert (tmp_path / "unipen_misread.png").stat().st_size > 0


@pytest.mark.parametrize(("groups", "read", "inside", "split", "merged"), [
    ([[0, 1], [2]], "41", 2, 0, 0),        # each digit exactly its strokes, named right
    ([[0], [2]], "41", 2, 0, 0),           # the 4's tick (stroke 1) set aside as a tap: still read right
    ([[0], [1], [2]], "461", 1, 1, 0),     # the 4 split in two
    ([[0, 1, 2]], "4", 0, 0, 2),           # both merged into one
    ([[0, 1], [2]], "71", 1, 0, 0),        # the 4 misread
])
def test_a_digit_is_read_inside_its_number_when_one_answer_digit_holds_its_kept_strokes(groups, read, inside, split,
                                                                                        merged):
    """number_eval.gap_tally: the per-digit split/merge/inside counts the digit gap is made of; strokes the
    reader set aside (in no answer digit) are not asked for."""
    tally = {"digits": 0, "alone": 0, "inside": 0, "split": 0, "merged": 0}
    answer = {"digits": [{"digit": int(d), "strokes": g} for d, g in zip(read, groups)]}
    number_eval.gap_tally(tally, answer, "41", np.array([0, 0, 1]), [True, True])
    assert (tally["inside"], tally["split"], tally["merged"], tally["alone"]) == (inside, split, merged, 2)


@pytest.mark.parametrize(("joins", "runs"), [
    (0.5, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]),  # likely joins: every run up to the last stroke
    (0.05, [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]),          # a doubtful pair is read, never grown
    (0.01, [(0, 1), (1, 2), (1, 3), (2, 3)]),                   # under PAIR_JOIN: no pair from stroke 0
])
def test_candidate_runs_read_doubtful_pairs_but_grow_only_likely_runs(joins, runs):
    """_candidate_runs: a stroke joins the stroke before it as a candidate down to PAIR_JOIN (a 4's bar and
    stem far apart), and a run grows past two strokes only on joins of at least CANDIDATE_JOIN."""
    from app.reader import segmenter

    # the runs that start at stroke 0 join doubtfully
    assert segmenter._candidate_runs(3, lambda a, b: joins if a == 0 else 0.5) == runs


@pytest.mark.parametrize("points", [2, 166])
def test_a_drawing_whose_every_stroke_goes_back_left_reads_few_other_orders(monkeypatch, points):
    """LATE_TRIES and LATE_READS: hatching drawn right to left, every stroke back left of the one before it and
    near all the others, tries at most LATE_TRIES orders besides digit_order's and reads at most about
    LATE_READS candidates more than that order did, however many strokes it has and however long they are."""
    from app.reader import segmenter
    from bench import scratch_reader

    orders, known = [], []
    split_in_order = segmenter._split_in_order

    def counted(prior, readings, boxes, order):
        result = split_in_order(prior, readings, boxes, order)
        orders.append(order)
        known.append(len(readings.known))
        return result

    monkeypatch.setattr(segmenter, "_split_in_order", counted)
    t = np.linspace(0, 1, points)[:, None]
    strokes = [np.hstack([300.0 - 4 * i - 4 * t, 20 + 180 * t]) for i in range(40)]
    reader = scratch_reader()
    segmenter.read_strokes(reader.cnn, strokes, reader.fusion.fuse_many)
    assert len(segmenter._drawn_back([segmenter.box_of(s) for s in strokes])) == 38
    assert 1 < len(orders) <= 1 + segmenter.LATE_TRIES
    assert known[-1] <= known[0] + segmenter.LATE_READS + segmenter.MAX_RUN ** 2  # one order past the bound


def test_every_placement_keeps_the_number_on_its_canvas_and_its_strokes_ends(writers):
    from bench import number_placements

    rng = np.random.default_rng(2)
    points, truth, width, height = number_eval.compose(writers[5], rng, "normal")
    for name, place in number_placements.PLACEMENTS.items():
        moved, w, h = place(points, width, height, rng)
        inside = np.concatenate(moved)
        assert len(moved) == len(points) and (inside >= 0).all() and (inside <= (w, h)).all(), name
    small, w, h = number_placements.PLACEMENTS["small on a big canvas (digits 32 px on 800x400)"](
        points, width, height, rng)
    assert (w, h) == (800, 400) and np.ptp(np.concatenate(small)[:, 1]) == pytest.approx(
        0.4 * np.ptp(np.concatenate(points)[:, 1]))
    sparse = number_placements._every(points[0], 6.0)
    assert np.allclose(sparse[[0, -1]], points[0][[0, -1]])
    assert (np.linalg.norm(np.diff(sparse[:-1], axis=0), axis=1) <= 6.0 + 1e-9).all()


def test_the_placement_block_reads_every_fold_in_every_placement(tmp_path):
    from bench import number_placements

    assert number_placements.main([*pen_sources(tmp_path), "--numbers", "3", "--prior-numbers", "30",
                                   "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "number_placements.json").read_text())
    # pendigits writers 5 and 10 (fold 5) and 2 (fold 2); UNIPEN's syn (fold 1) and apa, imp (fold 5)
    assert list(result) == ["pendigits writers", "UNIPEN contributors"]
    for rows in result.values():
        assert list(rows) == list(number_placements.PLACEMENTS)
        assert {row["numbers"] for row in rows.values()} == {6} and all(0 <= r["exact"] <= 1 for r in rows.values())
    assert number_placements.table(result).count("\n") == len(number_placements.PLACEMENTS) + 1


def turned(points, degrees):
    """The number's strokes turned about their middle (positive: uphill), as bench/number_placements turns them."""
    from bench.number_placements import _turned

    return _turned(degrees)(points, 0.0, 0.0, None)[0]


@pytest.mark.parametrize("degrees", [-14, -10, 10, 14])
def test_a_line_written_uphill_or_downhill_is_measured_and_levelled(writers, degrees):
    from app.reader import level

    rng = np.random.default_rng(8)
    points = []
    while len(points) < 8:  # a long number: its band is the line's, not a digit's
        points, truth, width, height = number_eval.compose(writers[5], rng, "normal")
    sloped = turned(points, degrees)
    rise = level.slope(sloped)
    # within the composed number's own drift (about 2 degrees here)
    assert rise == pytest.approx(-math.tan(math.radians(degrees)), abs=0.06)
    assert level.slope(level.levelled(sloped, rise)) == 0.0  # nothing left to take out


def test_level_writing_a_single_digit_and_a_short_number_are_left_as_they_are(writers):
    from app.reader import level

    rng = np.random.default_rng(9)
    for _ in range(20):
        points, truth, width, height = number_eval.compose(writers[10], rng, "normal")
        assert level.slope(points) == 0.0, truth  # a composed number: a wobbling, drifting baseline only
    one = [np.array([[0.0, 0.0], [10.0, 80.0]])]  # a leaning 1: its band is lowest tipped over, yet no line
    assert level.slope(one) == 0.0 and level.levelled(one, 0.0) is one
    for degenerate in ([[5.0, 5.0]], [[5.0, 5.0], [5.0, 50.0]], [[0.0, 5.0], [300.0, 5.0]]):  # no band to level
        assert level.slope([np.array(degenerate)]) == 0.0


def test_a_number_written_uphill_is_read_level_and_boxed_where_it_was_drawn(app, client, writers, monkeypatch):
    from app.reader import level

    reader = app.extensions["reader"]
    read, seen = reader.stroke_numbers.read, []
    spy = type("Spy", (), {"read": lambda self, ink: seen.append(ink) or read(ink)})
    monkeypatch.setattr(reader, "stroke_numbers", spy())
    rng, checked = np.random.default_rng(11), 0
    while checked < 3:
        points, truth, width, height = number_eval.compose(writers[5], rng, "wide")
        if len(truth) < 4:
            continue
        sloped = turned(points, 9)
        right, bottom = np.concatenate(sloped).max(axis=0) + 20
        body = client.post("/api/read", json=payload(sloped, float(right), float(bottom))).get_json()
        flat = client.post("/api/read", json=payload(points, width, height)).get_json()
        assert level.slope(seen[-2].strokes) == 0.0 < abs(level.slope(sloped))  # the segmenter read it level
        assert body["number"] == flat["number"]
        for digit in body["digits"]:  # each box holds its own strokes as drawn, not as levelled
            x, y, w, h = digit["box"]
            inside = np.concatenate([np.round(sloped[i], 1) for i in digit["strokes"]])
            assert (inside >= (x - 0.11, y - 0.11)).all() and (inside <= (x + w + 0.11, y + h + 0.11)).all()
            assert inside[:, 1].min() == pytest.approx(y, abs=0.11)
        checked += 1
