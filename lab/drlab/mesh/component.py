"""ASM's controllers in the lab: IstioGateway -> gateway workload in each cluster, and resync.

For each mesh, every ``IstioGateway`` CR (``istio.alibabacloud.com``, in ``istio-system``)
yields, in each cluster of ``spec.clusterIds`` (default: the mesh's clusters that are not
discovery-only): a ServiceAccount, a Deployment and a Service named ``istio-<name>`` in
``istio-system`` (the Service of type LoadBalancer gets ``status.loadBalancer.ingress[0].ip``
= the cluster's region address, where the lab's Envoy listens), plus an autoscaling/v2 HPA
when ``minReplicas``/``maxReplicas`` are given.  Deleting the CR removes them.

ASM owns the gateway Deployment and resyncs it: a deleted or hand-edited Deployment is
restored ``topology.timing.gateway_resync`` seconds after the change is seen (0 = off).
The first creation for a new CR is immediate.

The data plane (``drlab.dataplane.component``) reads the objects written here; this
module also offers the shared look-ups both use (:func:`list_any`, :func:`gateway_labels`).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import time
from typing import Any

from ..kube import crds, schemas
from ..kube.watch import QuietPasses, ServerWatch
from ..store import JsonStore
from . import validation

log = logging.getLogger("drlab.mesh")

ASM_GROUP = "istio.alibabacloud.com"
ISTIO_GROUP = "networking.istio.io"
NS = "istio-system"
OWNER_LABEL = "drlab.io/istio-gateway"
MESH_LABEL = "drlab.io/mesh-id"
PROXY_IMAGE = "registry-cn-hangzhou.ack.aliyuncs.com/acs/proxyv2:1.24.6.64-g6b1f7a5b-aliyun"

# ASM fronts each mesh's API server with istiod's validating webhook (drlab.mesh.validation).
schemas.register_webhook("mesh", ISTIO_GROUP, validation.WEBHOOK, validation.check)


def list_any(server: Any, group: str, kind: str, versions: tuple[str, ...] = ("v1", "v1beta1", "v1alpha3"),
             namespace: str | None = None, strict: bool = False) -> list[dict[str, Any]]:
    """Objects of a kind whatever version they were written with, one per namespace/name.

    With ``strict``, a kind served in none of the versions raises LookupError instead of
    looking empty (the gateway controller must not take "unreadable" for "deleted").
    """
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    served = False
    for version in versions:
        try:
            items = server.list(f"{group}/{version}", kind, namespace)
        except Exception:  # noqa: BLE001,S112 - a version the server does not serve
            continue
        served = True
        if isinstance(items, dict):
            items = items.get("items") or []
        for obj in items or []:
            meta = obj.get("metadata") or {}
            seen.setdefault((meta.get("namespace", ""), meta.get("name", "")), obj)
    if not served and strict:
        raise LookupError(f"{group} {kind} is not served")
    return list(seen.values())


def gateway_labels(name: str) -> dict[str, str]:
    """Pod labels of ASM gateway ``name`` (what Gateway selectors and rate limiters match)."""
    return {"app": f"istio-{name}", "istio": name, "provider": "asm"}


def _replicas(spec: dict[str, Any]) -> int:
    if spec.get("replicaCount") is not None:
        return int(spec["replicaCount"])
    if spec.get("minReplicas") is not None:
        return int(spec["minReplicas"])
    return 1


class MeshComponent:
    def __init__(self, lab: Any):
        self.lab = lab
        self.resync_delay = float(lab.topology.get("timing", {}).get("gateway_resync", 20.0))
        self.cluster_region = {c["id"]: r for r in lab.topology["regions"] for c in r["clusters"]}
        # What the controller created, per (mesh, gateway, cluster): a digest of the Deployment it last
        # applied from the CR and when a pending resync is due (epoch).  Persisted, as ASM keeps it in the
        # cloud: a lab restart neither forgets a pending resync nor re-creates at once what a drill deleted.
        self._store = JsonStore(lab.dir.file("state", "mesh.json"))
        self._gateways: dict[str, dict[str, Any]] = self._store.data.setdefault("gateways", {})
        self._wake = asyncio.Event()
        self._watch = ServerWatch(lab, self._wake)
        self.quiet = QuietPasses()
        self._task: asyncio.Task | None = None
        self.resyncs = 0

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # The mesh CRDs carry Istio's schemas; building them the first time takes seconds, so not on the loop.
        schemas.warm_istio_schemas(lambda: loop.call_soon_threadsafe(self.upgrade_crds))
        cloud = self.lab.components.get("cloud")
        if cloud is not None and hasattr(cloud, "on_change"):
            cloud.on_change(lambda kind, object_id: self._wake.set())
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def upgrade_crds(self) -> None:
        """Give mesh APIs seeded before the Istio schemas were ready their published schemas."""
        kube = self._kube()
        if kube is None:
            return
        wanted = {c["metadata"]["name"]: c for c in crds.mesh_crds()}
        for server in list(kube.servers.values()):
            if server.kind != "mesh":
                continue
            for name, crd in wanted.items():
                try:
                    current = server.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name)
                    if current is not None and crds.is_open(current) and not crds.is_open(crd) and (
                            (current["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of")
                            == "drlab-mesh"):
                        server.apply(crd, manager="drlab-bootstrap")
                except Exception:  # noqa: BLE001 - a server being deleted; the next one still gets its schemas
                    log.exception("could not upgrade CRD %s on %s", name, server.id)

    def status(self) -> dict[str, Any]:
        summary = [f"ASM controllers watching {len(self._watch.watched)} Kubernetes APIs; gateway resync "
                   + (f"after {self.resync_delay:g}s" if self.resync_delay > 0 else "off")]
        return {"watched": sorted(self._watch.watched), "resyncs": self.resyncs,
                "pending_resync": sum(1 for g in self._gateways.values() if g.get("due")),
                "reconcile": {"passes": self.quiet.passes, "skipped": self.quiet.skipped}, "summary": summary}

    # -- watching ---------------------------------------------------------------------
    def _kube(self) -> Any:
        return self.lab.components.get("kube")

    def meshes(self) -> list[dict[str, Any]]:
        cloud = self.lab.components.get("cloud")
        if cloud is None or not hasattr(cloud, "meshes"):
            return []
        return [m for m in cloud.meshes() if m.get("state") != "deleting"]

    async def _loop(self) -> None:
        woken = True
        while True:
            # a pending resync is due by the clock, not by a write: never skip while one waits
            pending = any(g.get("due") for g in self._gateways.values())
            if woken or pending or not self.quiet.skip((self._watch.versions(), self.meshes())):
                try:
                    self.reconcile()
                except Exception:  # noqa: BLE001 - keep the controller alive, as a real one would
                    self.quiet.forget()
                    log.exception("mesh reconcile failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                woken = True
            except TimeoutError:
                woken = False
            self._wake.clear()

    # -- reconcile -------------------------------------------------------------------
    def reconcile(self) -> None:
        for region in self.lab.topology["regions"]:
            for cluster in region["clusters"]:
                self._watch.server(cluster["id"])
        wanted: set[tuple[str, str, str]] = set()
        listed: set[str] = set()
        meshes = self.meshes()
        for mesh in meshes:
            server = self._watch.server(mesh["id"])
            if server is None:
                continue
            try:
                crs = list_any(server, ASM_GROUP, "IstioGateway", ("v1beta1", "v1"), NS, strict=True)
            except LookupError:
                continue
            listed.add(mesh["id"])
            members = [c for c in mesh.get("clusters", []) if not (mesh.get("discovery_only") or {}).get(c)]
            for cr in crs:
                spec = cr.get("spec") or {}
                name = cr["metadata"]["name"]
                for cluster_id in spec.get("clusterIds") or members:
                    target = self._watch.server(cluster_id)
                    if target is None or cluster_id not in self.cluster_region:
                        continue
                    key = (mesh["id"], name, cluster_id)
                    wanted.add(key)
                    self._ensure(target, key, spec)
        self._garbage_collect(wanted, listed, {m["id"] for m in meshes})

    def _desired(self, key: tuple[str, str, str], spec: dict[str, Any]) -> list[dict[str, Any]]:
        mesh_id, name, cluster_id = key
        full = f"istio-{name}"
        labels = gateway_labels(name)
        owned = {**labels, OWNER_LABEL: name, MESH_LABEL: mesh_id}
        meta = {"name": full, "namespace": NS, "labels": owned}
        ports = [{"name": p.get("name") or f"port-{p['port']}", "port": int(p["port"]),
                  "targetPort": int(p.get("targetPort") or p["port"]), "protocol": "TCP"}
                 for p in spec.get("ports") or [{"name": "http-0", "port": 80, "targetPort": 80}]]
        pod_labels = {**(spec.get("podLabels") or {}), **labels}
        resources = spec.get("resources") or {"limits": {"cpu": "2", "memory": "2G"},
                                               "requests": {"cpu": "200m", "memory": "256Mi"}}
        container = {"name": "istio-proxy", "image": PROXY_IMAGE, "resources": resources,
                     "ports": [{"containerPort": p["targetPort"], "protocol": "TCP"} for p in ports],
                     "env": list(spec.get("env") or [])}
        objs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": copy.deepcopy(meta)},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": copy.deepcopy(meta), "spec": {
                "replicas": _replicas(spec), "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": pod_labels,
                                          "annotations": {"sidecar.istio.io/inject": "false"}},
                             "spec": {"serviceAccountName": full, "containers": [container]}}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {**copy.deepcopy(meta), "annotations": dict(spec.get("serviceAnnotations") or {})},
             "spec": {"type": spec.get("serviceType") or "LoadBalancer", "selector": labels, "ports": ports,
                      **({"externalTrafficPolicy": spec["externalTrafficPolicy"]}
                         if spec.get("externalTrafficPolicy") else {})}},
        ]
        if spec.get("minReplicas") is not None or spec.get("maxReplicas") is not None:
            metrics = []
            for resource in ("cpu", "memory"):
                target = (spec.get(resource) or {}).get("targetAverageUtilization")
                if target:
                    metrics.append({"type": "Resource", "resource": {"name": resource, "target": {
                        "type": "Utilization", "averageUtilization": int(target)}}})
            objs.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                         "metadata": copy.deepcopy(meta), "spec": {
                             "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": full},
                             "minReplicas": int(spec.get("minReplicas") or 1),
                             "maxReplicas": int(spec.get("maxReplicas") or spec.get("minReplicas") or 1),
                             "metrics": metrics or [{"type": "Resource", "resource": {"name": "cpu", "target": {
                                 "type": "Utilization", "averageUtilization": 80}}}]}})
        return objs

    def _drifted(self, current: dict[str, Any], desired: dict[str, Any], spec: dict[str, Any]) -> bool:
        cur, want = current.get("spec") or {}, desired["spec"]
        replicas = cur.get("replicas", 1)
        if spec.get("minReplicas") is not None or spec.get("maxReplicas") is not None:
            low = int(spec.get("minReplicas") or 1)
            high = int(spec.get("maxReplicas") or low)
            bad_replicas = not low <= int(replicas) <= high  # the HPA owns replicas inside its range
        else:
            bad_replicas = int(replicas) != want["replicas"]
        tmpl = ((cur.get("template") or {}).get("metadata") or {}).get("labels") or {}
        labels_ok = all(tmpl.get(k) == v for k, v in want["template"]["metadata"]["labels"].items())
        containers = ((cur.get("template") or {}).get("spec") or {}).get("containers") or []
        wanted = want["template"]["spec"]["containers"][0]
        proxy_ok = any(c.get("name") == wanted["name"] and c.get("image") == wanted["image"] for c in containers)
        return bad_replicas or not labels_ok or not proxy_ok

    def _ensure(self, server: Any, key: tuple[str, str, str], spec: dict[str, Any]) -> None:
        if server.get("v1", "Namespace", None, NS) is None:
            server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for obj in self._desired(key, spec):
            current = server.get(obj["apiVersion"], obj["kind"], NS, obj["metadata"]["name"])
            if obj["kind"] != "Deployment":
                if current is None or any(
                        (current.get("spec") or {}).get(k) != v for k, v in (obj.get("spec") or {}).items()
                        if k in ("ports", "type", "minReplicas", "maxReplicas", "selector")):
                    server.apply(obj)
                if obj["kind"] == "Service":
                    self._lb_status(server, obj, key[2])
                continue
            name = "|".join(key)
            digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
            record = self._gateways.get(name)
            if current is not None and not self._drifted(current, obj, spec) and (
                    record is None or record["applied"] == digest):
                self._remember(name, digest)
                continue
            if record is None or record["applied"] != digest:
                # first creation, or the IstioGateway itself changed: ASM applies at once
                server.apply(obj)
                self._remember(name, digest)
                continue
            if self.resync_delay <= 0:
                continue
            if not record.get("due"):
                self._remember(name, digest, due=time.time() + self.resync_delay)
            elif time.time() >= record["due"]:
                server.apply(obj)
                self._remember(name, digest)
                self.resyncs += 1
                self.lab.record_event("gateway_resynced", mesh_id=key[0], gateway=key[1], cluster_id=key[2],
                                      deployment=f"{NS}/{obj['metadata']['name']}",
                                      reason="deleted" if current is None else "edited")

    def _remember(self, name: str, digest: str, due: float | None = None) -> None:
        record = {"applied": digest, "due": due}
        if self._gateways.get(name) != record:
            self._gateways[name] = record
            self._store.save()

    def _lb_status(self, server: Any, svc: dict[str, Any], cluster_id: str) -> None:
        current = server.get("v1", "Service", NS, svc["metadata"]["name"])
        if current is None or (current.get("spec") or {}).get("type") != "LoadBalancer":
            return
        ip = self.cluster_region[cluster_id]["address"]
        ingress = ((current.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if not ingress or ingress[0].get("ip") != ip:
            server.patch_status("v1", "Service", NS, svc["metadata"]["name"],
                                {"loadBalancer": {"ingress": [{"ip": ip}]}})

    def _garbage_collect(self, wanted: set[tuple[str, str, str]], listed: set[str], live: set[str]) -> None:
        gone = [name for name in self._gateways if tuple(name.split("|")) not in wanted
                and (name.split("|")[0] in listed or name.split("|")[0] not in live)]
        for name in gone:
            del self._gateways[name]
        if gone:
            self._store.save()
        kube = self._kube()
        if kube is None:
            return
        for cluster_id in self.cluster_region:
            server = kube.server(cluster_id)
            if server is None:
                continue
            for api, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ServiceAccount"),
                              ("autoscaling/v2", "HorizontalPodAutoscaler")):
                try:
                    items = server.list(api, kind, NS, label_selector=OWNER_LABEL)
                except Exception:  # noqa: BLE001,S112 - kind not served
                    continue
                if isinstance(items, dict):
                    items = items.get("items") or []
                for obj in items or []:
                    labels = obj["metadata"].get("labels") or {}
                    key = (labels.get(MESH_LABEL, ""), labels.get(OWNER_LABEL, ""), cluster_id)
                    # only what is known to be gone: the CR missing from a mesh we could read, or the mesh gone
                    if key in wanted or (key[0] in live and key[0] not in listed):
                        continue
                    # the CR (or its whole mesh) is gone: ASM removes what it created
                    server.delete(api, kind, NS, obj["metadata"]["name"])
