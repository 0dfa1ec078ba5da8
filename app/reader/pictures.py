"""Decode an uploaded picture (untrusted bytes) into a small uint8 grey array, or raise InputError.

Only the formats the API promises are opened; the declared size is checked before any pixel is
decoded; big pictures are decoded small where the format allows it (JPEG) and reduced before any
conversion otherwise, because a digit needs a few hundred pixels and a 40 MP RGBA picture in
float32 is 640 MB.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import ExifTags, Image

from app.errors import InputError
from app.reader import ink, preprocessing

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
# The thresholding works on a 512 px copy (ink.ink_mask); reducing to 2048 px first
# with a box filter changes nothing it sees and bounds every later copy to 16 MB at most.
WORKING_SIDE = 2048
_DECODE_FAILED = "could not decode the image: send a PNG, JPEG, WebP, GIF or BMP file"
# BMP pixels stored plainly (0) or with bit fields (3) decode in C in bounded time; Pillow decodes run-length
# encoded ones (1, 2) in pure Python, a byte at a time: a 1 KB file can cost seconds. They are refused.
BMP_PLAIN = (0, 3)
BMP_REFUSED = "run-length encoded (or JPEG or PNG inside) BMP files are not accepted: send a PNG, JPEG or plain BMP"
MAX_ASPECT = 100  # a picture more than this many times wider than tall (or taller than wide) holds no writing
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


@dataclass(frozen=True)
class Picture:
    """A decoded picture: uint8 grey, upright, on an opaque background (reduced when big), and its upright size
    (width, height) before any reduction."""

    grey: np.ndarray
    size: tuple[int, int]


def digit_image(picture: Picture) -> tuple[np.ndarray, bool]:
    """A picture of one digit -> its 28x28 MNIST image, and whether its ink is implausible for a digit (the
    answer is then unsure, whatever the network makes of it)."""
    mask = ink.drop_underline(ink.ink_mask(picture.grey))
    return preprocessing.mask_to_mnist(mask), ink.implausible_ink(mask)


def picture_mask(picture: Picture) -> tuple[np.ndarray, float]:
    """A picture's ink mask, and the picture's pixels per mask pixel."""
    mask = ink.ink_mask(picture.grey)
    return mask, max(picture.size) / max(mask.shape)


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode a PNG, JPEG, WebP, GIF or BMP to uint8 grey, upright, on an opaque background."""
    return decode_picture(data, max_pixels).grey


def decode_picture(data: bytes, max_pixels: int, max_lossless_pixels: int | None = None) -> Picture:
    """The picture in an upload's bytes; InputError (400, 413, 422) for anything else. A JPEG may have up to
    max_pixels (it is decoded at 1/2 to 1/8 scale); other formats, whose every pixel is decoded, up to
    max_lossless_pixels."""
    if not data:
        raise InputError("the image file is empty")
    image = _open(data, max_pixels)
    lossless = max_pixels if max_lossless_pixels is None else max_lossless_pixels
    if image.format != "JPEG" and image.size[0] * image.size[1] > lossless:
        raise InputError(f"image too large: a {image.format} picture may have at most {lossless:,} pixels (every "
                         f"one is decoded); send a JPEG (up to {max_pixels:,} pixels) or a smaller picture", 413)
    declared = image.size  # draft() below changes .size to the reduced one
    try:  # any failure from here on is a broken or hostile file, never a server error
        image.draft("L", _draft_size(image.size))  # JPEG only: decode at 1/2..1/8 scale, straight to grey
        image.load()
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        orientation = orientation if orientation in _TRANSPOSE else 1  # absent, 1 or nonsense: as stored
        size = declared if orientation < 5 else declared[::-1]  # 5 to 8 turn the picture a quarter
        image = _reduce(_decodable_mode(image))
        if orientation in _TRANSPOSE:  # phone photos are stored sideways with a rotation tag
            image = image.transpose(_TRANSPOSE[orientation])
        return Picture(_to_grey(image), size)
    except MemoryError:  # past the picture process's cap: its own answer (413), not "could not decode"
        raise
    except Exception:  # noqa: BLE001 - Pillow's decoders raise many types on malformed data
        raise InputError(_DECODE_FAILED) from None


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header only, and refuse a picture that declares too many pixels (413), an encoding that cannot
    be decoded in bounded time (422) or a shape no picture of writing has (422)."""
    too_large = InputError(f"image too large: at most {max_pixels:,} pixels", 413)
    declared = _webp_size(data)  # Pillow allocates a WebP's whole canvas when it opens one: checked first
    if declared is not None and declared[0] * declared[1] > max_pixels:
        raise too_large
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):  # Pillow's own limit, or
        raise too_large from None  # a header whose opening alone passes the picture process's memory cap (WebP)
    except Exception:  # noqa: BLE001 - unknown, unlisted or broken headers
        raise InputError(_DECODE_FAILED) from None
    width, height = image.size
    if width * height > max_pixels or width < 1 or height < 1:
        raise too_large if width * height > max_pixels else InputError(_DECODE_FAILED)
    if image.format == "BMP" and image.info.get("compression", 0) not in BMP_PLAIN:
        raise InputError(BMP_REFUSED, 422)
    if max(width, height) > MAX_ASPECT * min(width, height) and max(width, height) > MAX_ASPECT:
        raise InputError(f"the picture is {width} x {height} pixels: no picture of writing is that narrow", 422)
    return image


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP file declares (RIFF header, then a VP8X, VP8L or VP8 chunk); None for other files."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest size draft() may decode to: the picture scaled so its long side is WORKING_SIDE."""
    factor = min(1.0, WORKING_SIDE / max(size))
    return max(1, int(size[0] * factor)), max(1, int(size[1] * factor))


