"""The sequence reader for pictures of numbers: strips, CTC decoding, boxes, and the synthesised training pictures."""

import json

import cv2
import numpy as np
import pytest
from support import PEN_FIXTURE

from app.errors import NoInk
from app.reader import ink, line
from training import data, lines


def _columns(sequence: str, width: int = 3) -> np.ndarray:
    """Column probabilities that spell `sequence` ('-' a blank column), each symbol `width` columns wide."""
    out = []
    for symbol in sequence:
        column = np.full(11, 0.01, np.float32)
        column[line.BLANK if symbol == "-" else int(symbol)] = 0.9
        out += [column / column.sum()] * width
    return np.array(out)


@pytest.mark.parametrize("sequence, number", [("-2-0-0-0-", "2000"), ("-20-00-", "200"), ("-11-", "1"),
                                              ("--", ""), ("7", "7"), ("-3-3-3", "333")])
def test_greedy_decoding_merges_runs_and_keeps_repeats_split_by_blanks(sequence, number):
    emitted = line.greedy_decode(_columns(sequence))
    assert "".join(str(e.probabilities.argmax()) for e in emitted) == number
    for e in emitted:
        assert e.start <= e.peak < e.end and np.isclose(e.probabilities.sum(), 1)


def test_a_blank_column_that_nearly_read_a_digit_is_doubtful():
    columns = _columns("-5-")
    assert line.missed_digit(columns) < 0.05
    columns[1, 8], columns[1, line.BLANK] = 0.4, 0.5
    assert line.missed_digit(columns) == pytest.approx(0.4)


def test_the_calibration_beside_the_model_sets_when_a_reading_is_unsure(tmp_path):
    model = tmp_path / "line.tflite"
    assert line.Calibration.beside(str(model)) == line.Calibration()  # no file: the defaults
    (tmp_path / "line_calibration.json").write_text(json.dumps({"digit_unsure": 0.97, "missed": 0.12}))
    assert line.Calibration.beside(str(model)) == line.Calibration(0.97, 0.12, 0.0)  # fitted before the number's bar
    (tmp_path / "line_calibration.json").write_text(json.dumps({"digit_unsure": 0.9, "missed": 0.2,
                                                                "number_unsure": 0.55}))
    assert line.Calibration.beside(str(model)) == line.Calibration(0.9, 0.2, 0.55)


def test_a_numbers_probability_falls_with_the_mass_its_columns_give_other_numbers():
    """Columns that read 5 then 7, the 7's columns giving more and more to a 1 instead (still read 7)."""
    probabilities = []
    for split in (0.0, 0.2, 0.4):
        columns = _columns("-5-7-")
        columns[-6:-3, 1], columns[-6:-3, 7] = split + 0.01, 0.9 - split
        look = line.Look(None, columns, line.greedy_decode(columns))
        assert look.number == "57"
        probabilities.append(line.number_probability(look))
        assert probabilities[-1] == pytest.approx(np.exp(line.ctc_log_likelihood(columns, "57")))
    assert probabilities[0] > probabilities[1] > probabilities[2] > 0


def test_the_calibration_flags_by_the_numbers_probability_where_that_tells_wrong_from_right():
    """Wrong numbers the columns gave little probability, their digits' peaks as sure as the right ones':
    only the number's bar can tell them apart, and it is chosen within the budget of right numbers flagged."""
    from training.line_calibration import choose

    rng = np.random.default_rng(0)
    exact = np.arange(1000) < 900
    least, missed = rng.uniform(0.9, 1.0, 1000), rng.uniform(0.0, 0.05, 1000)
    probability = np.where(exact, rng.uniform(0.5, 1.0, 1000), rng.uniform(0.05, 0.45, 1000))
    fitted = choose(exact, least, missed, probability, right_flagged=0.02)
    assert 0.45 <= fitted["number_unsure"] <= 0.55 and fitted["wrong_flagged"] == 1.0
    assert fitted["right_flagged"] <= 0.02


