"""The page on a mid-range phone's CPU: long tasks and input delay while drawing (make bench-page).

Real Chromium (Debian's), its CPU slowed 4x through the DevTools protocol, draws ten digits one after
another (each read as it is drawn, then cleared) and then a twelve-digit number, with the mouse moving in
small steps as a finger does. The page's own observers count the long tasks (over 50 ms, the RAIL
budget) and the event timings (input delay: how long an event waited for the main thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

import numpy as np

from app import ROOT
from bench import scratch_app

CHROMIUM = "/usr/bin/chromium"
# Long tasks and event timings, recorded from the start (buffered) by the page's own observers.
OBSERVE = """() => { window.longTasks = []; window.inputDelays = [];
  new PerformanceObserver((list) => list.getEntries().forEach((e) => window.longTasks.push([e.startTime, e.duration])))
    .observe({type: "longtask", buffered: true});
  new PerformanceObserver((list) => list.getEntries().forEach(
      (e) => window.inputDelays.push(e.processingStart - e.startTime)))
    .observe({type: "event", durationThreshold: 16, buffered: true}); }"""


def shapes() -> dict[int, list]:
    """A simple pen path for a few digits, in 0..1 canvas fractions."""
    oval = [(0.5 + 0.2 * np.sin(a), 0.5 - 0.3 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 30)]
    return {0: [oval], 1: [[(0.5, 0.2), (0.5, 0.8)]], 7: [[(0.3, 0.2), (0.7, 0.2), (0.45, 0.8)]],
            4: [[(0.45, 0.2), (0.3, 0.6), (0.7, 0.6)], [(0.6, 0.35), (0.6, 0.8)]]}


def draw(page, strokes, box, steps: int) -> None:
    """Drag the mouse along strokes in canvas fractions, `steps` moves per segment."""
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=steps)
        page.mouse.up()


def measure(url: str, throttle: float) -> dict:
    """Long tasks and input delays while drawing ten digits and a number, at `throttle` times slower CPU."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, has_touch=True,
                                      is_mobile=True)
        page = context.new_page()
        page.goto(url)
        page.wait_for_load_state("networkidle")
        # Playwright's own helper script is compiled on its first use: done here, before the clock starts,
        # so that its compile is not counted as the page's long task.
        page.wait_for_function("() => true", polling=100)
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        page.evaluate(OBSERVE)
        box = page.locator("#pad").bounding_box()
        paths = shapes()
        for i in range(10):
            draw(page, paths[[7, 1, 0, 4][i % 4]], box, steps=20)
            page.wait_for_function(f"() => Number(document.body.dataset.answers || 0) >= {i + 1}", polling=100)
            page.keyboard.press("Escape")
        switched = page.evaluate("performance.now()")
        page.click("#mode")
        page.wait_for_timeout(500)
        drawing = page.evaluate("performance.now()")
        box = page.locator("#pad").bounding_box()
        for i, digit in enumerate([1, 0, 7, 4, 0, 1, 0, 0, 4, 7, 0, 0]):  # a long number: the drawing grows
            left = 0.02 + i * 0.08
            strokes = [[(left + 0.07 * x, 0.1 + 0.8 * y) for x, y in s] for s in paths[digit]]
            draw(page, strokes, box, steps=20)
        page.wait_for_timeout(1500)
        tasks, delays = page.evaluate("[window.longTasks, window.inputDelays]")
        browser.close()
    while_drawing = [d for start, d in tasks if not switched <= start < drawing]
    switching = [d for start, d in tasks if switched <= start < drawing]
    return {"throttle": throttle, "long_tasks_while_drawing": len(while_drawing),
            "longest_task_while_drawing_ms": round(max(while_drawing, default=0.0), 1),
            "longest_task_switching_to_number_mode_ms": round(max(switching, default=0.0), 1),
            "worst_input_delay_ms": round(max(delays, default=0.0), 1),
            "median_input_delay_ms": round(float(np.median(delays)), 1) if delays else 0.0,
            "slow_events": len(delays)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throttle", type=float, default=4.0, help="how many times slower the CPU runs")
    parser.add_argument("--runs", type=int, default=3, help="whole runs (a shared machine is noisy: all are kept)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench" / "page_tasks.json")
    args = parser.parse_args(argv)
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, scratch_app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runs = [measure(f"http://127.0.0.1:{server.server_port}", args.throttle) for _ in range(args.runs)]
    finally:
        server.shutdown()
    result = {"throttle": args.throttle, "runs": runs,
              "median_long_tasks_while_drawing": float(np.median([r["long_tasks_while_drawing"] for r in runs])),
              "longest_task_while_drawing_ms": max(r["longest_task_while_drawing_ms"] for r in runs),
              "median_worst_input_delay_ms": float(np.median([r["worst_input_delay_ms"] for r in runs]))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
