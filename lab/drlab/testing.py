"""Start throw-away labs for tests and benchmarks.

Each :class:`LabHandle` owns a temporary directory, free ports and its own
region address block (``127.<octet>.<n>.1``) so several labs (parallel test
runs, helpers, CI) never collide.  Everything goes through the real CLI and
the real processes: tests talk to the lab over the network only.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

import yaml

from .admin import headers as admin_headers
from .config import LabDir

# Pull/start delays of test labs (the defaults in config.py look like a cloud and take seconds).
TEST_WORKLOADS = {"image_pull_seconds": 0.5, "container_start_seconds": 0.3, "image_pull_backoff_seconds": 2.0,
                  "images": []}


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on host."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found")


class LabHandle:
    def __init__(self, directory: str | None = None, topology: dict[str, Any] | None = None,
                 short_intervals: bool = True, monitoring: bool = False):
        self.dir = directory or tempfile.mkdtemp(prefix="drlab-test-")
        self.labdir = LabDir(self.dir)
        topo = dict(topology or {})
        topo.setdefault("ports", {"cloud": free_port(), "kube": free_port(), "dns": free_port()})
        if monitoring:
            # Prometheus and Alertmanager are real processes: only the tests about them start them
            topo["ports"].update({name: free_port() for name in ("prometheus", "alertmanager", "exporter")})
            topo.setdefault("monitoring", {"enabled": True})
        else:
            topo.setdefault("monitoring", {"enabled": False})
        topo.setdefault("region_address", f"127.{random.randint(100, 250)}.{{n}}.1")
        if short_intervals:
            topo.setdefault("gtm", {"allow_short_intervals": True})
        # Short but never zero, so every wait for a rollout is exercised.
        topo.setdefault("workloads", dict(TEST_WORKLOADS))
        self.config_path = os.path.join(self.dir, "test-topology.yaml")
        os.makedirs(self.dir, exist_ok=True)
        with open(self.config_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(topo, handle)

    # -- lifecycle -------------------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "drlab.cli", *args, "--dir", self.dir],
            capture_output=True, text=True, check=check, timeout=timeout,
        )

    def up(self) -> LabHandle:
        first = not os.path.exists(self.labdir.topology_file)
        args = ["up", "--config", self.config_path] if first else ["up"]
        result = self.cli(*args, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"drlab up failed: {result.stdout}{result.stderr}\n{self.log_tail()}")
        return self

    def down(self) -> None:
        self.cli("down", check=False)

    def kill9(self) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def restart(self) -> None:
        self.down()
        self.up()

    def pid(self) -> int | None:
        try:
            with open(self.labdir.pid_file, encoding="utf-8") as handle:
                return int(handle.read())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for name in ("drlab.out", "drlab.log"):
            path = self.labdir.file(name)
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as handle:
                    out.append(f"--- {name}\n" + "".join(handle.readlines()[-lines:]))
        return "\n".join(out)

    # -- facts -----------------------------------------------------------------
    @property
    def topology(self) -> dict[str, Any]:
        return self.labdir.topology()

    @property
    def credentials(self) -> dict[str, str]:
        return self.labdir.credentials()

    @property
    def admin_token(self) -> str:
        """The token the admin routes (/__drlab/) require (DIR/admin-token, 0600)."""
        return self.labdir.admin_token()

    @property
    def endpoint(self) -> str:
        topo = self.topology
        return f"{topo['host']}:{topo['ports']['cloud']}"

    def env(self) -> dict[str, str]:
        """Environment for ansible/SDK clients pointed at this lab."""
        topo = self.topology
        creds = self.credentials
        return {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": creds["access_key_id"],
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds["access_key_secret"],
            "MESHDR_SERVICEMESH_ENDPOINT": self.endpoint,
            "MESHDR_ALIDNS_ENDPOINT": self.endpoint,
            "MESHDR_ALICLOUD_PROTOCOL": "http",
            "DRLAB_DIR": self.dir,
            "DRLAB_DNS": f"{topo['host']}:{topo['ports']['dns']}",
        }

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"http://{self.endpoint}/__drlab/{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        req.add_header("content-type", "application/json")
        for key, value in admin_headers(self.admin_token).items():
            req.add_header(key, value)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read() or b"null")

    def status(self) -> dict[str, Any]:
        return self.admin("status")
