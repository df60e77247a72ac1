"""The lab process: one asyncio loop hosting every emulated component (GTM DNS and health
checks on a thread of their own, see ``dataplane/realtime.py``).

Components start in order (kube before cloud, since creating a mesh creates its
Kubernetes API; mesh controllers and the data plane last).  Each component is a
class taking the :class:`Lab` with ``async start()``, ``async stop()`` and
``status() -> dict``.  A component may add admin routes under ``/__drlab/`` on the
cloud port with :meth:`Lab.admin_route`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from . import admin
from .cloud.component import CloudComponent
from .config import LabDir
from .dataplane.component import DataPlaneComponent
from .kube.component import KubeComponent
from .mesh.component import MeshComponent
from .monitoring.component import MonitoringComponent

log = logging.getLogger("drlab")

COMPONENTS: list[tuple[str, Callable[[Any], Any]]] = [
    ("kube", KubeComponent),
    ("cloud", CloudComponent),
    ("mesh", MeshComponent),
    ("dataplane", DataPlaneComponent),
    ("monitoring", MonitoringComponent),
]
STALL_MAX = 5.0  # seconds: POST /__drlab/stall blocks the main loop at most this long

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Lab:
    def __init__(self, labdir: LabDir):
        self.dir = labdir
        self.topology: dict[str, Any] = labdir.topology()
        self.credentials: dict[str, str] = labdir.credentials()
        self.host: str = self.topology["host"]
        self.started_at = time.time()
        self.components: dict[str, Any] = {}
        self._runners: list[web.AppRunner] = []
        self._events_path = labdir.file("events.jsonl")
        self.events: list[dict[str, Any]] = self._load_events()
        self._event_listeners: list[Callable[[dict[str, Any]], None]] = []
        # Admin routes need the lab token (drlab/admin.py); the cloud API itself checks signatures.
        self.cloud_app = web.Application(client_max_size=16 * 1024 * 1024,
                                         middlewares=[admin.guard(labdir.admin_token())])
        self.cloud_app.router.add_get("/__drlab/status", self._status_handler)
        # A liveness probe that needs no token and says nothing (a plain HTTP 200 to load or wait on).
        self.cloud_app.router.add_get("/healthz", self._healthz_handler)
        self.cloud_app.router.add_get("/__drlab/events", self._events_handler)
        self.cloud_app.router.add_post("/__drlab/stall", self._stall_handler)

    # -- wiring -------------------------------------------------------------
    def admin_route(self, method: str, path: str, handler: Handler) -> None:
        self.cloud_app.router.add_route(method, "/__drlab/" + path.lstrip("/"), handler)

    async def serve(self, app: web.Application, host: str, port: int, ssl_context: Any = None) -> None:
        """Bind an aiohttp application on a specific address (never a wildcard); TLS when ssl_context is given."""
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        self._runners.append(runner)

    # -- events -------------------------------------------------------------
    def _load_events(self) -> list[dict[str, Any]]:
        events = []
        if os.path.exists(self._events_path):
            with open(self._events_path, encoding="utf-8") as handle:
                for line in handle:
                    line = line.strip()
                    if line:
                        try:
                            events.append(json.loads(line))
                        except ValueError:
                            continue  # a torn last line after kill -9
        return events

    def record_event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append a timestamped transition to the lab's event log (memory and events.jsonl)."""
        event = {"time": time.time(), "kind": kind, **fields}
        self.events.append(event)
        with open(self._events_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, sort_keys=True) + "\n")
        for listener in list(self._event_listeners):
            listener(event)
        return event

    def on_event(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._event_listeners.append(listener)

    # -- wiring of the monitoring component (it is handed what it reads) -------
    def _monitoring_inputs(self) -> dict[str, Any]:
        def scrape_targets() -> list[dict[str, Any]]:
            dataplane = self.components.get("dataplane")
            return dataplane.scrape_targets() if dataplane is not None else []

        def kube_objects(api_version: str, kind: str) -> list[tuple[dict[str, str], dict]]:
            kube = self.components.get("kube")
            out: list[tuple[dict[str, str], dict]] = []
            if kube is None:
                return out
            for region in self.topology["regions"]:
                for cluster in region["clusters"]:
                    server = kube.server(cluster["id"])
                    if server is not None:
                        labels = {"region": region["id"], "cluster": cluster["id"]}
                        out.extend((labels, obj) for obj in server.list(api_version, kind))
            return out

        def gtm_addresses() -> list[dict[str, Any]]:
            cloud = self.components.get("cloud")
            regions = {r["address"]: r["id"] for r in self.topology["regions"]}
            states = cloud.gtm_address_states() if cloud is not None else []
            return [{**s, "region": regions.get(s["address"], "")} for s in states]

        return {"scrape_targets": scrape_targets, "kube_objects": kube_objects,
                "gtm_addresses": gtm_addresses, "record_event": self.record_event}

    # -- lifecycle ------------------------------------------------------------
    async def start(self) -> None:
        # DRLAB_COMPONENTS=kube,cloud starts a subset (debugging; the default is all of them).
        wanted = os.environ.get("DRLAB_COMPONENTS")
        for name, component_class in COMPONENTS:
            if wanted is not None and name not in wanted.split(","):
                continue
            wiring = self._monitoring_inputs() if name == "monitoring" else {}
            self.components[name] = component_class(self, **wiring)
        for name, component in self.components.items():
            log.info("starting %s", name)
            await component.start()
        await self.serve(self.cloud_app, self.host, self.topology["ports"]["cloud"])

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        for name, component in reversed(list(self.components.items())):
            try:
                await component.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                log.exception("stopping %s failed", name)

    def status(self) -> dict[str, Any]:
        ports = self.topology["ports"]
        return {
            "emulator": "drlab (a local emulation, not Alibaba Cloud)",
            "dir": self.dir.path,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started_at, 1),
            "cloud_endpoint": f"{self.host}:{ports['cloud']}",
            "access_key_id": self.credentials["access_key_id"],
            "access_key_secret": self.credentials["access_key_secret"],
            "regions": self.topology["regions"],
            "zones": self.topology["zones"],
            "components": {name: c.status() for name, c in self.components.items()},
        }

    async def _healthz_handler(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _status_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.status())

    async def _events_handler(self, request: web.Request) -> web.Response:
        since = float(request.query.get("since", "0"))
        return web.json_response([e for e in self.events if e["time"] >= since])

    async def _stall_handler(self, request: web.Request) -> web.Response:
        """Block the main loop, as a long reconcile or a starved process does (tests and benchmarks):
        what runs on its own thread (GTM DNS, health checks) must keep answering meanwhile."""
        body = await request.json() if request.can_read_body else {}
        seconds = min(max(float(body.get("seconds", 1.0)), 0.0), STALL_MAX)
        started = time.monotonic()
        time.sleep(seconds)  # deliberately blocking
        # monotonic is system-wide on Linux: a client on the same host can place its own events
        return web.json_response({"started": started, "ended": time.monotonic()})


async def run(labdir: LabDir, ready: asyncio.Event | None = None) -> None:
    lab = Lab(labdir)
    await lab.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with open(labdir.pid_file, "w", encoding="utf-8") as handle:
        handle.write(str(os.getpid()))
    log.info("drlab ready in %s", labdir.path)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await lab.stop()
        if os.path.exists(labdir.pid_file):
            os.unlink(labdir.pid_file)