def _number_picture(digits: list[np.ndarray], gap: int = 12, paper: int = 230, ink: int = 30) -> np.ndarray:
    """Dark digits (MNIST-like 28x28 white-on-black images) side by side on grey paper, 3x enlarged."""
    row = np.hstack([np.pad(d, ((0, 0), (gap // 2, gap // 2))) for d in digits]).astype(np.float32) / 255
    row = cv2.resize(np.pad(row, 20), None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    return (paper - (paper - ink) * row).astype(np.uint8)


def test_a_strip_is_the_writing_band_at_the_model_height_and_maps_back(mnist_small):
    grey = _number_picture(list(mnist_small["x_test"][:3]))
    grey = np.vstack([np.full((200, grey.shape[1]), 230, np.uint8), grey])  # empty paper above the number
    strip = line.line_strip(grey)
    assert strip.image.shape[0] == line.HEIGHT and strip.image.shape[1] % 32 == 0
    assert strip.image.shape[1] >= line.MIN_WIDTH and 0.9 < strip.image.max() <= 1
    assert strip.top > 200  # cut to the writing, not the empty paper
    ys, xs = np.nonzero(strip.ink)
    # strip pixels map back onto the picture's ink
    picture_x = strip.left + xs * strip.x_scale
    picture_y = strip.top + ys * strip.y_scale
    assert np.mean(grey[np.clip(picture_y.astype(int), 0, grey.shape[0] - 1),
                        np.clip(picture_x.astype(int), 0, grey.shape[1] - 1)] < 150) > 0.6


def test_uneven_light_is_not_ink_and_a_blank_picture_has_none():
    yy, xx = np.mgrid[0:120, 0:400].astype(np.float32)
    shaded = (240 - 90 * xx / 400 - 40 * ((yy / 120 - 0.5) ** 2)).astype(np.uint8)  # a gradient and a vignette
    assert ink.ink_strength(shaded).max() < 0.35
    with pytest.raises(NoInk):
        line.line_strip(shaded)


def test_a_huge_picture_is_reduced_before_any_work():
    strip = line.line_strip(np.pad(np.full((40, 4000), 30, np.uint8), ((3000, 3000), (0, 0)), constant_values=230))
    assert strip.image.shape[1] <= line.MAX_WIDTH + 32 and strip.x_scale > 1


def test_digit_boxes_split_between_the_peaks_and_hug_the_ink():
    image = np.zeros((line.HEIGHT, 64), np.float32)
    image[8:24, 6:14] = 1  # a digit in columns 6..13
    image[6:26, 40:52] = 1  # another in 40..51
    strip = line.Strip(image, 100.0, 50.0, 2.0, 2.0, image > 0.35, 1 - image)
    emitted = [line.Emitted(2, 3, 2, np.eye(10)[1], 0.9), line.Emitted(11, 12, 11, np.eye(10)[7], 0.9)]
    boxes = line.digit_boxes(strip, emitted)
    assert boxes == [(112.0, 66.0, 16.0, 32.0), (180.0, 62.0, 24.0, 40.0)]  # Box is a named (x, y, w, h)


def test_synthesised_numbers_come_from_one_writer_and_their_boxes_hold_their_digits():
    records = data.load_pendigits(PEN_FIXTURE)
    writers = lines.pen_writers(records)
    rng = np.random.default_rng(3)
    for paper in lines.PAPERS:
        writer = writers[int(rng.integers(len(writers)))]
        grey, label, boxes = lines.picture(writer, rng, length=5, gap="normal", paper=paper)
        assert grey.dtype == np.uint8 and len(label) == 5 == len(boxes)
        assert set(label) <= {str(d) for d in writer.labels}  # every digit is this writer's
        for x, y, w, h in boxes:
            assert x >= 0 and x + w <= grey.shape[1] + 1 and 0 <= y + h / 2 <= grey.shape[0]
        assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)  # left to right


def test_every_gap_kind_and_length_can_be_drawn(mnist_small):
    writers = lines.mnist_writers(mnist_small["x_test"], mnist_small["y_test"], np.arange(500) % 20)
    rng = np.random.default_rng(0)
    for gap in lines.GAPS:
        for length in (1, lines.MAX_DIGITS):
            grey, label, boxes = lines.picture(writers[0], rng, length=length, gap=gap)
            assert len(label) == length and line.line_strip(grey).image.shape[0] == line.HEIGHT


@pytest.mark.parametrize("number", ["", "3", "12", "11", "121", "1001"])
def test_the_ctc_likelihood_sums_every_path_that_reads_the_number(number):
    """Checked against summing every one of 11**5 column paths that collapses to the number."""
    import itertools

    rng = np.random.default_rng(len(number))
    columns = rng.random((5, 11))
    columns /= columns.sum(axis=1, keepdims=True)
    paths = np.array(list(itertools.product(range(11), repeat=5)))
    probability = np.prod(columns[np.arange(5), paths], axis=1)
    reads = ["".join(str(c) for i, c in enumerate(path) if c != line.BLANK and (i == 0 or c != path[i - 1]))
             for path in paths]
    expected = probability[np.array(reads) == number].sum()
    assert line.ctc_log_likelihood(columns, number) == pytest.approx(np.log(expected), rel=1e-9)


@pytest.mark.parametrize("gap, closest", [("overlapping", (-1.0, 0.35)), ("touching", (-0.03, 0.04)),
                                          ("normal", (0.05, 0.34)), ("wide", (0.26, 0.89))])
def test_gaps_are_measured_between_the_inks(monkeypatch, gap, closest):
    """Touching digits' strokes meet and overlapping ones reach over each other, whatever the slant and the
    pen (the old gaps were between canvases: "touching" digits stood a third of a height apart)."""
    placed = []
    monkeypatch.setattr(lines, "_paste", lambda pieces: placed.append(pieces) or np.zeros((1, 1), np.float32))
    writers = lines.pen_writers(data.load_pendigits(PEN_FIXTURE))
    rng = np.random.default_rng(5)
    for _ in range(20):
        lines.compose(writers[int(rng.integers(len(writers)))], rng, 2, gap, separators=False)
    for (a, xa, ta), (b, xb, tb) in (pieces for pieces in placed):
        first = {r: xb + f for r, f, _ in zip(*lines._ink_edges(b, tb))}
        last = {r: xa + lt for r, _, lt in zip(*lines._ink_edges(a, ta))}
        rows = set(first) & set(last)
        nearest = min(first[r] - last[r] for r in rows) / lines.DIGIT  # gaps are of the height: DIGIT ±10%
        assert closest[0] <= nearest <= closest[1]
        if gap == "overlapping":  # the next digit starts back over the last one's inked columns
            assert min(first.values()) < max(last.values())