def _decodable_mode(image: Image.Image) -> Image.Image:
    """The picture in L, LA, RGB or RGBA: modes that reduce() and the grey conversion take."""
    transparent = "transparency" in image.info  # a tRNS colour key in an L, RGB or P picture
    if image.mode in ("LA", "RGBA") or (image.mode in ("L", "RGB") and not transparent):
        return image
    if image.mode in ("L", "RGB", "P", "PA"):
        return image.convert("RGBA" if transparent or image.mode == "PA" else "L")
    if image.mode.startswith(("I", "F")):
        return _stretch_to_l(image)
    return image.convert("RGB")  # 1, CMYK, YCbCr...


def _stretch_to_l(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey to L: shrunk first (area average), then the used range stretched to 0..255."""
    values = np.asarray(image)
    values = values.astype(np.float32) if values.dtype not in (np.uint16, np.float32) else values
    factor = min(1.0, WORKING_SIDE / max(values.shape))
    if factor < 1:
        size = (max(1, round(values.shape[1] * factor)), max(1, round(values.shape[0] * factor)))
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
    values = values.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    return Image.fromarray(((values - low) * (255 / max(high - low, 1e-6))).astype(np.uint8))


def _reduce(image: Image.Image) -> Image.Image:
    """Box-reduce so the long side is at most about WORKING_SIDE (no-op for small pictures).

    In strips, each box-averaged by OpenCV (INTER_AREA at a whole factor): Pillow's own reduce() goes through
    a premultiplied copy of the whole picture for RGBA (144 MB more for 36 MP) and took 0.35 s of CPU for a
    40 MP RGBA PNG, this 0.1 s; a strip's copy is a few MB. A partial block at the right or bottom edge is
    completed by repeating the edge (Pillow averages what is there: a difference of a grey level there).
    """
    factor = -(-max(image.size) // WORKING_SIDE)  # ceiling division
    if factor <= 1:
        return image
    width, height = image.size
    wide = -(-width // factor) * factor
    strips = []
    for top in range(0, height, factor * 128):
        pixels = np.asarray(image.crop((0, top, width, min(height, top + factor * 128))))
        tall = -(-pixels.shape[0] // factor) * factor
        if tall != pixels.shape[0] or wide != width:
            pixels = cv2.copyMakeBorder(pixels, 0, tall - pixels.shape[0], 0, wide - width, cv2.BORDER_REPLICATE)
        strips.append(cv2.resize(pixels, (wide // factor, tall // factor), interpolation=cv2.INTER_AREA))
    return Image.fromarray(np.concatenate(strips), image.mode)


def _to_grey(image: Image.Image) -> np.ndarray:
    """uint8 grey; a transparent drawing goes onto a background that contrasts with its ink."""
    if "A" in image.mode:
        image = _flatten_alpha(image.convert("RGBA"))
    return np.asarray(image.convert("L"), np.uint8)


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Put a transparent drawing on black or white, whichever contrasts with its ink."""
    pixels = np.asarray(image, np.float32)
    alpha = pixels[..., 3] / 255
    ink_level = (pixels[..., :3].mean(axis=2) * alpha).sum() / max(alpha.sum(), 1)
    background = Image.new("RGBA", image.size, (0, 0, 0, 255) if ink_level > 127 else (255, 255, 255, 255))
    return Image.alpha_composite(background, image)
