"""The drawn numbers' referee: the pretrained recognizer reads a drawing as a picture, and a number it finds
improbable is unsure (app/reader/drawn_referee.py, DrawnBySegmenter)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app import create_app
from app.errors import InputError
from app.reader import drawn_referee, line
from bench import scratch_reader

ONE, SEVEN = [[60, 40], [60, 200]], [[140, 40], [220, 40], [170, 200]]


def _strokes() -> list[np.ndarray]:
    return [np.array(ONE, float), np.array(SEVEN, float)]


@pytest.mark.parametrize("in_process", [True, False])
def test_the_referee_finds_the_number_drawn_probable_and_another_improbable(in_process):
    """Here and through the picture process alike: the recognizer's view of the rendered strokes."""
    reader = scratch_reader(PICTURE_PROCESS=not in_process)
    picture, _, _ = line.strokes_picture(_strokes())
    referee = reader.numbers.referee
    assert type(referee).__name__ == ("LocalReferee" if in_process else "ProcessReferee")
    verdict = referee(picture, "17")
    assert verdict.probability > 0.5 and verdict.number == "17" and verdict.own_probability == verdict.probability
    assert len(verdict.digits) == 2 and verdict.digits[0].box[0] < verdict.digits[1].box[0] < picture.shape[1]
    assert referee(picture, "71").probability < 0.01 and referee(picture, "117").probability < 0.01


class StubReferee:
    """A referee with a fixed verdict: P(the number asked about), and its own reading: `own` digits side by
    side over the whole picture, read with `own_probability`."""

    def __init__(self, probability: float, own: str = "", own_probability: float = 0.0) -> None:
        self.probability, self.own, self.own_probability, self.asked = probability, own, own_probability, []

    def __call__(self, picture: np.ndarray, number: str) -> drawn_referee.Verdict:
        self.asked.append(number)
        width = picture.shape[1] / max(len(self.own), 1)
        digits = [line.LineDigit(np.eye(10, dtype=np.float32)[int(d)], (i * width, 0.0, width, picture.shape[0]),
                                 False) for i, d in enumerate(self.own)]
        return drawn_referee.Verdict(self.probability, digits, self.own_probability)


def _read_with(tmp_path, referee, below: float = 1.01, overrule: float | None = 0.95) -> dict:
    """/api/read's answer for a drawn "17" with this referee (overrule None: the shipped setting)."""
    chosen = {} if overrule is None else {"DRAWN_REFEREE_OVERRULE": overrule}
    database = f"sqlite:///{tmp_path / 'c.db'}" if tmp_path else "sqlite://"
    app = create_app({"TESTING": True, "DRAWN_REFEREE_BELOW": below, "DRAWN_REFEREE_UNSURE": 0.01, **chosen,
                      "NUMBER_SPLIT_MARGIN": 0.0, "NUMBER_DIGIT_UNSURE": 0.0, "DATABASE_URL": database})
    object.__setattr__(app.extensions["reader"].numbers, "referee", referee)
    response = app.test_client().post("/api/read", json={"strokes": [ONE, SEVEN], "width": 300, "height": 240})
    assert response.status_code == 200
    return response.get_json()


@pytest.mark.parametrize(("below", "probability", "asked", "unsure"), [
    (1.01, 0.001, True, True),  # asked (every digit is under 1.01) and refuted
    (1.01, 0.5, True, False),  # asked and not refuted
    (0.5, 0.001, False, False),  # both digits surer than 0.5: never asked, whatever it would say
])
def test_a_drawn_number_the_referee_refutes_is_unsure(tmp_path, below, probability, asked, unsure):
    referee = StubReferee(probability)
    answer = _read_with(tmp_path, referee, below)
    assert answer["number"] == "17" and referee.asked == (["17"] if asked else []) and answer["unsure"] is unsure
    assert not any(d["unsure"] for d in answer["digits"])  # the doubt is the number's, not a digit's


