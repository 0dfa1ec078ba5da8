"""Everything between a drawing or a picture and an answer: build_reader(settings) -> Reader.

Modules: drawing (strokes from JSON), pictures (decoding untrusted bytes), preprocessing (MNIST framing,
ink masks), models (LiteRT), trajectory (the pen path), answers (the answers' layout, Box, DigitSpan),
segmenter and line (two ways to read a number), number_readers (both behind one protocol), second_look
(pictures of one digit), explain, why and lookalikes (the Why? panel), why_sheet (its PNG for the CLI).
No Flask here: the readers are tested and evaluated without a server.
"""

from app.reader.drawing import Drawing
from app.reader.reader import Reader, build_reader

__all__ = ["Drawing", "Reader", "build_reader"]
