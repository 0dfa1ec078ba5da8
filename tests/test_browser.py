"""A real browser (Debian Chromium driven by Playwright) draws digits on the page and reads the answer."""

import os
from pathlib import Path

import cv2
import pytest
from support import CHROMIUM, draw
from support import SEVEN_ON_PAGE as SEVEN
from support import ZERO_ON_PAGE as ZERO

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (.ci/run installs it)")
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport={"width": 1000, "height": 760}, device_scale_factor=2)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    page.goto(base_url)
    yield page
    context.close()
    # The app sends a strict Content-Security-Policy (no inline script or style): the page must not break it.
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def shown_digit(page):
    return page.locator("#digit").inner_text()


def test_draw_seven_clear_then_zero(page):
    assert shown_digit(page) == "–"
    draw(page, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7")
    winner = page.locator("#bars li.winner")
    assert winner.get_attribute("data-digit") == "7"
    bar = winner.locator(".bar").evaluate("el => el.style.transform")
    assert float(bar.removeprefix("scaleY(").rstrip(")")) > 0.5
    assert page.locator("#preview").is_visible()
    page.click("#clear")
    sync_api.expect(page.locator("#digit")).to_have_text("–")
    assert page.locator("#bars li.winner").count() == 0
    draw(page, ZERO)
    sync_api.expect(page.locator("#digit")).to_have_text("0")
    shot = os.environ.get("DIGIT_CANVAS_SCREENSHOT")
    if shot:
        page.screenshot(path=shot)


def test_prediction_updates_while_the_pen_is_still_down(page):
    draw(page, SEVEN, release=False)
    sync_api.expect(page.locator("#digit")).not_to_have_text("–")
    page.mouse.up()


def test_undo_and_escape(page):
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])  # a 1
    sync_api.expect(page.locator("#digit")).to_have_text("1")
    draw(page, [[(0.3, 0.2), (0.7, 0.2)]])  # a flag turns it into something else (a 7)
    sync_api.expect(page.locator("#digit")).not_to_have_text("1")
    page.keyboard.press("Control+z")
    sync_api.expect(page.locator("#digit")).to_have_text("1")
    page.keyboard.press("Escape")
    sync_api.expect(page.locator("#digit")).to_have_text("–")


def test_the_page_runs_under_its_content_security_policy(page, base_url):
    response = page.request.get(base_url + "/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    violations = page.evaluate("""() => new Promise((resolve) => {
        const seen = [];
        document.addEventListener("securitypolicyviolation", (e) => seen.push(e.violatedDirective));
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";  // an injected inline script must be blocked
        document.body.append(script);
        setTimeout(() => resolve({seen, ran: Boolean(window.inlineRan)}), 200);
    })""")
    assert violations["ran"] is False and violations["seen"]
    page.console_errors.clear()  # the violation above was this test's own


def test_canvas_is_sharp_on_high_dpi_screens(page):
    size = page.evaluate("() => { const c = document.getElementById('pad'); return [c.width, c.clientWidth]; }")
    assert abs(size[0] - 2 * size[1]) <= 2


def test_uploading_a_picture(page, tmp_path, mnist_small):
    path = tmp_path / "scan.png"
    digit, label = mnist_small["x_test"][1], mnist_small["y_test"][1]
    cv2.imwrite(str(path), 255 - cv2.resize(digit, (200, 200)))
    page.set_input_files("#file", str(path))
    sync_api.expect(page.locator("#digit")).to_have_text(str(label))


def test_phone_layout_fits_and_drawing_does_not_scroll(browser, base_url):
    context = browser.new_context(viewport={"width": 375, "height": 700}, device_scale_factor=3, has_touch=True,
                                  is_mobile=True)
    page = context.new_page()
    page.goto(base_url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.evaluate("getComputedStyle(document.getElementById('pad')).touchAction") == "none"
    box = page.locator("#pad").bounding_box()
    assert box["width"] <= 375 and box["x"] >= 0
    context.close()



def test_telling_the_model_it_was_wrong_stores_the_drawing(page, app):
    before = len(app.extensions["corrections"].run(app.extensions["corrections"].store.all))
    draw(page, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7")
    assert page.locator("#correct").is_visible()
    page.click("#correct button[data-label='1']")
    sync_api.expect(page.locator("#correct-thanks")).to_contain_text("Thanks", timeout=8000)
    sync_api.expect(page.locator("#digit")).to_have_text("7")  # nothing else changes
    rows = app.extensions["corrections"].run(app.extensions["corrections"].store.all)
    assert len(rows) == before + 1
    assert rows[-1]["label"] == 1 and rows[-1]["model_digit"] == 7 and rows[-1]["source"] == "strokes"
    page.click("#clear")
    assert not page.locator("#correct").is_visible()
