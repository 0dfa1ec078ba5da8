"""Several app hosts on one machine, for `make scale` and tests/test_cluster.py (root only).

Each host is a network namespace with its own address (a veth pair), optionally capped to a share of
a CPU (a cgroup quota), running `make run`'s gunicorn. In front, Debian's nginx with deploy/nginx.conf
installed as docs/deploy.md says and the hosts in its upstream; behind, one PostgreSQL that all hosts
share. Everything lives in scratch folders and addresses made here, and is torn down on exit.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app import ROOT
from bench import harness

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CGROUP_V1 = Path("/sys/fs/cgroup/cpu")  # cgroup v1's cpu controller, as on these machines
CGROUP_V2 = Path("/sys/fs/cgroup")  # the unified hierarchy (cpu.max), on newer systems
SHIPPED_SERVER = "server 127.0.0.1:5000 max_fails=1 fail_timeout=5s;"


def run(*command: str) -> None:
    """A set-up command that must work."""
    subprocess.run(command, check=True, capture_output=True)


def install_nginx(etc: Path, work: Path, port: int, servers: list[str], listen: str = "127.0.0.1") -> Path:
    """A copy of Debian's /etc/nginx with deploy/nginx.conf copied over its nginx.conf, as documented;
    only the machine's paths, the port and the upstream's servers are changed. Returns the config."""
    shutil.copytree("/etc/nginx", etc, symlinks=True)
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = "\n        ".join(f"server {address} max_fails=1 fail_timeout=5s;" for address in servers)
    for shipped, here in [("listen 80 default_server;", f"listen {listen}:{port} default_server;"),
                          (SHIPPED_SERVER, upstream), ("/etc/nginx/", f"{etc}/"),
                          ("/run/nginx.pid", f"{work}/nginx.pid"), ("/var/log/nginx/", f"{work}/"),
                          ("user www-data;", "user root;" if os.geteuid() == 0 else "")]:
        assert shipped in conf, shipped
        conf = conf.replace(shipped, here)
    temp_paths = "".join(f"{kind}_temp_path {work / kind};\n" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (etc / "nginx.conf").write_text(conf.replace("http {\n", "http {\n" + temp_paths, 1))
    return etc / "nginx.conf"


def wait_listening(address: str, port: int, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Until something accepts connections at address:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {address}:{port}") from None
            time.sleep(0.05)


class Host:
    """One app host: a namespace, its address, its CPU share and its gunicorn."""

    def __init__(self, cluster: Cluster, index: int) -> None:
        self.cluster, self.index = cluster, index
        self.namespace = f"{cluster.name}h{index}"
        self.address = f"10.{cluster.octet}.{index}.2"
        self.gateway = f"10.{cluster.octet}.{index}.1"  # the machine's side: PostgreSQL listens here
        v2 = (CGROUP_V2 / "cgroup.controllers").exists()
        self.cgroup = (CGROUP_V2 if v2 else CGROUP_V1) / self.namespace
        self.process: subprocess.Popen | None = None

    def create(self) -> None:
        """The namespace, the veth pair and the CPU quota."""
        outside, inside = f"{self.cluster.name}{self.index}o", f"{self.cluster.name}{self.index}i"
        run("ip", "netns", "add", self.namespace)
        run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        run("ip", "link", "set", inside, "netns", self.namespace)
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", outside)
        run("ip", "link", "set", outside, "up")
        for command in (("ip", "addr", "add", f"{self.address}/24", "dev", inside), ("ip", "link", "set", inside, "up"),
                        ("ip", "link", "set", "lo", "up")):
            run("ip", "netns", "exec", self.namespace, *command)
        if self.cluster.cpu:
            self.cgroup.mkdir(exist_ok=True)
            # A 10 ms period (not the default 100 ms): a host then runs a little every 10 ms, as a small
            # node would, instead of all of its share at once and then nothing for 75 ms.
            quota = int(self.cluster.cpu * 10_000)
            if (self.cgroup / "cpu.max").exists():
                (self.cgroup / "cpu.max").write_text(f"{quota} 10000")
            else:
                (self.cgroup / "cpu.cfs_period_us").write_text("10000")
                (self.cgroup / "cpu.cfs_quota_us").write_text(str(quota))

    def start(self) -> None:
        """gunicorn as `make run` starts it, in the namespace and the cgroup; returns once it answers."""
        env = {**os.environ, "HOST": self.address, "PORT": "5000", "WEB_CONCURRENCY": str(self.cluster.workers),
               "DATABASE_URL": f"postgresql+psycopg://postgres@{self.gateway}:{self.cluster.db_port}/postgres",
               "FLASK_TRUSTED_PROXIES": "1", "METRICS_PORT": "9464", "METRICS_HOST": self.address,
               "FLASK_CORRECTIONS_PER_MINUTE": "1000000"}
        log = open(self.cluster.work / f"host{self.index}.log", "ab")  # noqa: SIM115 - the host process owns it
        # Into the cgroup before `ip netns exec` (which mounts the namespace's own /sys): gunicorn and
        # every worker it forks inherit the quota.
        join = (lambda: (self.cgroup / "cgroup.procs").write_text(str(os.getpid()))) if self.cluster.cpu else None
        self.process = subprocess.Popen(["ip", "netns", "exec", self.namespace, *harness.server_command()],
                                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=join)  # noqa: PLW1509
        log.close()
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /api/ready answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, _, _ = harness.exchange(5000, b"GET /api/ready HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2,
                                                host=self.address)
                if status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"host {self.index} exited with {self.process.returncode}")
            time.sleep(0.1)
        raise RuntimeError(f"host {self.index} was not ready in time")

    def kill(self) -> None:
        """The host dies at once: every process in it gets SIGKILL."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """gunicorn's graceful stop: requests in flight are finished, then it exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def destroy(self) -> None:
        """Stop it and remove the namespace (its veth goes with it) and the cgroup."""
        if self.process is not None and self.process.poll() is None:
            self.kill()
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
        for _ in range(100):  # a cgroup can go once its last process has exited
            if not self.cgroup.exists():
                break
            for pid in (self.cgroup / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                self.cgroup.rmdir()
            time.sleep(0.05)


class Cluster:
    """N hosts, nginx and PostgreSQL; use as a context manager. `port` is nginx's on 127.0.0.1."""

    def __init__(self, hosts: int, cpu: float | None = None, workers: int = 1) -> None:
        self.name = "dc" + secrets.token_hex(2)
        self.octet = 100 + secrets.randbelow(150)
        self.cpu, self.workers = cpu, workers
        self.work = Path(tempfile.mkdtemp(prefix="digit-canvas-cluster-"))
        self.hosts = [Host(self, i + 1) for i in range(hosts)]
        self.port, self.db_port = harness.free_port(), harness.free_port()
        self.nginx: subprocess.Popen | None = None
        self.conf: Path | None = None

    def __enter__(self) -> Cluster:
        try:
            for host in self.hosts:
                host.create()
            self.start_database()
            for host in self.hosts:
                host.start()
            self.start_nginx()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_exc) -> None:
        steps = [self._stop_nginx, *(host.destroy for host in self.hosts), self.stop_database]
        try:
            for step in steps:  # every step, even after one fails
                try:
                    step()
                except Exception as error:  # noqa: BLE001 - the rest must still be torn down
                    print(f"cluster teardown: {step}: {error}", file=sys.stderr)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def _stop_nginx(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=30)

    # PostgreSQL, listening on the machine's side of every host's veth.
    def _pg(self, *args: str) -> subprocess.CompletedProcess:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1].parent
        return subprocess.run(["runuser", "-u", "postgres", "--", str(binaries / args[0]), *args[1:]],
                              capture_output=True, text=True)

    def start_database(self) -> None:
        """initdb (once) and start, trusting the hosts' addresses only."""
        data = self.work / "pg"
        if not data.exists():
            data.mkdir()
            shutil.chown(data, "postgres", "postgres")
            shutil.chown(self.work, "postgres", "postgres")
            self._pg("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync").check_returncode()
            with open(data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all 10.{self.octet}.0.0/16 trust\n")
        listen = ",".join(["127.0.0.1", *(host.gateway for host in self.hosts)])
        options = (f"-p {self.db_port} -k {data} -c listen_addresses={listen} -c fsync=off "
                   f"-c max_connections=100")
        self._pg("pg_ctl", "-D", str(data), "-o", options, "-w", "-l", str(data / "server.log"),
                 "start").check_returncode()

    def stop_database(self) -> None:
        """Stop PostgreSQL at once (in-flight transactions are lost, as in a crash)."""
        if (self.work / "pg" / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.work / "pg"), "-m", "immediate", "-w", "stop")

    def database_url(self) -> str:
        """The shared database, from this machine."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.db_port}/postgres"

    # nginx, in front of the hosts that are in rotation.
    def start_nginx(self) -> None:
        """nginx as installed by docs/deploy.md, the hosts in its upstream."""
        self.conf = install_nginx(self.work / "etc", self.work, self.port, [f"{h.address}:5000" for h in self.hosts])
        # The load here comes from one address: the per-address limits would measure only themselves.
        text = self.conf.read_text()
        for shipped, here in (("rate=30r/s", "rate=20000r/s"), ("limit_conn digit_canvas_conn 32;",
                                                                  "limit_conn digit_canvas_conn 60000;")):
            assert shipped in text
            text = text.replace(shipped, here)
        self.conf.write_text(text)
        errors = open(self.work / "nginx.err", "wb")  # noqa: SIM115 - nginx owns it
        self.nginx = subprocess.Popen([NGINX, "-p", str(self.work), "-c", str(self.conf), "-g", "daemon off;"],
                                      stdout=subprocess.DEVNULL, stderr=errors)
        errors.close()
        try:
            wait_listening("127.0.0.1", self.port, self.nginx)
        except RuntimeError as error:
            raise RuntimeError(f"{error}: {(self.work / 'nginx.err').read_text()[-500:]}") from None

    def rotate(self, host: Host, down: bool) -> None:
        """Take a host out of nginx's rotation (down) or put it back, by a graceful nginx reload."""
        line = f"server {host.address}:5000 max_fails=1 fail_timeout=5s"
        text = self.conf.read_text().replace(f"{line} down;", f"{line};")
        self.conf.write_text(text.replace(f"{line};", f"{line} down;") if down else text)
        run(NGINX, "-p", str(self.work), "-c", str(self.conf), "-s", "reload")
        time.sleep(0.5)  # the old nginx workers finish what they hold

    def rolling_restart(self) -> None:
        """Each host in turn: out of rotation, SIGTERM (it drains), started again, ready, back in."""
        for host in self.hosts:
            self.rotate(host, down=True)
            host.stop()
            host.start()
            self.rotate(host, down=False)

    def restart_database(self, outage: float = 2.0) -> None:
        """PostgreSQL stops at once, stays down for `outage` seconds, starts again."""
        self.stop_database()
        time.sleep(outage)
        self.start_database()
