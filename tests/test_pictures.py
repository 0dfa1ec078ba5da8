"""Uploaded pictures: every listed format and colour mode is read, anything else is a 400, anything too big
a 413 before a pixel is decoded, and nothing a file holds can make the server answer 500."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from support import png_of

from app.errors import InputError
from app.reader import pictures
from bench import photos


def seven(mode: str, size: int = 120) -> Image.Image:
    """A dark 7 on light paper, converted to `mode`."""
    image = Image.new("L", (size, size), 255)
    ImageDraw.Draw(image).line([(0.2 * size, 0.2 * size), (0.8 * size, 0.2 * size), (0.45 * size, 0.9 * size)],
                               fill=0, width=size // 12)
    if mode == "I;16":
        return Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    if mode in ("LA", "RGBA", "PA"):  # ink on a transparent background, as drawing apps export
        alpha = Image.eval(image, lambda v: 255 - v)
        rgba = Image.merge("RGBA", [image.point(lambda _: 0)] * 3 + [alpha])
        return rgba.convert(mode) if mode != "PA" else rgba.convert("PA")
    return image.convert(mode)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def upload(client, data: bytes, name: str = "picture"):
    return client.post("/api/predict/image", data={"image": (io.BytesIO(data), name)})


@pytest.mark.parametrize("mode, fmt", [
    ("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("I;16", "PNG"),
    ("L", "JPEG"), ("RGB", "JPEG"), ("CMYK", "JPEG"),
    ("RGB", "WEBP"), ("RGBA", "WEBP"), ("P", "GIF"), ("L", "GIF"), ("RGB", "BMP"), ("P", "BMP"), ("1", "BMP"),
])
def test_every_listed_format_and_colour_mode_is_read(client, mode, fmt):
    response = upload(client, encoded(seven(mode), fmt))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["digit"] == 7


def test_a_transparent_colour_key_is_treated_as_paper(client):
    # An RGB PNG whose white is declared transparent (tRNS): the ink is what is left.
    response = upload(client, encoded(seven("RGB"), "PNG", transparency=(255, 255, 255)))
    assert response.status_code == 200 and response.get_json()["digit"] == 7


def test_a_phone_photo_stored_sideways_is_turned_upright(client):
    sideways = seven("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    response = upload(client, encoded(sideways, "JPEG", exif=exif.tobytes()))
    assert response.status_code == 200 and response.get_json()["digit"] == 7


def test_a_big_jpeg_is_decoded_small_and_still_read():
    data = encoded(seven("L", 6000), "JPEG", quality=85)
    grey = pictures.decode_image(data, 40_000_000)
    assert max(grey.shape) <= 2 * pictures.WORKING_SIDE  # JPEG's draft decoding: 1/2 to 1/8 scale
    assert grey.dtype == np.uint8


@pytest.mark.parametrize("data", [
    pytest.param(encoded(seven("RGB"), "TIFF"), id="tiff"),
    pytest.param(encoded(seven("LAB"), "TIFF"), id="lab-tiff"),
    pytest.param(encoded(seven("RGBA"), "ICO"), id="ico"),
    pytest.param(encoded(seven("RGB"), "PDF"), id="pdf"),
    pytest.param(encoded(seven("RGB"), "PPM"), id="ppm"),
    pytest.param(encoded(seven("L"), "PNG")[:300], id="truncated-png"),
    pytest.param(encoded(seven("L"), "JPEG")[:200], id="truncated-jpeg"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, id="png-signature-then-zeros"),
    pytest.param(b"GIF89a" + b"\xff" * 30, id="gif-garbage"),
    pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", id="svg"),
])
def test_unlisted_or_broken_files_are_a_clear_400(client, data):
    response = upload(client, data)
    assert response.status_code == 400
    assert "could not decode" in response.get_json()["error"]


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height and holds almost nothing."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def gif_header(width: int, height: int) -> bytes:
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
            + b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00;")


def bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 12, 0, 0, 14 + len(info)) + info + b"\x00" * 12


def jpeg_header(width: int, height: int) -> bytes:
    """A real small JPEG with its frame header (SOF0) rewritten to declare width x height."""
    data = bytearray(encoded(seven("L", 16), "JPEG"))
    at = data.index(b"\xff\xc0") + 5  # marker, length (2), precision (1), then height and width
    data[at:at + 4] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_header(width: int, height: int) -> bytes:
    """A real small lossless WebP with its VP8L header rewritten to declare width x height."""
    data = bytearray(encoded(seven("RGB", 16), "WEBP", lossless=True))
    at = data.index(b"VP8L") + 9  # chunk id, chunk size (4), signature byte 0x2f, then 14 + 14 bits of size
    bits = int.from_bytes(data[at:at + 4], "little")
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[at:at + 4] = bits.to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize("make", [png_header, gif_header, bmp_header, jpeg_header, webp_header],
                         ids=["png", "gif", "bmp", "jpeg", "webp"])
@pytest.mark.parametrize("width, height", [(8000, 8000), (16000, 16000), (65000, 65000)],
                         ids=["64MP", "256MP-over-pillow-limit", "4GP"])
def test_every_oversized_picture_is_413_from_its_header(client, make, width, height):
    if make is webp_header and width > 16384:
        width = height = 16384  # WebP's own maximum: still 268 MP
    response = upload(client, make(width, height))
    assert response.status_code == 413, response.get_json()
    assert "too large" in response.get_json()["error"]


def test_a_declared_size_within_the_limit_but_missing_pixels_is_400(client):
    response = upload(client, png_header(3000, 3000))
    assert response.status_code == 400


def test_extreme_aspect_ratios_never_fail(client):
    for shape in [(1, 40000), (40000, 1), (2, 20000), (1, 1), (3, 3)]:
        grey = np.full(shape, 255, np.uint8)
        grey[: max(1, shape[0] // 2), : max(1, shape[1] // 3)] = 0
        response = upload(client, encoded(Image.fromarray(grey), "PNG"))
        assert response.status_code in (200, 422), (shape, response.get_json())


def test_decoding_raises_only_input_errors():
    with pytest.raises(InputError) as error:
        pictures.decode_image(png_header(7000, 7000), 40_000_000)
    assert error.value.status == 413
    with pytest.raises(InputError) as error:
        pictures.decode_image(b"", 40_000_000)
    assert error.value.status == 400


@pytest.mark.parametrize("make", ["edge_crop", "small_scan_16", "small_scan_28"])
def test_small_scans_and_digits_touching_the_edge_are_framed_well(client, pen_digits, make):
    """Pen digits drawn with a thick brush, then cropped to the ink or scanned small. Before paper was
    added round every picture (and tiny ones enlarged smoothly), 54.6% of the held-out writers' cropped
    digits and 92.3% of their 16x16 scans read right (make eval); now 98.9% and 97.8%."""
    from bench import drawn_eval

    picture = {"edge_crop": drawn_eval.edge_crop, "small_scan_16": lambda s: drawn_eval.small_scan(s, 16),
               "small_scan_28": lambda s: drawn_eval.small_scan(s, 28)}[make]
    right = unsure = 0
    for record in pen_digits:
        points = [np.asarray(s, float) for s in record["strokes"]]
        response = upload(client, picture(points))
        right += response.status_code == 200 and response.get_json()["digit"] == record["label"]
        unsure += response.status_code == 200 and response.get_json()["unsure"]
    assert right / len(pen_digits) >= 0.95
    if make == "edge_crop":  # a digit cropped to its ink is not "ink filling the frame"
        assert unsure / len(pen_digits) <= 0.05


@pytest.mark.parametrize("light, colours", photos.conditions())
def test_photos_in_uneven_light_or_colour_read_as_on_flat_paper(client, pen_digits, light, colours):
    """Before, a 12-level vignette made the paper the digit: 11% right, 86% confidently wrong; a soft
    shadow 16% right; a shadow in a corner was read as a triangle."""
    rng = np.random.default_rng(5)
    right = confidently_wrong = 0
    for record in pen_digits:
        answer = upload(client, photos.photo(record["strokes"], light, colours, rng)).get_json()
        right += answer.get("digit") == record["label"]
        confidently_wrong += answer.get("digit", record["label"]) != record["label"] and not answer["unsure"]
    assert right / len(pen_digits) >= 0.93 and confidently_wrong / len(pen_digits) <= 0.05


@pytest.mark.parametrize("make", ["disc", "thumb"])
def test_ink_no_pen_draws_is_answered_unsure(client, make):
    """A picture whose "ink" is a filled blob (a blot, a thumb, paper or a shadow taken for ink) is never a
    confident digit: no pen line is as thick as 70% of the ink's extent."""
    page = np.full((300, 300), 220, np.uint8)
    if make == "disc":  # a filled blot: the network calls it a 0 or an 8 with confidence
        cv2.circle(page, (150, 150), 100, 30, -1)
    else:  # a thumb over the lens in a corner
        cv2.circle(page, (0, 300), 170, 40, -1)
    answer = upload(client, png_of(page)).get_json()
    assert answer["unsure"] is True, answer


