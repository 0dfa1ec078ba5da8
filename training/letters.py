"""Letters as strokes: digit-shaped non-digits the model should answer "unsure" to.

Training traces letters from TrueType fonts found on the machine (and two Hershey fonts);
bench/drawn_eval.py judges with four *other* Hershey fonts, so the judged shapes are never trained on.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.reader import preprocessing

# Letters that do not pass for a digit (no O, I, l, S, Z, B, G, g, q...).
LETTERS = "ACEFHKMNPRTUVWXYacefhkmnprtuvwxy"
EVAL_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
              cv2.FONT_HERSHEY_TRIPLEX)
TRAIN_HERSHEY_FONTS = (cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_COMPLEX | cv2.FONT_ITALIC)
TRAIN_SYMBOLS = "&@#%"
FONT_FOLDERS = ("/usr/share/fonts/truetype", "/usr/share/fonts/TTF", "/Library/Fonts", "C:/Windows/Fonts")


def hershey_letter(letter: str, font: int) -> list[np.ndarray]:
    """A letter drawn in a Hershey font, thinned and traced into strokes (a 160 px box)."""
    canvas = np.zeros((160, 160), np.uint8)
    cv2.putText(canvas, letter, (30, 120), font, 3.0, 255, 7, cv2.LINE_AA)
    return preprocessing.skeleton_strokes(canvas > 127)


def truetype_letter(letter: str, font: ImageFont.FreeTypeFont) -> list[np.ndarray]:
    """A letter rendered from a TrueType font, thinned and traced into strokes (a 160 px box)."""
    image = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(image).text((20, 10), letter, fill=255, font=font)
    return preprocessing.skeleton_strokes(np.asarray(image) > 127)


def truetype_fonts(limit: int = 24) -> list[ImageFont.FreeTypeFont]:
    """Up to limit TrueType fonts installed on this machine (none is fine: Hershey fonts remain)."""
    paths = sorted(p for folder in FONT_FOLDERS if Path(folder).is_dir() for p in Path(folder).rglob("*.ttf"))
    fonts = []
    for path in paths[:: max(1, len(paths) // limit)][:limit]:
        try:
            fonts.append(ImageFont.truetype(str(path), 110))
        except OSError:  # an unreadable or non-outline font file
            continue
    return fonts


def training_letters() -> list[list[np.ndarray]]:
    """Every training letter and symbol, traced into strokes: the outliers train.py mixes in."""
    characters = LETTERS + TRAIN_SYMBOLS
    traced = [hershey_letter(c, font) for c in characters for font in TRAIN_HERSHEY_FONTS]
    traced += [truetype_letter(c, font) for font in truetype_fonts() for c in characters]
    return [strokes for strokes in traced if strokes]


def eval_letters() -> list[list[np.ndarray]]:
    """The judged letters: LETTERS in the four evaluation Hershey fonts."""
    return [hershey_letter(c, font) for c in LETTERS for font in EVAL_FONTS]
