"""The Reader without Flask: built by build_reader(settings) as the server, the CLI and the benches build it,
answering exactly as the API does; one Settings from defaults, environment and overrides; number readers
behind one protocol, chosen by name."""

from __future__ import annotations

import io
import json
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from support import SEVEN, canvas_payload, png_of

from app.config import Settings, load_settings
from app.errors import NO_DIGIT_IN_PICTURE, InputError, NoInk, TooMuchInk
from app.reader import Drawing, build_reader, number_readers, online
from app.reader.answers import Box, DigitSpan, Reading, number_answer
from app.reader.drawing import parse_drawing

FOUR_TWO = [[[40, 40], [40, 170], [160, 170]], [[130, 60], [130, 290]],  # a two-stroke 4
            [[220, 90], [300, 60], [320, 120], [230, 280], [330, 280]]]  # a 2 beside it


def drawing_of(body: dict) -> Drawing:
    return parse_drawing(json.dumps(body).encode(), Settings())[1]


def test_settings_come_from_defaults_then_the_environment_then_overrides():
    environ = {"FLASK_UNSURE_THRESHOLD": "0.6", "FLASK_LINE_CNN_CHECK": "true", "FLASK_MAX_STROKES": "50",
               "FLASK_NUMBER_STROKE_READER": "fused", "DATABASE_URL": "sqlite:///x.db", "METRICS_PORT": "9100"}
    settings = load_settings({"MAX_STROKES": 7, "TESTING": True}, environ)
    assert settings.unsure_threshold == 0.6 and settings.line_cnn_check is True
    assert settings.max_strokes == 7  # the test config wins over the environment
    assert settings.number_stroke_reader == "fused" and settings.database_url == "sqlite:///x.db"
    assert settings.metrics_port == 9100 and settings.max_points == Settings().max_points
    with pytest.raises(FrozenInstanceError):
        settings.max_strokes = 8  # type: ignore[misc]


def test_a_setting_of_the_wrong_type_fails_at_start_naming_it():
    with pytest.raises(ValueError, match="MAX_POINTS"):
        load_settings(environ={"FLASK_MAX_POINTS": "many"})


def test_the_app_and_a_plain_reader_read_alike(app, client, reader):
    """The API is the Reader and nothing more: the same answer for a drawing, a number and a picture."""
    assert client.post("/api/predict", json=SEVEN).get_json() == reader.digit(drawing_of(SEVEN))
    number = canvas_payload(FOUR_TWO, 360)
    assert client.post("/api/read", json=number).get_json() == reader.number(drawing_of(number))
    picture = png_of(255 - np.pad(np.eye(40, dtype=np.uint8) * 255, 20))
    api = client.post("/api/predict/image", data={"image": (io.BytesIO(picture), "d.png")}).get_json()
    assert api == reader.digit_in_picture(picture).answer
    assert app.extensions.keys() <= {"reader", "corrections"}


def test_readers_raise_rather_than_return_nothing(reader):
    with pytest.raises(NoInk, match="draw a digit"):
        reader.number(Drawing([np.array([[5.0, 5.0]]), np.array([[50.0, 50.0]])], 300, 300))  # taps only
    with pytest.raises(NoInk) as blank:
        reader.number_in_picture(png_of(np.full((60, 200), 235, np.uint8)))
    assert str(blank.value) == NO_DIGIT_IN_PICTURE and blank.value.status == 422
    noise = (np.random.default_rng(1).random((300, 300)) > 0.5).astype(np.uint8) * 255
    with pytest.raises(TooMuchInk) as much:
        reader.number_in_picture(png_of(noise))
    assert much.value.status == 422 and "too much ink" in str(much.value)


def test_the_stroke_limit_is_checked_before_any_reading(reader):
    strokes = [np.array([[x * 10.0, 0.0], [x * 10.0, 50.0]]) for x in range(reader.settings.number_max_strokes + 1)]
    with pytest.raises(InputError, match="too many strokes") as error:
        reader.number(Drawing(strokes, 1000, 1000))
    assert error.value.status == 422


@pytest.mark.parametrize("way", sorted(number_readers.STROKE_READERS))
def test_every_registered_stroke_reader_reads_a_number_and_names_its_strokes(reader, way):
    """Each registered reader is one class behind one protocol; the Reader maps its strokes back to the
    request's (taps counted), whichever reader it is."""
    sequence = online.OnlineModel(reader.settings.online_model_path) if way == "online" else None
    models = number_readers.NumberModels(reader.numbers.cnn, reader.numbers.line,
                                         reader.settings.replace(number_stroke_reader=way), online=sequence)
    chosen = number_readers.stroke_reader(models)
    assert type(chosen) is number_readers.STROKE_READERS[way]
    body = canvas_payload(FOUR_TWO, 360)
    body["strokes"].insert(1, [[200, 340]])  # a tap between the 4's strokes: left out, still counted
    plain = build_reader(reader.settings.replace(number_stroke_reader=way))
    answer = plain.number(drawing_of(body))
    assert answer["number"] == "42", (way, answer["number"])
    assert sorted(i for d in answer["digits"] for i in d["strokes"]) == [0, 2, 3]
    assert all(len(d["box"]) == 4 and isinstance(d["box"], list) for d in answer["digits"])


