"""Pictures that cost a decoder or a reader far more than their size: the hardening tests and the costliest-
picture row of make bench use the same ones (each is legal-looking: a real format, a small file)."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image


def png_of(grey: np.ndarray) -> bytes:
    """An array as PNG bytes."""
    return cv2.imencode(".png", grey)[1].tobytes()


def rle_bmp(width: int, height: int, rle4: bool = False) -> bytes:
    """A run-length encoded BMP: one pixel, then an end of line that Pillow pads a byte at a time in Python."""
    body = b"\x01\x00\x00\x00" * 4 + b"\x00\x01"
    colours = 16 if rle4 else 256
    palette = b"".join(bytes((i, i, i, 0)) for i in range(colours))
    offset = 14 + 40 + len(palette)
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 4 if rle4 else 8, 2 if rle4 else 1, len(body),
                         2835, 2835, colours, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + header + palette + body


def pillow(mode: str, size: tuple[int, int], fmt: str = "PNG", colour: int = 255) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, fmt)
    return buffer.getvalue()


def png_chunk_flood(count: int = 60_000) -> bytes:
    """A small PNG with tens of thousands of empty text chunks before its pixels."""
    plain = png_of(np.full((8, 8), 255, np.uint8))
    chunk = struct.pack(">I", 0) + b"tEXt" + struct.pack(">I", zlib.crc32(b"tEXt") & 0xFFFFFFFF)
    return plain[:33] + chunk * count + plain[33:]


def jpeg_marker_flood(count: int = 40_000) -> bytes:
    """A small JPEG with tens of thousands of APP1 segments before its image."""
    plain = cv2.imencode(".jpg", np.full((8, 8), 255, np.uint8))[1].tobytes()
    return plain[:2] + (b"\xff\xe1" + struct.pack(">H", 64) + b"\x00" * 62) * count + plain[2:]


def gif_comment_flood(size: int = 3_000_000) -> bytes:
    """A small GIF with megabytes of comment blocks before its image."""
    plain = pillow("L", (8, 8), "GIF")
    at = plain.index(b"\x2c")
    return plain[:at] + b"\x21\xfe" + (b"\xff" + b"x" * 255) * (size // 256) + b"\x00" + plain[at:]


def dots(size: int, step: int, dot: int = 2) -> bytes:
    """A grid of small dots: ink that thinning erases whole, in hundreds of pieces."""
    grey = np.full((size, size), 255, np.uint8)
    for y in range(2, size - dot, step):
        for x in range(2, size - dot, step):
            grey[y:y + dot, x:x + dot] = 0
    return png_of(grey)


def lines(size: int = 300) -> bytes:
    grey = np.full((size, size), 255, np.uint8)
    grey[::3] = 0
    return png_of(grey)


def every_colour(size: int = 256) -> bytes:
    return png_of(np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8))


DEGENERATE = {
    "2x2 dots, 10 px apart": lambda: dots(200, 10),
    "2x2 dots, 4 px apart": lambda: dots(400, 4),
    "1x1 dots": lambda: dots(300, 6, 1),
    "one dot": lambda: dots(20, 100),
    "all lines": lines,
    "all ink": lambda: png_of(np.zeros((64, 64), np.uint8)),
    "one pixel": lambda: png_of(np.zeros((1, 1), np.uint8)),
    "one pixel wide": lambda: png_of(np.tile(np.array([[0], [255]], np.uint8), (40, 1))),
    "one pixel tall": lambda: png_of(np.tile(np.array([[0, 255]], np.uint8), (1, 40))),
    "two pixels tall, very wide": lambda: pillow("L", (20_000, 2), colour=0),
    "one pixel wide, very tall": lambda: pillow("L", (1, 200_000), colour=0),
    "every pixel a different colour": every_colour,
    "RLE8 BMP": lambda: rle_bmp(20_000_000, 2),
    "RLE4 BMP": lambda: rle_bmp(6000, 6000, rle4=True),
    "PNG chunk flood": png_chunk_flood,
    "JPEG marker flood": jpeg_marker_flood,
    "GIF comment flood": gif_comment_flood,
}


# The costliest of them, for make bench: each costs the old server 1 to 5 CPU-s of a worker's time.
COSTLIEST = ("RLE8 BMP", "PNG chunk flood", "JPEG marker flood", "GIF comment flood", "2x2 dots, 4 px apart")
