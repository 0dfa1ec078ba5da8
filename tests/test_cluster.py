"""Two app hosts, each in its own network namespace, behind nginx and sharing PostgreSQL (bench/cluster.py):
a host killed and a rolling restart under load lose no prediction and no confirmed correction, and store
none twice; a database restart only pauses corrections. Needs root, nginx and PostgreSQL (CI has them)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bench import cluster, harness, scale

REQUIRED = bool(os.environ.get("REQUIRE_NGINX"))
missing = [what for what, ok in (("root", os.geteuid() == 0), ("nginx", Path(cluster.NGINX).exists()),
                                 ("PostgreSQL", bool(list(Path("/usr/lib/postgresql").glob("*/bin/initdb")))),
                                 ("ip", bool(shutil.which("ip"))))
           if not ok]
if missing and REQUIRED:
    pytest.fail(f"the cluster tests need {', '.join(missing)} (CI must run them)", pytrace=False)
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (.ci/run provides them)")


@pytest.fixture
def two_hosts():
    with cluster.Cluster(2, cpu=0.5) as running:
        yield running


def test_both_hosts_answer_through_nginx_and_share_one_database(two_hosts):
    connection = harness.Connection(two_hosts.port, path="/api/corrections")
    ids = []
    for label in range(6):
        connection.post(json.dumps({**harness.SEVEN, "label": label}).encode(), expect=201)
        ids.append(json.loads(connection.body)["id"])
    assert len(set(ids)) == 6 and sum(scale.stored_marks(two_hosts.database_url()).values()) == 6
    for host in two_hosts.hosts:  # every host is in rotation and answers on its own address
        status, _, body = harness.exchange(5000, b"GET /api/ready HTTP/1.1\r\nHost: x\r\n\r\n", host=host.address)
        assert status == 200 and json.loads(body)["corrections"] == "ok"


@pytest.mark.parametrize("name, action", [("host killed", lambda c: c.hosts[0].kill()),
                                          ("rolling restart", lambda c: c.rolling_restart())])
def test_a_host_lost_or_restarted_fails_no_prediction_and_loses_no_correction(two_hosts, name, action):
    result = scale.drill(name, two_hosts, lambda: action(two_hosts), settle=1.0)
    assert result["predictions"] > 100 and result["failed_predictions"] == 0, result
    assert result["corrections_confirmed"] > 10 and result["corrections_lost"] == 0, result
    assert result["corrections_duplicated"] == 0, result


def test_a_database_restart_pauses_corrections_only(two_hosts):
    result = scale.drill("database restarted", two_hosts, lambda: two_hosts.restart_database(1.0), settle=1.0)
    assert result["failed_predictions"] == 0, result
    assert result["corrections_lost"] == 0 and result["corrections_duplicated"] == 0, result
    assert set(result["correction_answers"]) <= {"201", "503"}, result  # refused clearly while it is down
    assert result["seconds_to_recover"] < 12, result  # accepted again within seconds


def test_each_host_exports_its_metrics_on_its_own_address(two_hosts):
    connection = harness.Connection(two_hosts.port)
    for _ in range(10):
        connection.post(harness.SEVEN_JSON)
    total = 0.0
    for host in two_hosts.hosts:
        status, _, body = harness.exchange(9464, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", host=host.address)
        assert status == 200
        for line in body.decode().splitlines():
            if line.startswith('digit_canvas_requests_total{') and 'route="/api/predict"' in line \
                    and 'status="200"' in line:
                total += float(line.split()[-1])
    assert total >= 10  # every prediction counted on the host that answered it
    status, _, _ = harness.exchange(two_hosts.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 404  # not through the public nginx server