def test_one_function_lays_out_every_reading():
    spans = [DigitSpan(np.eye(10)[4] * 0.9 + 0.01, Box(1.0, 2.0, 3.0, 4.0), [0, 1], False),
             DigitSpan(np.eye(10)[2] * 0.5 + 0.05, Box(5.0, 2.0, 3.0, 4.0), None, True)]
    answer = number_answer(Reading(spans), 0.75)
    assert answer["number"] == "42" and answer["unsure"]
    assert answer["digits"][0]["strokes"] == [0, 1] and "strokes" not in answer["digits"][1]
    assert answer["digits"][0]["box"] == [1.0, 2.0, 3.0, 4.0]
    assert number_answer(Reading(spans[:1], doubtful=True), 0.75)["unsure"]  # a doubtful reading is unsure
    assert not number_answer(Reading(spans[:1]), 0.75)["unsure"]


def test_a_box_clips_to_its_picture():
    assert Box(-2.0, 3.0, 10.0, 50.0).within((6, 40)) == Box(0.0, 3.0, 6.0, 37.0)
    assert Box(1.04, 2.0, 3.0, 4.0).rounded(2.0) == [2.1, 4.0, 6.0, 8.0]


THREE = [[60, 40], [110, 40], [80, 100], [115, 140], [60, 200]]
ONE_STROKE = [[210, 40], [210, 200]]
FOUR_STROKES = [[[300, 40], [280, 150], [350, 150]], [[330, 90], [330, 200]]]


def test_a_decimal_point_drawn_between_digits_is_kept_in_the_text(reader):
    drawn = Drawing([np.array(s, float) for s in [THREE, [[160, 195]], ONE_STROKE, *FOUR_STROKES]], 600, 240)
    answer = reader.number(drawn)
    assert answer["number"] == "314" and answer["text"] == "3.14" and answer["lines"] == 1
    assert [(m["mark"], m["after"]) for m in answer["marks"]] == [("point", 0)]
    assert sorted(i for d in answer["digits"] for i in d["strokes"]) == [0, 2, 3, 4]  # the tap is no digit's


def test_a_tap_above_the_digits_or_beside_them_is_no_point(reader):
    for tap in ([[160, 45]], [[20, 195]], [[400, 195]]):  # up by the tops, before the first, after the last
        drawn = Drawing([np.array(s, float) for s in [THREE, tap, ONE_STROKE, *FOUR_STROKES]], 600, 240)
        answer = reader.number(drawn)
        assert answer["text"] == answer["number"] == "314"
        # A point after the last digit is named, and left out of the text; the others are no marks at all.
        assert [(m["mark"], m["after"]) for m in answer["marks"]] == ([("point", 2)] if tap[0][0] == 400 else [])


def read_with(reader, mark: list, before: bool = False) -> dict:
    """314 drawn with one more stroke, between the 3 and the 1 (or before the 3)."""
    strokes = [mark, THREE, ONE_STROKE, *FOUR_STROKES] if before else [THREE, mark, ONE_STROKE, *FOUR_STROKES]
    return reader.number(Drawing([np.array(s, float) for s in strokes], 600, 240))


@pytest.mark.parametrize(("mark", "before", "text", "kind"), [
    ([[140, 120], [185, 122]], False, "3-14", "dash"),  # at mid-height between two digits: a dash, not a 1
    ([[5, 118], [45, 120]], True, "-314", "minus"),  # before the first digit: a minus sign
    ([[160, 190], [154, 216]], False, "3,14", "comma"),  # low, hanging below the line: a comma
    ([[158, 186], [166, 192], [160, 198]], False, "3.14", "point"),  # a small written dot on the line
])
def test_dashes_minus_signs_commas_and_points_are_read_into_the_text(reader, mark, before, text, kind):
    answer = read_with(reader, mark, before)
    assert answer["number"] == "314" and answer["text"] == text
    assert [(m["mark"], m["after"]) for m in answer["marks"]] == [(kind, -1 if before else 0)]
    mark_index = 0 if before else 1
    assert mark_index not in {i for d in answer["digits"] for i in d["strokes"]}  # no digit owns the mark


@pytest.mark.parametrize("strokes", [
    [[[60, 40], [120, 40], [80, 200]], [[70, 120], [115, 120]]],  # a continental 7, its bar across the stem
    [[[300, 40], [280, 150], [350, 150]], [[330, 90], [330, 200]]],  # a 4: its cross has the stem under it
    [[[70, 40], [60, 110], [100, 110], [105, 160], [60, 200]], [[60, 40], [120, 40]]],  # a 5 and its flag
])
def test_a_bar_or_flag_over_its_own_digit_is_never_a_mark(reader, strokes):
    answer = reader.number(Drawing([np.array(s, float) for s in strokes], 600, 240))
    assert answer["marks"] == [] and answer["text"] == answer["number"]


def test_no_stroke_of_a_composed_pen_number_is_taken_for_a_mark(pen_digits):
    from app.reader.marks import pull_marks
    from training.compose import GAPS, compose, group_by_writer

    rng = np.random.default_rng(5)
    writers = group_by_writer(pen_digits)
    for i in range(400):
        strokes, _, _, _ = compose(writers[sorted(writers)[i % len(writers)]], rng, list(GAPS)[i % len(GAPS)])
        kept, pulled = pull_marks(strokes)
        assert pulled == [] and kept == list(range(len(strokes)))


def test_two_lines_of_writing_are_unsure_and_counted(reader):
    one, seven = [[60, 20], [60, 100]], [[120, 20], [160, 20], [130, 100]]
    below = [[[x, y + 120] for x, y in stroke] for stroke in (one, seven)]
    answer = reader.number(Drawing([np.array(s, float) for s in [one, seven, *below]], 300, 240))
    assert answer["lines"] == 2 and answer["unsure"]
    flagged = reader.number(Drawing([np.array(s, float) for s in [[[60, 40], [60, 110], [100, 110], [105, 160],
                                     [60, 200]], [[60, 40], [120, 40]]]], 300, 240))  # a 5 and its flag
    assert flagged["lines"] == 1
