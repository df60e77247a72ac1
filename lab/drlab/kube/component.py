"""The kube component: one Kubernetes API per ACK cluster and per ASM mesh, all on the kube port.

Other components reach it as ``lab.components["kube"]`` (API in lab/README.md).
"""

from __future__ import annotations

import asyncio
import base64
import glob
import logging
import os
import re
import time
from typing import Any

import yaml
from aiohttp import web

from ..store import write_atomic
from .api import KubeApi
from .calls import KubeCalls
from .errors import ApiError
from .server import KubeServer
from .settings import KubeSettings
from .tls import KubeTls
from .workloads import WorkloadSettings, forget_dead_pods, reconcile_deployment

log = logging.getLogger("drlab.kube")

CLIENT_GROUPS = ("system:masters",)  # the lab has no RBAC: every kubeconfig is an administrator's
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class KubeComponent:
    def __init__(self, lab: Any):
        self.lab = lab
        self.port: int = lab.topology["ports"]["kube"]
        # HTTPS: client-go (kubectl) sends a kubeconfig's bearer token only over TLS.
        self.tls = KubeTls(lab.dir.file("state"), lab.host)
        self.settings = KubeSettings(base_url=f"https://{lab.host}:{self.port}")
        self.servers: dict[str, KubeServer] = {}
        # The lab's controllers own Deployment status (settings.auto_deployment_status): Available once
        # its Pods are Ready, which takes the image pull and start delays of the `workloads` config
        # (drlab/kube/workloads.py); settings.simulate_pods off makes Deployments Available at once.
        self.workloads = WorkloadSettings.from_topology(lab.topology)
        self.settings.workloads = self.workloads
        self.settings.ca_pem = self.tls.ca_pem
        self.settings.schedule_workload = self.schedule_workload
        # Kubeconfigs carry a client certificate (as ACK/ASM issue them) or the server's bearer token;
        # the API servers accept both either way.
        self.kubeconfig_auth = str((lab.topology.get("kube") or {}).get("kubeconfig_auth", "client-certificate"))
        if self.kubeconfig_auth not in ("client-certificate", "token"):
            raise ValueError(f"kube.kubeconfig_auth must be client-certificate or token, not {self.kubeconfig_auth!r}")
        # (server id, namespace, Deployment name) -> when its next Pod or condition transition is due.
        self._workload_due: dict[tuple[str, str, str], float] = {}
        self._ticker: asyncio.Task | None = None
        self.calls = KubeCalls()
        self.api = KubeApi(self, self.calls)
        self._cluster_names: dict[str, str] = {}
        for region in lab.topology.get("regions", []):
            for cluster in region.get("clusters", []):
                self._cluster_names[cluster["id"]] = cluster["name"]

    # the settings, under the names other components and tests use
    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def auto_deployment_status(self) -> bool:
        return self.settings.auto_deployment_status

    @auto_deployment_status.setter
    def auto_deployment_status(self, value: bool) -> None:
        self.settings.auto_deployment_status = value

    @property
    def simulate_pods(self) -> bool:
        return self.settings.simulate_pods

    @simulate_pods.setter
    def simulate_pods(self, value: bool) -> None:
        self.settings.simulate_pods = value

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        for path in sorted(glob.glob(self._state_path("*"))):
            server_id = os.path.basename(path)[len("kube-"):-len(".json")]
            try:
                self.servers[server_id] = KubeServer(self.settings, server_id, "", path, self.servers)
            except (ValueError, KeyError):
                log.exception("unreadable kube state %s", path)
                raise
        for cluster_id in self._cluster_names:
            self.ensure_server(cluster_id, "cluster")
        for server_id, server in self.servers.items():
            self._write_kubeconfig(server_id)
            server.finalize_pending()
            self._resume_workloads(server)
        self.lab.admin_route("GET", "kube/servers", self._admin_list)
        self.lab.admin_route("POST", "kube/servers", self._admin_ensure)
        self.lab.admin_route("POST", "kube/servers/delete", self._admin_remove)
        self.lab.admin_route("POST", "kube/deployment-status", self._admin_deployment_status)
        self.lab.admin_route("GET", "kube/calls", self._admin_calls)
        self.lab.admin_route("POST", "kube/calls/reset", self._admin_calls_reset)
        write_atomic(self.lab.dir.file("kubeconfig", "ca.crt"), self.tls.ca_pem, mode=0o644)
        await self.lab.serve(self.api.app, self.lab.host, self.port, ssl_context=self.tls.context())
        self._ticker = asyncio.create_task(self._tick_workloads())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        for server in self.servers.values():
            server.close()

    def status(self) -> dict[str, Any]:
        summary = []
        servers = {}
        for server_id, server in sorted(self.servers.items(), key=lambda i: (i[1].kind, i[0])):
            label = self._cluster_names.get(server_id, server_id)
            shown = self.lab.dir.file("kubeconfig", f"{label}.yaml")  # clusters: the cluster-1.yaml copy
            summary.append(f"{server.kind} {label}: {server.url}  KUBECONFIG={shown}")
            servers[server_id] = {"kind": server.kind, "url": server.url, "name": label,
                                  "kubeconfig": self.kubeconfig_path(server_id), "resource_version": server.rv}
        return {"endpoint": self.base_url, "servers": servers, "summary": summary,
                "auto_deployment_status": self.auto_deployment_status}

    # -- public API (lab/README.md) ----------------------------------------------------------
    def ensure_server(self, server_id: str, kind: str) -> KubeServer:
        if kind not in ("cluster", "mesh"):
            raise ValueError(f"kind must be 'cluster' or 'mesh', not {kind!r}")
        if not _SAFE_ID.match(server_id):
            raise ValueError(f"invalid kube server id {server_id!r}")
        server = self.servers.get(server_id)
        if server is not None:
            if server.kind != kind:
                raise ValueError(f"kube server {server_id} exists as a {server.kind}")
            return server
        server = KubeServer(self.settings, server_id, kind, self._state_path(server_id), self.servers)
        self.servers[server_id] = server
        self._write_kubeconfig(server_id)
        self.lab.record_event("kube_server_created", server_id=server_id, server_kind=kind)
        return server

    def remove_server(self, server_id: str) -> bool:
        server = self.servers.pop(server_id, None)
        if server is None:
            return False
        server.close()
        self.tls.forget_client(server_id)
        for path in (self._state_path(server_id), self.kubeconfig_path(server_id)):
            if os.path.exists(path):
                os.unlink(path)
        self.lab.record_event("kube_server_removed", server_id=server_id, server_kind=server.kind)
        return True

    def server(self, server_id: str) -> KubeServer | None:
        return self.servers.get(server_id)

    def kubeconfig_user(self, server_id: str) -> dict[str, Any]:
        """The kubeconfig ``user`` entry: a client certificate as ACK/ASM hand out, or the bearer token."""
        server = self.servers[server_id]
        if self.kubeconfig_auth == "token":
            return {"token": server.token}
        issued = self.client_certificate(server_id)
        return {"client-certificate-data": base64.b64encode(issued["cert"].encode()).decode(),
                "client-key-data": base64.b64encode(issued["key"].encode()).decode()}

    def client_certificate(self, server_id: str) -> dict[str, Any]:
        """cert, key (PEM), serial, user, groups, expires (epoch) of the server's kubeconfig certificate."""
        # CN: the account, as ACK names the RAM identity a kubeconfig is for; O: groups RBAC can bind.
        return self.tls.client_certificate(server_id, str(self.lab.topology.get("account_id", "drlab")),
                                           list(CLIENT_GROUPS))

    def kubeconfig(self, server_id: str) -> str:
        server = self.servers.get(server_id)
        if server is None:
            raise KeyError(server_id)
        name = self._cluster_names.get(server_id, server_id)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": server.url,
                                                    "certificate-authority-data": self.tls.ca_data}}],
            "users": [{"name": f"{name}-admin", "user": self.kubeconfig_user(server_id)}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin",
                                                     "namespace": "default"}}],
            "current-context": name,
            "preferences": {},
        }
        return yaml.safe_dump(config, sort_keys=False)

    def kubeconfig_path(self, server_id: str) -> str:
        return self.lab.dir.file("kubeconfig", f"{server_id}.yaml")

    def schedule_workload(self, key: tuple[str, str, str], due: float | None) -> None:
        """Reconcile this Deployment again at ``due`` (None: nothing is pending for it)."""
        if due is None:
            self._workload_due.pop(key, None)
        else:
            self._workload_due[key] = min(due, self._workload_due.get(key, due))

    # -- internals ---------------------------------------------------------------------------
    def _resume_workloads(self, server: KubeServer) -> None:
        """After a restart: Pods mid-pull or mid-start carry on from their saved timelines."""
        if not self.simulate_pods:
            return
        forget_dead_pods(server)
        for dep in server.list("apps/v1", "Deployment"):
            reconcile_deployment(server, dep)

    async def _tick_workloads(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            now = time.time()
            for key in [k for k, due in self._workload_due.items() if due <= now]:
                self._workload_due.pop(key, None)
                server = self.servers.get(key[0])
                if server is None or not self.simulate_pods:
                    continue
                try:
                    dep = server.get("apps/v1", "Deployment", key[1], key[2])
                    if dep is not None:
                        reconcile_deployment(server, dep)
                except Exception:  # noqa: BLE001 - one broken Deployment must not stop the others
                    log.exception("workload reconcile of %s failed", "/".join(key))

    def _state_path(self, server_id: str) -> str:
        return self.lab.dir.file("state", f"kube-{server_id}.json")

    def _write_kubeconfig(self, server_id: str) -> None:
        text = self.kubeconfig(server_id)
        write_atomic(self.kubeconfig_path(server_id), text, mode=0o600)
        name = self._cluster_names.get(server_id)
        if name:  # convenience copy under the cluster's name (cluster-1.yaml)
            write_atomic(self.lab.dir.file("kubeconfig", f"{name}.yaml"), text, mode=0o600)

    async def _admin_calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.calls.report())

    async def _admin_calls_reset(self, request: web.Request) -> web.Response:
        return web.json_response(self.calls.reset())

    async def _admin_list(self, request: web.Request) -> web.Response:
        return web.json_response(self.status()["servers"])

    async def _admin_ensure(self, request: web.Request) -> web.Response:
        """Test/ops helper: ``{"id": ..., "kind": "mesh"}`` -> url and kubeconfig path (no token in the reply)."""
        body = await request.json()
        try:
            server = self.ensure_server(str(body.get("id", "")), str(body.get("kind", "")))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"id": server.id, "kind": server.kind, "url": server.url,
                                  "kubeconfig": self.kubeconfig_path(server.id)})

    async def _admin_deployment_status(self, request: web.Request) -> web.Response:
        """Test/ops helper: ``{"server", "namespace", "name", "external": bool, "status": {...}}``.

        Hands a Deployment's status to the caller (or back to the lab) and optionally merges a
        status into it, e.g. to make a Deployment unavailable without touching its spec.
        """
        body = await request.json()
        server = self.servers.get(str(body.get("server", "")))
        if server is None:
            return web.json_response({"error": "no such kube server"}, status=404)
        namespace, name = str(body.get("namespace", "default")), str(body.get("name", ""))
        server.set_external_status(namespace, name, bool(body.get("external", True)))
        try:
            if body.get("status"):
                obj = server.patch_status("apps/v1", "Deployment", namespace, name, body["status"])
            else:
                obj = server.get("apps/v1", "Deployment", namespace, name)
        except ApiError as error:
            return web.json_response(error.status(), status=error.code)
        return web.json_response({"external": bool(body.get("external", True)),
                                  "status": (obj or {}).get("status")})

    async def _admin_remove(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"removed": self.remove_server(str(body.get("id", "")))})


__all__ = ["KubeComponent", "KubeServer", "ApiError"]