@pytest.mark.parametrize(("probability", "own", "own_probability", "overrule", "number"), [
    (0.001, "4", 0.99, 0.95, "4"),  # refuted, the referee sure the two strokes are one digit: its number
    (0.001, "171", 0.99, 0.95, "171"),  # ... or three digits (the third has no stroke of its own: unsure)
    (0.001, "71", 0.99, 0.95, "17"),  # as many digits, other shapes: never overruled, the split's number unsure
    (0.001, "4", 0.5, 0.95, "17"),  # refuted, the referee unsure of its own: the split's number, unsure
    (0.5, "4", 0.99, 0.95, "17"),  # not refuted: the split's number stands, however sure the referee is of another
    (0.001, "4", 0.99, 0.0, "17"),  # overruling off: refuted means unsure, never another number
])
def test_a_referee_sure_of_another_count_of_digits_overrules_a_refuted_split(tmp_path, probability, own,
                                                                             own_probability, overrule, number):
    answer = _read_with(tmp_path, StubReferee(probability, own, own_probability), overrule=overrule)
    assert answer["number"] == number
    assert answer["unsure"] is (number != "4" and probability < 0.01)
    strokes = [d["strokes"] for d in answer["digits"]]
    if number == "17":
        assert strokes == [[0], [1]]  # each digit keeps its strokes
    elif number == "4":  # one digit owning both strokes, its box back in canvas units over the drawing
        box = answer["digits"][0]["box"]
        assert strokes == [[0, 1]] and box[0] < 60 and box[0] + box[2] > 200
    else:  # every stroke under some digit, and a digit with none of its own is unsure
        assert sorted(sum(strokes, [])) == [0, 1] and any(d["unsure"] for d in answer["digits"] if not d["strokes"])


def test_the_default_settings_overrule_a_split_digit():
    # The shipped settings: a split the referee refutes, sure that its two strokes are one digit, is one digit.
    assert _read_with(None, StubReferee(0.001, "4", 0.99), overrule=None)["number"] == "4"


def test_without_the_recognizer_or_with_the_referee_off_no_referee_is_built():
    assert scratch_reader(PICTURE_MODEL_PATH="").numbers.referee is None
    assert scratch_reader(DRAWN_REFEREE_BELOW=0.0).numbers.referee is None


@pytest.mark.parametrize("data", [b"", b"17", b"17\n", b"1a\n\x89PNG", b"17\nnot a png", b"1" * 65 + b"\n"])
def test_a_job_that_is_not_a_drawn_numbers_picture_is_refused(data):
    with pytest.raises(InputError):
        drawn_referee.parsed(data)


def test_a_verdict_comes_back_from_the_picture_process_as_it_left():
    picture, _, _ = line.strokes_picture(_strokes())
    verdict = scratch_reader(PICTURE_PROCESS=False).numbers.referee(picture, "17")
    back = drawn_referee.Verdict.from_json(json.loads(json.dumps(verdict.as_json())))
    assert back.number == verdict.number and back.probability == pytest.approx(verdict.probability)
    assert [d.box for d in back.digits] == [tuple(d.box) for d in verdict.digits]


def test_the_job_carries_the_picture_and_the_number_whole():
    picture, _, _ = line.strokes_picture(_strokes())
    back, number = drawn_referee.parsed(drawn_referee.payload(picture, "17"))
    assert number == "17" and np.array_equal(back, picture)


def test_a_picture_with_no_writing_has_no_opinion():
    reader = scratch_reader(PICTURE_PROCESS=False)
    assert reader.numbers.referee(np.full((80, 200), 255, np.uint8), "17") == drawn_referee.NO_OPINION


@pytest.mark.parametrize("overrule", [0.95, 0.0])
def test_the_recognizer_mends_a_two_stroke_four_the_split_cut_in_two(tmp_path, overrule):
    # A join prior that never joins cuts a 4's two strokes into two digits; the recognizer, reading the
    # picture, finds one digit and overrules (or, overruling off, the split's two digits are unsure).
    from app.reader import segmenter

    never = tmp_path / "never.json"
    features = segmenter.join_features((10, 0, 5, 40), (0, 0, 12, 40), 40.0)
    never.write_text(json.dumps({"weights": [-40.0] + [0.0] * len(features), "temperature": 1.0, "floor": 0.0}))
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "JOIN_PRIOR_PATH": str(never),
                      "DRAWN_REFEREE_OVERRULE": overrule})
    four = {"strokes": [[[40, 40], [40, 170], [160, 170]], [[130, 60], [130, 290]]], "width": 320, "height": 320}
    answer = app.test_client().post("/api/read", json=four).get_json()
    if overrule:
        assert answer["number"] == "4" and [d["strokes"] for d in answer["digits"]] == [[0, 1]]
        assert answer["unsure"] is False
    else:
        assert len(answer["number"]) == 2 and answer["unsure"] is True
