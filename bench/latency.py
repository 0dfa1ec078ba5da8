"""Serving speed (make bench): starts the server as `make run` does and a plain Keras server, and
sends both the same real-looking stroke payloads over keep-alive HTTP on loopback.

Reports p50/p99 at concurrency 1, throughput at concurrency 8, cold start (process start to the
first 200 answer), resident memory per worker, and the speed-up over the plain Keras server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import cycle, islice
from pathlib import Path

import cv2
import numpy as np

from app import ROOT
from app.config import Settings
from bench import probes
from bench.harness import Connection, Progress, free_port, server_command, start, stop
from training import data

FIXTURE = ROOT / "tests" / "fixtures" / "pendigits_small.json"


def resample(stroke: np.ndarray, count: int) -> np.ndarray:
    """count points evenly spaced along the stroke's path."""
    lengths = np.r_[0, np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))]
    if lengths[-1] == 0:
        return np.repeat(stroke[:1], count, axis=0)
    at = np.linspace(0, lengths[-1], count)
    return np.stack([np.interp(at, lengths, stroke[:, 0]), np.interp(at, lengths, stroke[:, 1])], axis=1)


def payloads(count: int, seed: int = 0) -> list[bytes]:
    """Pen digits of 1 to 3 strokes on a 320 px canvas, resampled to 20 to 200 points, as JSON bodies."""
    rng = np.random.default_rng(seed)
    digits = [r for r in json.loads(FIXTURE.read_text()) if 1 <= len(r["strokes"]) <= 3]
    bodies = []
    for i in range(count):
        record = digits[i % len(digits)]
        total = int(rng.integers(20, 201))
        parts = [np.asarray(s, float) * 320 / 500 for s in record["strokes"]]
        lengths = np.array([max(len(p), 1) for p in parts], float)
        counts = np.maximum(2, np.round(total * lengths / lengths.sum())).astype(int)
        points = [np.round(resample(p, n), 1).tolist() for p, n in zip(parts, counts)]
        bodies.append(json.dumps({"strokes": points, "width": 320, "height": 320}).encode())
    return bodies


def number_payloads(count: int, digits: int = 4, seed: int = 0) -> list[bytes]:
    """Numbers of `digits` pen digits (one writer each, normal gaps) as /api/read bodies."""
    from bench.number_eval import compose, group_by_writer

    rng = np.random.default_rng(seed)
    by_writer = group_by_writer(data.load_pendigits(FIXTURE))
    bodies = []
    while len(bodies) < count:
        points, truth, width, height = compose(by_writer[sorted(by_writer)[len(bodies) % len(by_writer)]], rng,
                                               "normal")
        if len(truth) == digits:
            bodies.append(json.dumps({"strokes": [np.round(s, 1).tolist() for s in points], "width": round(width, 1),
                                      "height": round(height, 1)}).encode())
    return bodies


BOUNDARY = "digitcanvasbench"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def number_pictures(count: int, digits: int = 6, height: int = 64, seed: int = 0) -> list[bytes]:
    """Pictures of `digits`-digit numbers (one pen writer each, plain paper), `height` px high, as
    multipart /api/read/image bodies."""
    from training import lines

    rng = np.random.default_rng(seed)
    writers = lines.pen_writers(data.load_pendigits(FIXTURE))
    bodies = []
    for i in range(count):
        grey, _, _ = lines.picture(writers[i % len(writers)], rng, length=digits, gap="normal", paper="plain")
        grey = cv2.resize(grey, (max(1, round(grey.shape[1] * height / grey.shape[0])), height),
                          interpolation=cv2.INTER_AREA)
        bodies.append(picture_body(cv2.imencode(".png", grey)[1].tobytes()))
    return bodies


def sequential(port: int, bodies: list[bytes], path: str = "/api/predict",
               content_type: str = "application/json") -> list[float]:
    """Latency of each request in turn on one kept-alive connection (concurrency 1)."""
    connection = Connection(port, path=path, content_type=content_type)
    try:
        return [connection.post(body) for body in bodies]
    finally:
        connection.close()


