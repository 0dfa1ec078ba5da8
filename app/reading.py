"""The /api/read answer: a whole number's digits as JSON (the splitting itself is app/numbers.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app import inference, inputs, line, numbers, pictures, preprocessing

# Said to a person: what went wrong in their words, not the measure that tripped (pieces of centre line...).
TOO_MUCH_INK = ("too much ink to read as a number: this looks like a drawing, a pattern or a whole page; "
                "send a picture of a written number on plain paper")


def read_strokes(model, strokes: Sequence[np.ndarray], unsure_threshold: float, tiny: float) -> dict | None:
    """The answer for a number drawn as strokes (canvas units), or None when it holds no digit: taps and
    dots (strokes under `tiny` across) are never digits, and are left out before any work is done."""
    kept = inputs.written_strokes(strokes, tiny)
    if not kept:
        return None
    groups = numbers.read_strokes(model, [strokes[i] for i in kept])
    if not groups or not all(preprocessing.has_ink(g.image) for g in groups):
        return None
    digits = []
    for group in groups:
        digit = describe(group, unsure_threshold, scale=1.0)
        digit["strokes"] = [kept[u] for u in group.units]  # indices into the request's strokes
        if inputs.drawing_extent([strokes[i] for i in digit["strokes"]]) < tiny:
            digit["unsure"] = True  # a tiny tick alone is not a digit
        digits.append(digit)
    return number_answer(digits)


def _within(box: list[float], size: tuple[int, int]) -> list[float]:
    """A box (x, y, w, h) clipped to a picture of `size` (width, height), rounded to 0.1 px."""
    x, y, w, h = box
    left, top = min(max(x, 0.0), size[0]), min(max(y, 0.0), size[1])
    return [round(left, 1), round(top, 1), round(min(x + w, size[0]) - left, 1), round(min(y + h, size[1]) - top, 1)]


def _line_read(reader: line.LineReader, grey: np.ndarray) -> tuple[list[line.LineDigit], bool] | None:
    """The line reader's digits and doubt, or None when the picture holds no ink or no digit."""
    try:
        read, doubtful = reader.read(grey)
    except line.NoInkError:
        return None
    except line.TooMuchInkError:
        raise inputs.InputError(TOO_MUCH_INK, 422) from None
    return (read, doubtful) if read else None


def _crop(grey: np.ndarray, box: list[float], margin: float = 0.1) -> np.ndarray:
    """The picture inside a digit's box, with a little paper round it."""
    x, y, w, h = box
    pad = margin * max(w, h)
    x0, y0 = max(0, int(x - pad)), max(0, int(y - pad))
    return grey[y0:int(np.ceil(y + h + pad)), x0:int(np.ceil(x + w + pad))]


def read_strokes_line(reader: line.LineReader, strokes: Sequence[np.ndarray], unsure_threshold: float,
                      tiny: float) -> dict | None:
    """The answer for a drawn number read by the sequence reader on the rendered strokes (taps left
    out first, as in read_strokes); each digit's strokes are those under its span. None when no digit."""
    kept = inputs.written_strokes(strokes, tiny)
    if not kept:
        return None
    picture, units, origin = line.strokes_picture([strokes[i] for i in kept])
    reading = _line_read(reader, picture)
    if reading is None:
        return None
    read, doubtful = reading
    boxes = [[round(float(origin[0] + x * units), 1), round(float(origin[1] + y * units), 1),
              round(w * units, 1), round(h * units, 1)] for x, y, w, h in (d.box for d in read)]
    owners = line.strokes_of_digits([strokes[i] for i in kept], boxes)
    digits = []
    for digit, box, owned in zip(read, boxes, owners):
        answer = {**inference.summarize(digit.probabilities, unsure_threshold), "box": box,
                  "strokes": [kept[u] for u in owned]}
        answer["unsure"] = digit.unsure or not owned  # a digit read where no stroke of its own is
        digits.append(answer)
    result = number_answer(digits)
    result["unsure"] = result["unsure"] or doubtful
    return result