def _written(record_strokes, underline: bool, base_attached: bool = False) -> bytes:
    """A pen digit on white paper (300x300), with a separate line under it or a base joined to it."""
    page = np.full((300, 300), 235, np.uint8)
    for stroke in record_strokes:
        points = np.asarray(stroke, float) * (200 / 500) + 50
        cv2.polylines(page, [np.round(points).astype(np.int32)], False, 30, 6, cv2.LINE_AA)
    if underline:
        cv2.line(page, (20, 275), (280, 270), 60, 4, cv2.LINE_AA)
    if base_attached:
        cv2.line(page, (50, 250), (250, 250), 30, 6, cv2.LINE_AA)
    return png_of(page)


def test_a_line_under_a_digit_is_not_read_into_it(client, pen_digits):
    """Underlined digits were 14% confidently wrong (an underlined 1 read as 2); the line is dropped."""
    right_plain = right_underlined = 0
    for record in pen_digits:
        plain = upload(client, _written(record["strokes"], underline=False)).get_json()
        underlined = upload(client, _written(record["strokes"], underline=True)).get_json()
        right_plain += plain.get("digit") == record["label"]
        right_underlined += underlined.get("digit") == record["label"]
    assert right_underlined >= right_plain - 2, (right_plain, right_underlined)


def test_a_base_joined_to_the_digit_is_kept():
    from app.reader import ink

    mask = np.zeros((100, 100), bool)
    mask[10:80, 48:52] = True  # a stem
    mask[78:82, 20:80] = True  # its base, touching it: one piece
    assert ink.drop_underline(mask).sum() == mask.sum()
    apart = mask.copy()
    apart[90:93, 10:90] = True  # a line under it, apart: dropped
    assert (ink.drop_underline(apart) == mask).all()
    top = mask.copy()
    top[0:3, 10:90] = True  # a bar above is no underline
    assert ink.drop_underline(top).sum() == top.sum()