def throughput(port: int, bodies: list[bytes], clients: int) -> float:
    """Requests per second with `clients` kept-alive connections sending back to back; any non-200 raises."""
    shares = [bodies[i::clients] for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        answered = sum(len(timings) for timings in pool.map(partial(sequential, port), shares))
        return answered / (time.perf_counter() - started)


def head_to_head(seed_port: int, port: int, bodies: list[bytes], block: int = 20,
                 warm_up: int = 10) -> tuple[list[float], list[float]]:
    """The same payloads to the plain Keras server and to ours, in alternating rounds of `block`.

    Alternating rounds put both servers under the same machine conditions (this machine is shared
    and noisy). Each round starts with `warm_up` unmeasured requests, because the two servers share
    two cores: a round of TensorFlow evicts the other server's caches, which no real deployment
    of either server would see.
    """
    seed, ours = Connection(seed_port), Connection(port)
    seed_latencies, our_latencies = [], []
    try:
        for first in range(0, len(bodies), block):
            chunk = bodies[first:first + block]
            for connection, latencies in ((seed, seed_latencies), (ours, our_latencies)):
                for body in islice(cycle(chunk), warm_up):
                    connection.post(body)
                latencies += [connection.post(body) for body in chunk]
    finally:
        seed.close()
        ours.close()
    return seed_latencies, our_latencies


def children_of(pid: int) -> list[int]:
    """A process's children, from /proc (of every thread: a worker starts its picture process from a pool thread)."""
    return sorted({int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                   for child in (task / "children").read_text().split()})


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (VmHWM: its peak), from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field))) / 1024


def worker_memory_mb(master: int, field: str = "VmRSS") -> list[float]:
    """Resident memory of each gunicorn worker (the master's children); VmHWM gives the peak."""
    return [memory_mb(pid, field) for pid in children_of(master)]


def picture_process_memory_mb(master: int, field: str = "VmRSS") -> list[float]:
    """Resident memory of each worker's picture process (app/reader/picture_process.py)."""
    return [memory_mb(child, field) for worker in children_of(master) for child in children_of(worker)]


