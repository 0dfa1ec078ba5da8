"""The drawn numbers' referee: the pretrained recognizer reads a drawing as a picture, and a number it finds
improbable is unsure (app/reader/drawn_referee.py, DrawnBySegmenter)."""

from __future__ import annotations

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
    assert referee(picture, "17") > 0.5
    assert referee(picture, "71") < 0.01 and referee(picture, "117") < 0.01


class CountingReferee:
    def __init__(self, probability: float) -> None:
        self.probability, self.asked = probability, []

    def __call__(self, picture: np.ndarray, number: str) -> float:
        self.asked.append(number)
        return self.probability


@pytest.mark.parametrize(("below", "probability", "asked", "unsure"), [
    (1.01, 0.001, True, True),  # asked (every digit is under 1.01) and refuted
    (1.01, 0.5, True, False),  # asked and not refuted
    (0.5, 0.001, False, False),  # both digits surer than 0.5: never asked, whatever it would say
])
def test_a_drawn_number_the_referee_refutes_is_unsure(tmp_path, below, probability, asked, unsure):
    app = create_app({"TESTING": True, "DRAWN_REFEREE_BELOW": below, "DRAWN_REFEREE_UNSURE": 0.01,
                      "NUMBER_SPLIT_MARGIN": 0.0, "NUMBER_DIGIT_UNSURE": 0.0,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    referee = CountingReferee(probability)
    numbers = app.extensions["reader"].numbers
    object.__setattr__(numbers, "referee", referee)
    response = app.test_client().post("/api/read", json={"strokes": [ONE, SEVEN], "width": 300, "height": 240})
    answer = response.get_json()
    assert response.status_code == 200 and answer["number"] == "17"
    assert referee.asked == (["17"] if asked else []) and answer["unsure"] is unsure
    assert not any(d["unsure"] for d in answer["digits"])  # the doubt is the number's, not a digit's


def test_without_the_recognizer_or_with_the_referee_off_no_referee_is_built():
    assert scratch_reader(PICTURE_MODEL_PATH="").numbers.referee is None
    assert scratch_reader(DRAWN_REFEREE_BELOW=0.0).numbers.referee is None


@pytest.mark.parametrize("data", [b"", b"17", b"17\n", b"1a\n\x89PNG", b"17\nnot a png", b"1" * 65 + b"\n"])
def test_a_job_that_is_not_a_drawn_numbers_picture_is_refused(data):
    with pytest.raises(InputError):
        drawn_referee.parsed(data)


def test_the_job_carries_the_picture_and_the_number_whole():
    picture, _, _ = line.strokes_picture(_strokes())
    back, number = drawn_referee.parsed(drawn_referee.payload(picture, "17"))
    assert number == "17" and np.array_equal(back, picture)


def test_a_picture_with_no_writing_has_no_opinion():
    reader = scratch_reader(PICTURE_PROCESS=False)
    assert reader.numbers.referee(np.full((80, 200), 255, np.uint8), "17") == 1.0
