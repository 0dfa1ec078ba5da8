"""What several test modules build or send: the one drawn 7, pictures, bad bodies, browser drawing.

Fixtures live in conftest.py; the server harness (start, stop, raw HTTP) is bench/harness.py, shared
with the benches.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.harness import SEVEN, SEVEN_JSON  # noqa: F401 - the one drawn 7, re-exported for the tests

FIXTURES = Path(__file__).parent / "fixtures"
MNIST_FIXTURE = FIXTURES / "mnist_small.npz"
PEN_FIXTURE = FIXTURES / "pendigits_small.json"
SEVEN_STROKES = SEVEN["strokes"]
CHROMIUM = "/usr/bin/chromium"


def seven(variant: int, label: int = 7) -> dict:
    """A correction body: the SEVEN with its corner moved by `variant` tenths of a pixel (identical corrections
    are stored once, so tests that store many send different ones)."""
    (start, corner, end), = SEVEN_STROKES
    return {**SEVEN, "strokes": [[start, [corner[0] + variant / 10, corner[1]], end]], "label": label}


def canvas_payload(strokes, size: float = 320.0, box: tuple[float, float, float, float] | None = None) -> dict:
    """Scale 500x500 pendigits strokes onto a size x size canvas (or into box = x, y, w, h)."""
    x, y, w, h = box or (0, 0, size, size)
    return {"strokes": [[[x + px * w / 500, y + py * h / 500] for px, py in s] for s in strokes],
            "width": size, "height": size}


def png_of(image: np.ndarray, ext: str = ".png") -> bytes:
    """The image encoded as a file of type ext."""
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def postgres_binaries() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (initdb, pg_ctl), if installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def big_points(n: int) -> dict:
    """A drawing body with one stroke of n points."""
    return {"strokes": [[[i % 300, i % 200] for i in range(n)]], "width": 300, "height": 300}


# Every class of malformed drawing body, with the status and a word of the error it must get.
BAD_STROKES = [
    pytest.param({"strokes": [], "width": 300, "height": 300}, 422, "no ink", id="no-strokes"),
    pytest.param([], 400, "JSON object", id="list-body"),
    pytest.param({"width": 300, "height": 300}, 400, "strokes", id="missing-strokes"),
    pytest.param({"strokes": "7", "width": 300, "height": 300}, 400, "strokes", id="strokes-string"),
    pytest.param({"strokes": [[]], "width": 300, "height": 300}, 400, "non-empty", id="empty-stroke"),
    pytest.param({"strokes": [[[1, 2, 3]]], "width": 300, "height": 300}, 400, "[x, y]", id="three-coordinates"),
    pytest.param({"strokes": [[[1, 2], [3]]], "width": 300, "height": 300}, 400, "[x, y]", id="ragged-points"),
    pytest.param({"strokes": [[1, 2]], "width": 300, "height": 300}, 400, "[x, y]", id="numbers-not-points"),
    pytest.param({"strokes": [[[1, 2], {"x": 1, "y": 2}]], "width": 300, "height": 300}, 400, "[x, y]",
                 id="object-point"),
    pytest.param({"strokes": [[[1, "2"]]], "width": 300, "height": 300}, 400, "finite number", id="string-coordinate"),
    pytest.param({"strokes": [[[4, 5], [6, 7], [1, False]]], "width": 300, "height": 300}, 400, "finite number",
                 id="bool-among-numbers"),
    pytest.param({"strokes": [[[1, True]]], "width": 300, "height": 300}, 400, "finite number", id="bool-coordinate"),
    pytest.param({"strokes": [[[1, None]]], "width": 300, "height": 300}, 400, "finite number", id="null-coordinate"),
    pytest.param({"strokes": [[[1, 2]]], "height": 300}, 400, "width", id="missing-width"),
    pytest.param({"strokes": [[[1, 2]]], "width": 0, "height": 300}, 400, "positive", id="zero-width"),
    pytest.param({"strokes": [[[1, 2]]], "width": -5, "height": 300}, 400, "positive", id="negative-height"),
    pytest.param({"strokes": [[[1, 2]]], "width": 1e9, "height": 300}, 400, "at most", id="absurd-canvas"),
    pytest.param({"strokes": [[[1e7, 2]]], "width": 300, "height": 300}, 400, "on the canvas", id="off-canvas"),
    pytest.param(big_points(20_000), 413, "too many points", id="too-many-points"),
    pytest.param({"strokes": [[[1, 2]]] * 500, "width": 300, "height": 300}, 413, "too many strokes", id="too-many"),
]

# The browser tests draw in 0..1 fractions of the canvas: the same 7, and a 0.
SEVEN_ON_PAGE = [[(x / SEVEN["width"], y / SEVEN["height"]) for x, y in stroke] for stroke in SEVEN_STROKES]
# A real 9 with an open loop (UNIPEN-train, contributor app) that the network reads as 4: the most
# instructive case for the "Why?" panel. Pendigits-box units (0..500).
NINE_READ_AS_FOUR = [[[160, 171], [161, 186], [164, 198], [169, 210], [173, 222], [177, 232], [183, 241], [190, 248],
                      [200, 252], [212, 253], [226, 253], [240, 252], [253, 248], [265, 242], [276, 233], [286, 224],
                      [296, 214], [305, 204], [311, 193], [317, 181], [323, 169], [326, 156], [329, 144], [334, 132],
                      [338, 120], [339, 107], [340, 100], [340, 103], [340, 113], [340, 127], [340, 141], [340, 155],
                      [340, 169], [339, 183], [337, 196], [332, 208], [328, 220], [325, 233], [323, 247], [319, 260],
                      [314, 273], [309, 286], [304, 299], [300, 312], [297, 325], [293, 338], [288, 350], [285, 363],
                      [285, 376], [288, 386], [295, 394], [301, 400], [308, 400], [312, 391]]]
ZERO_ON_PAGE = [[(0.5 + 0.22 * np.sin(t), 0.5 - 0.32 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]]


def draw(page, strokes, release: bool = True, steps: int = 12) -> None:
    """Drag the mouse along strokes given in 0..1 canvas fractions (the canvas scrolled into view first),
    `steps` pointer moves per segment."""
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for bx, by in stroke[1:]:
            page.mouse.move(box["x"] + bx * box["width"], box["y"] + by * box["height"], steps=steps)
        if release:
            page.mouse.up()


def run_axe(page) -> list:
    """axe-core's violations on the page as it is now: (rule, the first few elements) each."""
    from axe_playwright_python.sync_playwright import Axe

    # Contrast is judged on the colours painted now: a panel still fading in reads as faint text.
    page.evaluate("""() => Promise.all(document.getAnimations()
        .filter(a => a.effect && a.effect.getTiming().iterations !== Infinity)
        .map(a => a.finished.catch(() => null)))""")
    results = Axe().run(page)
    return [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in results.response["violations"]]


def open_page(browser, base_url, **options):
    """A fresh browser context and page on the app (1000x760 unless told), its script errors in page.errors."""
    context = browser.new_context(**{"viewport": {"width": 1000, "height": 760}, **options})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(base_url)
    return context, page