def photo_jpeg(side: int = 6000, seed: int = 0) -> bytes:
    """A phone-photo-like JPEG, side x side: a thick dark 4 on unevenly lit, grainy paper."""
    rng = np.random.default_rng(seed)
    light = np.linspace(175, 235, side, dtype=np.float32)
    paper = light[None, :] * np.linspace(0.9, 1.0, side, dtype=np.float32)[:, None]
    grain = rng.normal(0, 6, (side // 8, side // 8)).astype(np.float32)
    paper = paper + cv2.resize(grain, (side, side), interpolation=cv2.INTER_LINEAR)
    pen = side // 40
    for begin, end in (((0.55, 0.2), (0.3, 0.6)), ((0.3, 0.6), (0.7, 0.6)), ((0.6, 0.35), (0.6, 0.85))):
        cv2.line(paper, (int(begin[0] * side), int(begin[1] * side)), (int(end[0] * side), int(end[1] * side)), 40, pen)
    return cv2.imencode(".jpg", np.clip(paper, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def largest_legal_png(pixels: int = Settings().max_lossless_pixels - 10_000) -> bytes:
    """The costliest lossless picture the API accepts: an RGBA PNG of (just under) 12 MP, a ring on a gradient
    (a JPEG may have 40 MP, decoded at 1/8 scale; a PNG's every pixel is decoded)."""
    side = int(pixels ** 0.5)
    ramp = np.linspace(200, 255, side).astype(np.uint8)
    image = np.dstack([np.tile(ramp, (side, 1))] * 3 + [np.full((side, side), 255, np.uint8)])
    cv2.circle(image, (side // 2, side // 2), side // 4, (0, 0, 0, 255), side // 30)
    return cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()


def upload(port: int, picture: bytes, timeout: float = 120) -> int:
    """POST one picture to /api/predict/image; returns the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/api/predict/image", picture_body(picture), {"Content-Type": MULTIPART})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def paced(port: int, bodies: list[bytes], every: float) -> list[float]:
    """One client drawing like the page: a request every `every` seconds, on one kept-alive connection."""
    connection = Connection(port)
    started = time.perf_counter()
    latencies = []
    try:
        for i, body in enumerate(bodies):
            time.sleep(max(0.0, started + i * every - time.perf_counter()))
            latencies.append(connection.post(body))
    finally:
        connection.close()
    return latencies


def mixed(port: int, bodies: list[bytes], background, clients: int = 4, every: float = 0.05) -> dict:
    """Stroke latency of `clients` paced drawers while other clients run the background callables (one
    or a list) back to back."""
    backgrounds = background if isinstance(background, list) else [background]
    done = threading.Event()
    finished = []

    def keep_going(job):
        while not done.is_set():
            job()
            finished.append(1)

    with ThreadPoolExecutor(clients + len(backgrounds)) as pool:
        others = [pool.submit(keep_going, job) for job in backgrounds]
        time.sleep(0.5)  # the background clients are busy before the drawers start
        shares = pool.map(partial(paced, port, every=every), [bodies[i::clients] for i in range(clients)])
        latencies = [t for share in shares for t in share]
        done.set()
        for other in others:
            other.result()
    return {"p50_ms": statistics.median(latencies) * 1000, "p99_ms": float(np.percentile(latencies, 99)) * 1000,
            "requests": len(latencies), "background_requests": len(finished)}


def costliest_read_body(seed: int = 0) -> bytes:
    """The costliest legal /api/read body we know: 60 strokes (the most a number may have) of 166 points
    each (10,000 in all), zigzagging over a 3000x100 canvas (about 0.17 CPU-s)."""
    rng = np.random.default_rng(seed)
    strokes = [np.round(rng.uniform(0, 1, (166, 2)) * [3000, 100], 1).tolist() for _ in range(60)]
    return json.dumps({"strokes": strokes, "width": 3000, "height": 100}).encode()


def attacker(port: int, path: str, body: bytes | list[bytes], content_type: str = "application/json"):
    """A background client that posts `body` (or each of a list in turn) to `path` on one kept-alive
    connection; any answer but a 200, a 413 or 422 (refused or nothing read) or a 503 (busy: the server's
    own bound) fails the run."""
    connection = Connection(port, path=path, content_type=content_type, timeout=60)
    bodies = cycle(body if isinstance(body, list) else [body])

    def attack_once():
        connection.post(next(bodies), expect=None)
        if connection.status not in (200, 413, 422, 503):
            raise RuntimeError(f"{path} answered {connection.status}: {connection.body[:200]!r}")
        if connection.status == 503:
            time.sleep(0.05)  # told to come back: a busy loop would only measure this client
    return attack_once


def costliest_pictures() -> list[bytes]:
    """The costliest legal-looking pictures we know, at the sizes that cost the old server 1 to 5 CPU-s each:
    a run-length encoded BMP, 2.4 MB of PNG chunks, 10 MB of JPEG markers, 10 MB of GIF comments, a dot
    grid, and the largest lossless PNG."""
    return [probes.rle_bmp(20_000_000, 2), probes.png_chunk_flood(200_000), probes.jpeg_marker_flood(150_000),
            probes.gif_comment_flood(10_000_000), probes.dots(800, 4), largest_legal_png()]


def counted_uploader(port: int, picture: bytes, statuses: list[int]):
    """A background client, another user, that uploads an ordinary photo and records each answer's status."""
    def upload_once():
        statuses.append(upload(port, picture))
        time.sleep(0.2)
    return upload_once


def under_attack(port: int, mixed_requests: int, runs: int = 5) -> dict:
    """Four paced drawers while four clients loop the costliest pictures and one other user uploads photos,
    `runs` times: the median of the drawers' p99, the worst, and the other user's answers."""
    results, statuses = [], []
    photo, costly = photo_jpeg(2000, seed=7), [picture_body(p) for p in costliest_pictures()]  # made once
    for run in range(runs):
        results.append(mixed(port, payloads(mixed_requests, seed=10 + run),
                             [*(attacker(port, "/api/predict/image", costly, MULTIPART) for _ in range(4)),
                              counted_uploader(port, photo, statuses)]))
    return {"p50_ms": statistics.median(r["p50_ms"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "p99_worst_ms": max(r["p99_ms"] for r in results), "runs": runs,
            "p99_runs_ms": [round(r["p99_ms"], 1) for r in results],
            "background_requests": sum(r["background_requests"] for r in results),
            "other_uploads": len(statuses), "other_uploads_answered": sum(s == 200 for s in statuses)}


def picture_body(picture: bytes) -> bytes:
    """A multipart body with `picture` in the field image."""
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + picture + f"\r\n--{BOUNDARY}--\r\n".encode()


def uploader(port: int, picture: bytes):
    """A background client that uploads `picture` and fails on anything but a 200."""
    def upload_once():
        status = upload(port, picture)
        if status != 200:
            raise RuntimeError(f"upload answered {status}")
    return upload_once


def corrector(port: int, every: float = 0.05):
    """A background client that sends a correction every `every` seconds and fails on anything but a 201
    (each a different drawing: the same one again would be stored once)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = iter(range(1_000_000))

    def correct_once():
        started = time.perf_counter()
        corner = 40 + next(sent) / 1000
        body = json.dumps({"strokes": [[[40, 40], [200, corner], [110, 260]]], "width": 300, "height": 300,
                           "label": 1})
        connection.request("POST", "/api/corrections", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"correction answered {response.status}")
        time.sleep(max(0.0, every - (time.perf_counter() - started)))
    return correct_once


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def spread(prefix: str, latencies: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds, named prefix + p50_ms / p99_ms."""
    return {f"{prefix}p50_ms": statistics.median(latencies) * 1000,
            f"{prefix}p99_ms": float(np.percentile(latencies, 99)) * 1000}


def measure(args: argparse.Namespace, progress: Progress) -> None:
    """Run every measurement against both servers, saving each figure as soon as it is known."""
    bodies = payloads(args.requests)
    port, seed_port = free_port(), free_port()
    ours, cold_start = start(server_command(), port, bodies[0], env={"FLASK_CORRECTIONS_PER_MINUTE": "100000"})
    progress.put(cold_start_s=cold_start, cpu_count=os.cpu_count())
    try:
        sequential(port, bodies[:200])  # warm-up, not measured
        latencies = sequential(port, bodies)
        progress.put(**spread("", latencies), requests=len(latencies))
        progress.put(throughput_rps_c8=throughput(port, payloads(args.load, seed=1), clients=8))
        memory = worker_memory_mb(ours.pid)
        progress.put(worker_rss_mb=memory, workers=len(memory))
        numbers = number_payloads(300)
        sequential(port, numbers[:50], "/api/read")  # warm-up
        progress.put(**spread("read_4_digits_", sequential(port, numbers, "/api/read")))
        pictures = number_pictures(200)
        sequential(port, pictures[:20], "/api/read/image", MULTIPART)  # warm-up
        progress.put(**spread("read_image_6_digits_64px_", sequential(port, pictures, "/api/read/image", MULTIPART)))
        sequential(port, bodies[:30], "/api/explain")  # warm-up
        progress.put(**spread("explain_", sequential(port, bodies[:300], "/api/explain")))
        progress.put(mixed_explain=mixed(port, payloads(args.mixed_requests, seed=5),
                                         [attacker(port, "/api/explain", body) for body in bodies[:2]]))
        progress.put(mixed=mixed(port, payloads(args.mixed_requests, seed=2), uploader(port, photo_jpeg())))
        progress.put(mixed_corrections=mixed(port, payloads(args.mixed_requests, seed=3), corrector(port)))
        progress.put(mixed_costliest=mixed(port, payloads(args.mixed_requests, seed=4), [
            *(attacker(port, "/api/read", costliest_read_body(seed)) for seed in range(2)),
            *(attacker(port, "/api/read/image", picture_body(largest_legal_png()), MULTIPART) for _ in range(2))]))
        progress.put(costliest_pictures=under_attack(port, args.mixed_requests))
        for _ in range(2):  # one upload per worker, most likely: the peak is per worker
            if upload(port, largest_legal_png()) != 200:
                raise RuntimeError("the largest legal picture was not answered")
        progress.put(worker_peak_rss_mb=worker_memory_mb(ours.pid, "VmHWM"),
                     picture_process_peak_rss_mb=picture_process_memory_mb(ours.pid, "VmHWM"))
        seed, seed_cold = start([sys.executable, "bench/seed_server.py", "--port", str(seed_port)], seed_port,
                                bodies[0])
        try:
            seed_latencies, same = head_to_head(seed_port, port, bodies[: args.seed_requests])
        finally:
            stop(seed)
    finally:
        stop(ours)
    progress.put(**spread("seed_", seed_latencies), seed_cold_start_s=seed_cold,
                 ours_head_to_head_p50_ms=statistics.median(same) * 1000,
                 speedup_p50=statistics.median(seed_latencies) / statistics.median(same),
                 speedup_per_request_median=statistics.median(s / o for s, o in zip(seed_latencies, same)),
                 seed_requests=len(seed_latencies))


def table(figures: dict) -> str:
    """The markdown table of whatever was measured."""
    def both(prefix: str) -> str:
        return f"{figures[prefix + 'p50_ms']:.2f} ms / {figures[prefix + 'p99_ms']:.2f} ms"

    def mixed_row(key: str, what: str) -> str:
        return (f"{figures[key]['p50_ms']:.2f} ms / {figures[key]['p99_ms']:.2f} ms "
                f"({figures[key]['background_requests']} {what})")

    rows = [
        ("p50_ms", "POST /api/predict p50 / p99, concurrency 1", lambda: both(""), "p50 <= 3 ms, p99 <= 10 ms"),
        ("throughput_rps_c8", "throughput, concurrency 8", lambda: f"{figures['throughput_rps_c8']:.0f} req/s",
         ">= 500 req/s"),
        ("cold_start_s", "cold start (process start to first 200)", lambda: f"{figures['cold_start_s']:.2f} s",
         "<= 2 s"),
        ("worker_rss_mb", "resident memory per worker",
         lambda: " / ".join(f"{m:.0f} MB" for m in figures["worker_rss_mb"]), "<= 200 MB"),
        ("read_4_digits_p50_ms", "POST /api/read p50 / p99, a 4-digit number, concurrency 1",
         lambda: both("read_4_digits_"), "p50 <= 5 ms"),
        ("read_image_6_digits_64px_p50_ms", "POST /api/read/image p50 / p99, a 6-digit number 64 px high",
         lambda: both("read_image_6_digits_64px_"), "p50 <= 30 ms"),
        ("explain_p50_ms", "POST /api/explain p50 / p99, a drawn digit (evidence, lookalikes, layers)",
         lambda: both("explain_"), "p50 <= 30 ms"),
        ("mixed_explain", "mixed: the same drawers while 2 clients ask /api/explain back to back",
         lambda: mixed_row("mixed_explain", "explanations"), ""),
        ("mixed", "mixed: stroke p50 / p99, 4 clients every 50 ms, while 6000x6000 JPEGs upload back to back",
         lambda: mixed_row("mixed", "uploads"), "p99 <= 25 ms"),
        ("mixed_corrections", "mixed: the same drawers while corrections are stored (SQLite), 20 a second",
         lambda: mixed_row("mixed_corrections", "stored"), ""),
        ("mixed_costliest", "mixed: the same drawers while 2 clients loop the costliest /api/read bodies and 2 the "
         "largest lossless pictures (12 MP RGBA PNG) on /api/read/image",
         lambda: mixed_row("mixed_costliest", "costly requests"), "p99 <= 25 ms"),
        ("costliest_pictures", "costliest pictures: the same drawers while 4 clients loop an RLE BMP, PNG chunk, JPEG "
         "marker and GIF comment floods, a dot grid and the largest PNG, and another user uploads photos; median "
         "of 5 runs (worst p99)", lambda: (f"{mixed_row('costliest_pictures', 'costly pictures')} "
                                          f"(worst {figures['costliest_pictures']['p99_worst_ms']:.1f} ms); other "
                                          f"user {figures['costliest_pictures']['other_uploads_answered']}/"
                                          f"{figures['costliest_pictures']['other_uploads']} answered"),
         "p99 <= 25 ms, all answered"),
        ("worker_peak_rss_mb", "peak memory per worker, every picture above and the largest legal one included",
         lambda: " / ".join(f"{m:.0f} MB" for m in figures["worker_peak_rss_mb"]), "<= 400 MB"),
        ("picture_process_peak_rss_mb", "peak memory per picture process (one per worker)",
         lambda: " / ".join(f"{m:.0f} MB" for m in figures["picture_process_peak_rss_mb"]), "<= 400 MB"),
        ("seed_p50_ms", "plain Keras server (model.predict per request) p50 / p99", lambda: both("seed_"), ""),
        ("ours_head_to_head_p50_ms", "ours in the same alternating rounds, p50",
         lambda: f"{figures['ours_head_to_head_p50_ms']:.2f} ms", ""),
        ("speedup_per_request_median", "speed-up over the plain Keras server (median of per-request ratios)",
         lambda: f"{figures['speedup_per_request_median']:.0f}x", ">= 40x"),
    ]
    lines = [f"| measure ({figures.get('requests', 0)} requests, {figures.get('cpu_count')} cores) | result | target |",
             "|---|---:|---:|"]
    lines += [f"| {name} | {value()} | {target} |" for key, name, value, target in rows if key in figures]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure both servers and print the table (what was measured is saved even if a later step fails)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests at concurrency 1 (ours)")
    parser.add_argument("--load", type=int, default=6000, help="requests at concurrency 8 (ours)")
    parser.add_argument("--seed-requests", type=int, default=200,
                        help="payloads sent to both servers, alternating, for the speed-up")
    parser.add_argument("--mixed-requests", type=int, default=800,
                        help="stroke requests (4 clients, one every 50 ms each) while 6000x6000 JPEGs are uploaded")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "latency.json"),
                        help="where to save the figures, as they are measured (make figures: bench/latency.json)")
    args = parser.parse_args(argv)
    progress = Progress(args.out)
    try:
        measure(args, progress)
    except (OSError, RuntimeError) as error:
        print(table(progress.figures))
        print(f"error: {error} (the figures measured before it are in {args.out})", file=sys.stderr)
        return 1
    print(table(progress.figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
