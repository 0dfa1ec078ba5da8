"""The page on real networks and screens, in real Chromium: a slow network, failures, timeouts, taps,
keys mid-stroke, phones upright and sideways with touch, uploads, screen readers (axe-core)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from support import CHROMIUM, draw, open_page, run_axe
from support import SEVEN_ON_PAGE as SEVEN
from support import ZERO_ON_PAGE as ZERO

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (.ci/run installs it)")


def answers(page) -> int:
    return int(page.evaluate("Number(document.body.dataset.answers || 0)"))


def slow_stroke(page, points, seconds: float, release: bool = True):
    """Drag the mouse through points (0..1 canvas fractions) over about `seconds`, like a person drawing."""
    box = page.locator("#pad").bounding_box()
    path = np.concatenate([np.linspace(a, b, 20, endpoint=False) for a, b in zip(points, points[1:])] + [points[-1:]])
    page.mouse.move(box["x"] + path[0][0] * box["width"], box["y"] + path[0][1] * box["height"])
    page.mouse.down()
    pause = seconds / len(path)
    for x, y in path[1:]:
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.wait_for_timeout(pause * 1000)
    if release:
        page.mouse.up()


def test_live_answers_arrive_while_drawing_on_a_150_ms_network(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 150, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    in_flight, most = [0], [0]

    def started(request):
        if "/api/predict" in request.url:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])

    def ended(request):
        if "/api/predict" in request.url:
            in_flight[0] -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    slow_stroke(page, np.array(SEVEN[0]), seconds=2.0, release=False)
    while_drawing = answers(page)
    page.mouse.up()
    sync_api.expect(page.locator("#digit")).to_have_text("7")
    page.wait_for_timeout(500)
    assert while_drawing >= 3, while_drawing
    assert not failed and most[0] == 1  # one request at a time, none cancelled


def test_a_failing_server_greys_the_old_answer_says_so_plainly_and_recovers(browser, base_url):
    context, page = open_page(browser, base_url, viewport={"width": 390, "height": 844}, has_touch=True)
    draw(page, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7")
    page.route("**/api/predict", lambda route: route.fulfill(status=500, content_type="text/html",
                                                             body="<html><h1>Internal Server Error</h1></html>"))
    draw(page, [[(0.2, 0.9), (0.8, 0.9)]])
    status = page.locator("#status")
    sync_api.expect(status).to_contain_text("The server sent an answer this page cannot read")
    assert "stale" in page.locator("#result").get_attribute("class")
    box = status.bounding_box()
    assert box["y"] + box["height"] <= 844  # seen without scrolling on a phone
    assert "Unexpected token" not in page.content() and "JSON" not in status.inner_text()
    page.unroute("**/api/predict")
    sync_api.expect(status).to_have_text("", timeout=10_000)  # retried by itself
    assert "stale" not in page.locator("#result").get_attribute("class")
    context.close()
    assert not page.errors


@pytest.mark.parametrize("kind, message", [
    ("abort", "Can't reach the server"),
    ("json-500", "The server had a problem"),
    ("json-413", "too big"),
    ("empty-200", "cannot read"),
])
def test_every_kind_of_failure_has_a_plain_message(page, kind, message):
    def fail(route):
        if kind == "abort":
            return route.abort("connectionrefused")
        if kind == "empty-200":
            return route.fulfill(status=200, content_type="application/json", body="")
        status = int(kind.split("-")[1])
        return route.fulfill(status=status, content_type="application/json", body=json.dumps({"error": "x"}))

    page.route("**/api/predict", fail)
    draw(page, SEVEN)
    sync_api.expect(page.locator("#status")).to_contain_text(message)
    for raw in ("Failed to fetch", "Unexpected", "JSON input", "NetworkError"):
        assert raw not in page.locator("#result").inner_text()


def test_a_server_that_never_answers_times_out_with_a_busy_state(page):
    page.route("**/api/predict", lambda route: None)  # never answered
    draw(page, SEVEN)
    sync_api.expect(page.locator("#result")).to_have_attribute("aria-busy", "true")
    sync_api.expect(page.locator("#result")).to_have_class("result waiting")
    sync_api.expect(page.locator("#status")).to_contain_text("taking too long", timeout=10_000)
    page.unroute("**/api/predict")


def test_a_tap_is_not_a_digit(page):
    box = page.locator("#pad").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    sync_api.expect(page.locator("#digit")).to_have_text("?")
    sync_api.expect(page.locator("#verdict")).to_have_text("Too little ink to read. Draw the whole digit.")
    assert page.locator("#bars li.winner").count() == 0  # no highlighted winner when unsure
    heights = page.locator("#bars .bar").evaluate_all("bars => bars.map(b => b.style.transform)")
    assert heights == ["scaleY(0)"] * 10  # and no full-height bar for a guess about a dot
    assert "best guess" not in page.locator("#result").inner_text()


def test_escape_and_undo_in_the_middle_of_a_stroke(page):
    bodies = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data)) if r.url.endswith("/api/predict") else None)
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    sync_api.expect(page.locator("#digit")).to_have_text("1")
    draw(page, [[(0.2, 0.3), (0.4, 0.5)]], release=False)
    page.keyboard.press("Control+z")  # ends the stroke being drawn, then removes it
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.9 * box["height"], steps=5)
    page.mouse.up()
    assert page.evaluate("document.body.dataset.strokes") == "1"
    page.wait_for_timeout(300)
    assert len(bodies[-1]["strokes"]) == 1 and max(p[0] for p in bodies[-1]["strokes"][0]) < 0.6 * box["width"]
    draw(page, [[(0.2, 0.3), (0.4, 0.5)]], release=False)
    page.keyboard.press("Escape")
    page.mouse.move(box["x"] + 10, box["y"] + 10, steps=5)
    page.mouse.up()
    assert page.evaluate("document.body.dataset.strokes") == "0"
    sync_api.expect(page.locator("#digit")).to_have_text("–")


def test_a_big_photo_is_shrunk_before_upload_and_the_same_file_can_be_sent_again(page, tmp_path, mnist_small):
    digit, label = mnist_small["x_test"][1], int(mnist_small["y_test"][1])
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), 255 - cv2.resize(digit, (3000, 2400), interpolation=cv2.INTER_CUBIC))
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/api/predict/image") else None)
    page.set_input_files("#file", str(path))
    sync_api.expect(page.locator("#digit")).to_have_text(str(label))
    assert page.evaluate("document.body.dataset.uploaded") == "1024x819"  # 3000x2400 shrunk before sending
    page.set_input_files("#file", str(path))  # the same file again is a new upload
    page.wait_for_timeout(1500)
    assert len(sent) == 2


def touch_draw(page, cdp, strokes):
    """Draw with real touch events (CDP), strokes in 0..1 canvas fractions."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        path = np.concatenate([np.linspace(a, b, 10) for a, b in zip(points, points[1:])])
        start = {"x": path[0][0], "y": path[0][1]}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [start]})
        for x, y in path[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


@pytest.mark.parametrize("width, height", [(360, 640), (390, 844), (844, 390), (640, 360)])
def test_on_phones_the_answer_and_all_bars_are_in_view_after_drawing_by_touch(browser, base_url, width, height):
    context, page = open_page(browser, base_url, viewport={"width": width, "height": height}, device_scale_factor=3,
                              has_touch=True, is_mobile=True)
    cdp = context.new_cdp_session(page)
    touch_draw(page, cdp, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7")
    assert page.evaluate("window.scrollY") == 0  # drawing did not scroll the page
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in ["#digit", "#pad", *[f"#bars li[data-digit='{d}']" for d in range(10)]]:
        box = page.locator(selector).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height + 0.5, (selector, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)
    context.close()


def test_two_hundred_percent_zoom_keeps_the_answer_in_view(browser, base_url):
    # 200% zoom on a 1000x760 window is a 500x380 CSS viewport at twice the pixel density.
    context, page = open_page(browser, base_url, viewport={"width": 500, "height": 380}, device_scale_factor=2)
    draw(page, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7")
    for selector in ["#digit", "#bars li[data-digit='0']", "#bars li[data-digit='9']"]:
        box = page.locator(selector).bounding_box()
        assert box["y"] + box["height"] <= 380 and box["x"] + box["width"] <= 500
    context.close()


def test_one_announcement_per_settled_answer(page):
    page.evaluate("""() => {
        window.announced = [];
        new MutationObserver(() => window.announced.push(document.getElementById("announce").textContent))
            .observe(document.getElementById("announce"), {childList: true, characterData: true, subtree: true});
    }""")
    slow_stroke(page, np.array(SEVEN[0]), seconds=0.8)
    sync_api.expect(page.locator("#digit")).to_have_text("7")
    page.wait_for_timeout(400)
    announced = page.evaluate("window.announced")
    assert answers(page) >= 2 and len(announced) == 1 and announced[0].startswith("Looks like 7")
    live = page.evaluate("[...document.querySelectorAll('[aria-live]')].map(e => e.id)")
    assert live == ["announce"]
    assert page.locator("h1").count() == 1
    # The pad takes the keyboard (arrows move a pen): an application to screen readers, described as a drawing pad.
    assert page.evaluate("document.getElementById('pad').getAttribute('role')") == "application"
    assert page.evaluate("document.getElementById('pad').getAttribute('aria-roledescription')") == "drawing pad"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_accessibility_violations(browser, base_url, scheme):
    context, page = open_page(browser, base_url, color_scheme=scheme)
    assert run_axe(page) == []
    draw(page, ZERO)
    sync_api.expect(page.locator("#digit")).to_have_text("0")
    assert run_axe(page) == []
    page.click("#mode")  # Number mode's screen: the number, its chips and their corrections
    draw(page, [[(0.2, 0.2), (0.2, 0.8)], [(0.4 + 0.08 * np.sin(t), 0.5 - 0.3 * np.cos(t))
                                           for t in np.linspace(0, 2 * np.pi, 24)]])
    sync_api.expect(page.locator("#verdict")).to_contain_text("Read 10")
    assert run_axe(page) == []
    page.goto(base_url + "/model")
    assert run_axe(page) == []
    page.evaluate("document.body.append(Object.assign(document.createElement('img'), {src: 'data:,'}))")
    assert "image-alt" in [rule for rule, _ in run_axe(page)]  # the check itself works
    context.close()


def test_in_forced_colours_the_bars_stay_visible(browser, base_url):
    context, page = open_page(browser, base_url, forced_colors="active")
    draw(page, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7")
    colours = page.evaluate("""() => { const li = document.querySelector("#bars li[data-digit='7']");
        return [getComputedStyle(li.querySelector('.bar')).backgroundColor,
                getComputedStyle(li.querySelector('.track')).backgroundColor]; }""")
    assert colours[0] != colours[1]
    context.close()


def test_the_page_looks_right_in_a_phone_screenshot(browser, base_url):
    import os

    shot = os.environ.get("DIGIT_CANVAS_PHONE_SCREENSHOT")
    context, page = open_page(browser, base_url, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                              has_touch=True, is_mobile=True)
    touch_draw(page, context.new_cdp_session(page), ZERO)
    sync_api.expect(page.locator("#digit")).to_have_text("0")
    if shot:
        page.screenshot(path=shot)
    context.close()




TWO = [(0.2, 0.3), (0.5, 0.1), (0.8, 0.3), (0.75, 0.5), (0.2, 0.9), (0.85, 0.9)]
OH = [(0.5 + 0.35 * np.sin(t), 0.5 - 0.42 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 30)]
SIX = [(0.7, 0.1), (0.35, 0.45), (0.25, 0.75), (0.5, 0.95), (0.75, 0.75), (0.6, 0.55), (0.3, 0.65)]


def test_number_mode_reads_2026_with_a_box_per_digit(page):
    page.click("#mode")
    assert page.locator("#mode").get_attribute("aria-pressed") == "true"
    box = page.locator("#pad").bounding_box()
    assert box["width"] > 2 * box["height"]  # a wide canvas for several digits
    strokes = []
    for i, shape in enumerate((TWO, OH, TWO, SIX)):
        left = 0.06 + i * 0.23
        strokes.append([(left + 0.16 * x, 0.12 + 0.76 * y) for x, y in shape])
    draw(page, strokes)
    sync_api.expect(page.locator("#digit")).to_have_text("2026")
    assert page.evaluate("document.body.dataset.boxes") == "4"
    chips = page.locator("#number-digits button")
    assert chips.count() == 4
    chips.nth(1).click()  # the bars follow the digit chosen
    assert page.locator("#bars li.winner").get_attribute("data-digit") == "0"
    chips.nth(2).hover()  # pointing is not choosing: a correction stays about the chosen digit
    assert page.locator("#bars li.winner").get_attribute("data-digit") == "0"
    assert page.locator("#correct-ask").inner_text().startswith("Wrong? Digit 2")
    assert "Write a number" in page.locator("h1").inner_text()
    chips.nth(3).click()
    assert page.locator("#bars li.winner").get_attribute("data-digit") == "6"
    assert page.locator("#correct-ask").inner_text().startswith("Wrong? Digit 4")
    page.click("#clear")
    assert page.evaluate("document.body.dataset.boxes") == "0"
    page.click("#mode")  # back to one digit
    draw(page, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7")


def test_a_digit_of_a_number_can_be_corrected(page, app):
    page.click("#mode")
    strokes = [[(0.06 + i * 0.23 + 0.16 * x, 0.12 + 0.76 * y) for x, y in shape] for i, shape in enumerate((TWO, SIX))]
    draw(page, strokes)
    sync_api.expect(page.locator("#digit")).to_have_text("26")
    before = len(app.extensions["corrections"].run(app.extensions["corrections"].store.all))
    page.locator("#number-digits button").nth(0).click()
    page.click("#correct button[data-label='3']")
    sync_api.expect(page.locator("#correct-thanks")).to_contain_text("Thanks", timeout=8000)
    rows = app.extensions["corrections"].run(app.extensions["corrections"].store.all)
    assert len(rows) == before + 1 and rows[-1]["label"] == 3
    assert len(json.loads(rows[-1]["strokes"])) == 1  # only the first digit's stroke


def test_a_photo_of_a_number_is_shown_with_its_boxes_until_the_pen_draws(page, tmp_path, mnist_small):
    """Number mode: the uploaded picture stays on the canvas with a box per digit read; drawing or Clear removes it."""
    digits = [mnist_small["x_test"][i] for i in (0, 1, 2)]
    row = np.hstack([np.pad(d, ((6, 6), (4, 4))) for d in digits])
    path = tmp_path / "number.png"
    cv2.imwrite(str(path), 255 - cv2.resize(row, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR))
    page.click("#mode")
    page.set_input_files("#file", str(path))
    sync_api.expect(page.locator("#number-digits button")).not_to_have_count(0)
    shown = page.locator("#number-digits button").count()
    assert page.evaluate("document.body.dataset.boxes") == str(shown)
    assert page.locator("#hint").is_hidden()
    # the picture is on the canvas: its dark ink shows in the middle of the pad
    dark = page.evaluate("""() => { const c = document.getElementById('pad');
        const d = c.getContext('2d').getImageData(0, c.height * 0.3, c.width, c.height * 0.4).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && d[i] < 100) n++; return n; }""")
    assert dark > 500
    draw(page, [[(0.1, 0.2), (0.1, 0.8)]])  # the pen draws: the picture and its boxes go
    sync_api.expect(page.locator("#digit")).not_to_have_text("")
    assert page.evaluate("document.body.dataset.boxes") in ("0", "1")
    assert page.locator("#hint").is_hidden()
    page.click("#clear")
    assert page.evaluate("document.body.dataset.boxes") == "0" and page.locator("#hint").is_visible()