def read_strokes_fused(model, reader: line.LineReader | None, strokes: Sequence[np.ndarray],
                       unsure_threshold: float, tiny: float) -> dict | None:
    """Both readers on a drawn number: the segmenter's grouping (its stroke indices are exact) when the
    sequence reader agrees or has nothing; when they disagree, the reading whose least sure digit is
    surer, flagged unsure (two readers that disagree are a doubt worth showing)."""
    grouped = read_strokes(model, strokes, unsure_threshold, tiny)
    if grouped is None or reader is None:
        return grouped
    sequenced = read_strokes_line(reader, strokes, unsure_threshold, tiny)
    if sequenced is None or sequenced["number"] == grouped["number"]:
        return grouped

    def least_sure(answer: dict) -> float:
        return min(d["confidence"] for d in answer["digits"])

    chosen = sequenced if least_sure(sequenced) > least_sure(grouped) else grouped
    return {**chosen, "unsure": True}


def picture_candidates(data: bytes, max_pixels: int) -> tuple[numbers.PictureCandidates | None, float, tuple[int, int]]:
    """Decode a picture of a number and cut it into candidate digits (all the CPU work: run it in the
    decode pool); also the picture's pixels per mask pixel and its size. 422 for far too much ink."""
    mask, scale, size = pictures.picture_to_mask(data, max_pixels)
    try:
        return numbers.picture_candidates(mask), scale, size
    except numbers.TooMuchInkError:
        raise inputs.InputError(TOO_MUCH_INK, 422) from None


def read_picture(model, candidates: numbers.PictureCandidates | None, scale: float, size: tuple[int, int],
                 unsure_threshold: float) -> dict | None:
    """The answer for a number in a picture (boxes in its pixels, within it), or None when blank."""
    if candidates is None:
        return None
    groups = numbers.choose_picture_digits(candidates, model.predict(candidates.images))
    if not groups:
        return None
    digits = [describe(group, unsure_threshold, scale) for group in groups]
    for digit in digits:  # the pen's width and the shear can reach past the picture's edge by a pixel
        digit["box"] = _within(digit["box"], size)
    return number_answer(digits)


def read_picture_line(reader: line.LineReader, data: bytes, max_pixels: int, unsure_threshold: float,
                      checker: inference.DigitModel | None = None) -> dict | None:
    """The answer for a number in a picture, read by the sequence reader (decode, strip, model, decode:
    all the CPU work; run it in the decode pool); boxes in the picture's pixels. None when blank. With a
    checker, the single-digit CNN also reads each digit's box: a digit it reads otherwise is unsure."""
    grey, size = pictures.decode_picture(data, max_pixels)
    factor = size[0] / grey.shape[1]  # the decoder may have reduced a big picture
    reading = _line_read(reader, grey)
    if reading is None:
        return None
    read, doubtful = reading
    digits = []
    for digit in read:
        box = _within([v * factor for v in digit.box], size)
        # unsure from the line model's own posteriors, with its calibrated threshold
        digits.append({**inference.summarize(digit.probabilities, unsure_threshold), "box": box,
                       "unsure": digit.unsure})
    if checker is not None:
        crops = np.stack([preprocessing.image_to_mnist(_crop(grey, d.box)) for d in read])
        for answer, checked in zip(digits, checker.predict(crops)):
            answer["unsure"] = answer["unsure"] or int(checked.argmax()) != answer["digit"]
    answer = number_answer(digits)
    answer["unsure"] = answer["unsure"] or doubtful  # a column that nearly read a digit: maybe one is missing
    return answer


def describe(group: numbers.Group, unsure_threshold: float, scale: float) -> dict:
    """One digit of the answer: digit, probabilities, confidence, unsure and its box."""
    return {**inference.summarize(group.probabilities, unsure_threshold),
            "box": [round(v * scale, 1) for v in group.box]}


def number_answer(digits: list[dict]) -> dict:
    """The whole answer: the number as a string, its digits, and whether any of them is unsure."""
    return {"number": "".join(str(d["digit"]) for d in digits), "digits": digits,
            "unsure": any(d["unsure"] for d in digits)}
