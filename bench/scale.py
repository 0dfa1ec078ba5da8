"""Past one machine (make scale, root only): /api/predict through nginx with 1, 2 and 4 app hosts of
equal CPU quota, then three failure drills under a steady load: a host killed, a rolling restart,
the database restarted. Prints the tables; the figures go to out/scale/scale.json as measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
from sqlalchemy import create_engine, text

from app import ROOT
from bench import cluster, harness, latency


class Load:
    """Clients sending back to back through nginx until stopped: predictions on `clients` connections
    and, when `corrections` is set, one client storing uniquely marked corrections."""

    def __init__(self, port: int, clients: int = 4, corrections: bool = False) -> None:
        self.port, self.clients, self.corrections = port, clients, corrections
        self.bodies = latency.payloads(200)
        self.stop = threading.Event()
        self.statuses: Counter = Counter()
        self.latencies: list[float] = []
        self.confirmed: list[int] = []  # the marks of corrections answered 201
        self.correction_statuses: Counter = Counter()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._predict) for _ in range(self.clients)]
        if self.corrections:
            self._threads.append(threading.Thread(target=self._correct))
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join()

    def _predict(self) -> None:
        connection, i = harness.Connection(self.port, timeout=30), 0
        while not self.stop.is_set():
            try:
                self.latencies.append(connection.post(self.bodies[i % len(self.bodies)], expect=None))
                self.statuses[connection.status] += 1
            except OSError as error:
                self.statuses[type(error).__name__] += 1
                connection.close()
            i += 1

    def _correct(self) -> None:
        connection, mark = harness.Connection(self.port, timeout=30, path="/api/corrections"), 0
        while not self.stop.is_set():
            mark += 1
            body = json.dumps({**harness.SEVEN, "width": 300 + mark / 1000, "label": mark % 10}).encode()
            try:
                connection.post(body, expect=None)
                self.correction_statuses[connection.status] += 1
                if connection.status == 201:
                    self.confirmed.append(mark)
            except OSError as error:
                self.correction_statuses[type(error).__name__] += 1
                connection.close()
            time.sleep(0.02)

    def failed(self) -> int:
        """Prediction requests not answered 200."""
        return sum(n for status, n in self.statuses.items() if status != 200)


def stored_marks(database_url: str) -> Counter:
    """How many rows the database holds for each correction mark."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            widths = connection.execute(text("SELECT width FROM corrections")).scalars().all()
    finally:
        engine.dispose()
    return Counter(round((w - 300) * 1000) for w in widths)


def throughput(hosts: int, cpu: float, seconds: float, clients: int) -> dict:
    """Predictions a second through nginx, and their p50/p99, with `hosts` hosts of `cpu` each."""
    with cluster.Cluster(hosts, cpu=cpu) as running:
        latency.throughput(running.port, latency.payloads(200), clients=clients)  # warm-up
        with Load(running.port, clients=clients) as load:
            time.sleep(seconds)
        answered = load.statuses[200]
    return {"hosts": hosts, "cpu_per_host": cpu, "rps": answered / seconds, "failed": load.failed(),
            "p50_ms": statistics.median(load.latencies) * 1000,
            "p99_ms": float(np.percentile(load.latencies, 99)) * 1000}


def drill(name: str, running: cluster.Cluster, action: Callable[[], None], settle: float = 2.0) -> dict:
    """Run `action` under a steady load of predictions and corrections; count what failed, was lost or doubled."""
    with Load(running.port, corrections=True) as load:
        time.sleep(settle)
        started = time.monotonic()
        action()
        recovered = _wait_for_201(load)
        seconds = time.monotonic() - started
        time.sleep(settle)
    stored = stored_marks(running.database_url())
    return {"drill": name, "predictions": sum(load.statuses.values()), "failed_predictions": load.failed(),
            "prediction_errors": {str(k): v for k, v in load.statuses.items() if k != 200},
            "corrections_confirmed": len(load.confirmed),
            "corrections_lost": sum(1 for mark in load.confirmed if stored[mark] == 0),
            "corrections_duplicated": sum(1 for count in stored.values() if count > 1),
            "correction_answers": {str(k): v for k, v in load.correction_statuses.items()},
            "seconds_to_recover": round(seconds if recovered else float("nan"), 2)}


def _wait_for_201(load: Load, timeout: float = 30) -> bool:
    """Until a correction is confirmed again after the action."""
    before, deadline = len(load.confirmed), time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(load.confirmed) > before:
            return True
        time.sleep(0.05)
    return False


def drills(hosts: int, cpu: float) -> list[dict]:
    """The three failure drills, each on a fresh cluster."""
    results = []
    for name, action in (("host killed (SIGKILL)", lambda c: c.hosts[0].kill()),
                         ("rolling restart", lambda c: c.rolling_restart()),
                         ("database restarted (2 s down)", lambda c: c.restart_database(2.0))):
        with cluster.Cluster(hosts, cpu=cpu) as running:
            results.append(drill(name, running, lambda running=running, action=action: action(running)))
    return results


def main(argv: list[str] | None = None) -> int:
    """Measure scaling and the drills; print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="1,2,4", help="host counts to measure")
    parser.add_argument("--cpu", type=float, default=0.25, help="CPU share of each host (a cgroup quota)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of load per measurement")
    parser.add_argument("--clients", type=int, default=8, help="prediction clients through nginx")
    parser.add_argument("--out", default=str(ROOT / "out" / "scale" / "scale.json"), help="where to save")
    args = parser.parse_args(argv)
    progress = harness.Progress(args.out)
    rows = []
    for hosts in (int(n) for n in args.hosts.split(",")):
        rows.append(throughput(hosts, args.cpu, args.seconds, args.clients))
        progress.put(scaling=rows)
    single = rows[0]["rps"]
    print(f"| hosts ({args.cpu} CPU each) | predictions/s | p50 | p99 | failed | efficiency |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        row["efficiency"] = row["rps"] / (row["hosts"] * single)
        print(f"| {row['hosts']} | {row['rps']:.0f} | {row['p50_ms']:.1f} ms | {row['p99_ms']:.1f} ms | "
              f"{row['failed']} | {row['efficiency']:.2f} |")
    progress.put(scaling=rows)
    results = drills(2, 0.5)
    progress.put(drills=results)
    print("\n| drill (2 hosts) | predictions | failed | corrections confirmed | lost | duplicated | recovered in |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in results:
        print(f"| {row['drill']} | {row['predictions']} | {row['failed_predictions']} | "
              f"{row['corrections_confirmed']} | {row['corrections_lost']} | {row['corrections_duplicated']} | "
              f"{row['seconds_to_recover']} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
