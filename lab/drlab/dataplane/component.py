"""The lab's data plane: Envoy per region, Bookinfo per cluster, GTM DNS and health checks.

Everything here is derived from state other components own, never configured directly:
- the clusters' Kubernetes objects (Bookinfo Deployments/Services, the gateway
  Deployment/Service that ``drlab.mesh`` writes from IstioGateway CRs),
- each mesh's Istio config (Gateway, VirtualService, DestinationRule, ASMLocalRateLimiter)
  and mesh features (LocalityLoadBalancing / LocalityLBConf) from the cloud component,
- GTM access domains, pools, addresses, templates and DNS records from the cloud component.

A region's Envoy runs while at least one gateway Deployment of its clusters has an available
replica; deleting the Deployment or scaling it to 0 stops Envoy at once (connection refused),
restoring it starts Envoy again.  Config changes are file swaps to the running Envoy.
Reconciliation runs on every Kubernetes/cloud change (subscriptions) and every 0.5 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
from typing import Any

from ..kube.watch import ServerWatch
from ..mesh.component import ASM_GROUP, ISTIO_GROUP, NS, list_any
from .bookinfo import APPS, Bookinfo, Instance
from .dns import Answer, DnsServer
from .envoy import EnvoySupervisor
from .envoyconf import GatewayInputs, fqdn, listen_port, translate
from .health import HealthChecker
from .locality import Endpoint, apply_locality, effective_setting, pick

log = logging.getLogger("drlab.dataplane")

ADMIN_PORT = 15000  # Envoy admin on each region address (istio-proxy's admin port)


def _subset_of(wanted: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (wanted or {}).items())


def mesh_locality(mesh: dict[str, Any]) -> dict[str, Any] | None:
    """The mesh-wide localityLbSetting from UpdateMeshFeature (LocalityLoadBalancing/LocalityLBConf)."""
    features = mesh.get("features") or {}
    if str(features.get("LocalityLoadBalancing", "false")).lower() != "true":
        return None
    try:
        conf = json.loads(features.get("LocalityLBConf") or "{}")
    except ValueError:
        return None
    return conf if isinstance(conf, dict) else None


def _string_match(cond: dict[str, Any], value: str | None) -> bool:
    if value is None:
        return False
    if "exact" in cond:
        return value == cond["exact"]
    if "prefix" in cond:
        return value.startswith(cond["prefix"])
    if "regex" in cond:
        return re.fullmatch(cond["regex"], value) is not None
    return True


def _http_match(match: dict[str, Any], path: str, headers: dict[str, str]) -> bool:
    """An Istio HTTPMatchRequest against a request (uri and headers; other fields ignored)."""
    if match.get("uri") and not _string_match(match["uri"], path):
        return False
    return all(_string_match(cond, headers.get(name.lower())) for name, cond in (match.get("headers") or {}).items())


class DataPlaneComponent:
    def __init__(self, lab: Any):
        self.lab = lab
        topo = lab.topology
        self.regions = {r["id"]: r for r in topo["regions"]}
        self.clusters = {c["id"]: (r, c) for r in topo["regions"] for c in r["clusters"]}
        self.bookinfo = Bookinfo(self.route)
        self.envoys: dict[str, EnvoySupervisor] = {}
        self.envoy_ports: dict[str, list[int]] = {}
        self._last_config: dict[str, str] = {}
        self.gateway_deployments: dict[str, str] = {}
        self.dns = DnsServer(lab.host, topo["ports"]["dns"], self.lookup, lambda zone: (f"ns1.{zone}", 60))
        self.health = HealthChecker(self._health_targets, self._set_health)
        self._services: dict[str, dict[str, tuple[int, dict[str, str], list[Endpoint]]]] = {}
        self._wake = asyncio.Event()
        self._watch = ServerWatch(lab, self._wake)
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._rule_cache: dict[str, list[dict[str, Any]]] = {}
        self._meshes_cache: list[dict[str, Any]] = []

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        for region in self.regions.values():
            workdir = self.lab.dir.file("envoy", region["id"])
            os.makedirs(workdir, exist_ok=True)
            self.envoys[region["id"]] = EnvoySupervisor(region["id"], workdir, region["address"], ADMIN_PORT)
        await self.dns.start()
        cloud = self._cloud()
        if cloud is not None and hasattr(cloud, "on_change"):
            cloud.on_change(lambda kind, object_id: self._wake.set())
        await self.reconcile()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.health.stop()
        await self.dns.stop()
        await asyncio.gather(*(e.close() for e in self.envoys.values()), return_exceptions=True)
        await self.bookinfo.close()

    def status(self) -> dict[str, Any]:
        topo = self.lab.topology
        summary = []
        regions = {}
        for region_id, envoy in self.envoys.items():
            address = self.regions[region_id]["address"]
            ports = ",".join(str(p) for p in self.envoy_ports.get(region_id, [])) or "-"
            state = f"running pid {envoy.pid}" if envoy.running else "stopped (no available gateway replica)"
            summary.append(f"gateway {region_id}: Envoy on {address} ports {ports} (admin :{ADMIN_PORT}) {state}")
            regions[region_id] = {"address": address, "ports": self.envoy_ports.get(region_id, []),
                                  "admin": f"{address}:{ADMIN_PORT}", "running": envoy.running, "pid": envoy.pid,
                                  "config_version": envoy.version, "restarts": envoy.restarts}
        per_cluster: dict[str, int] = {}
        for inst in self.bookinfo.instances.values():
            per_cluster[inst.cluster_name] = per_cluster.get(inst.cluster_name, 0) + 1
        summary.append("bookinfo: " + (", ".join(f"{k} {v} workloads" for k, v in sorted(per_cluster.items()))
                                       or "no workloads applied"))
        summary.append(f"GTM DNS: {topo['host']}:{topo['ports']['dns']} udp+tcp; health checks on "
                       f"{len(self.health.checkers)} addresses")
        return {
            "gateways": regions,
            "dns": f"{topo['host']}:{topo['ports']['dns']}",
            "bookinfo": [{"cluster": i.cluster_name, "namespace": i.namespace, "app": i.app, "version": i.version,
                          "endpoint": f"{i.address}:{i.port}"} for i in self.bookinfo.instances.values()],
            "health_checked": sorted(self.health.checkers),
            "summary": summary,
        }

    def scrape_targets(self) -> list[dict[str, Any]]:
        """The admin endpoint of every running gateway Envoy, labelled as Prometheus would label
        the gateway pods it discovers on ACK (namespace, pod) plus the region and replica."""
        targets = []
        for region_id, envoy in sorted(self.envoys.items()):
            if not envoy.running:
                continue
            name = self.gateway_deployments.get(region_id, "istio-ingressgateway")
            targets.append({"address": f"{self.regions[region_id]['address']}:{ADMIN_PORT}",
                            "labels": {"region": region_id, "replica": "0", "namespace": NS,
                                       "pod": f"{name}-{region_id}-0"}})
        return targets

    # -- plumbing ------------------------------------------------------------------
    def _cloud(self) -> Any:
        return self.lab.components.get("cloud")

    def _meshes(self) -> list[dict[str, Any]]:
        cloud = self._cloud()
        return list(cloud.meshes()) if cloud is not None and hasattr(cloud, "meshes") else []

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=0.5)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:  # noqa: BLE001 - keep serving; the next change retries
                log.exception("dataplane reconcile failed")
            try:
                self.health.sync()
            except Exception:  # noqa: BLE001 - a bad target must not stop the other checks
                log.exception("health checker sync failed")

    # -- reconcile -------------------------------------------------------------------
    async def reconcile(self) -> None:
        async with self._lock:
            meshes = self._meshes()
            self._rule_cache = {}
            for mesh in meshes:
                self._watch.server(mesh["id"])
            await self._reconcile_bookinfo()
            self._meshes_cache = meshes
            for region_id in self.regions:
                await self._reconcile_gateway(region_id, meshes)

    async def _reconcile_bookinfo(self) -> None:
        seen = set()
        services: dict[str, dict[str, tuple[int, dict[str, str], list[Endpoint]]]] = {}
        for cluster_id, (region, cluster) in self.clusters.items():
            server = self._watch.server(cluster_id)
            if server is None:
                continue
            for dep in server.list("apps/v1", "Deployment"):
                meta = dep["metadata"]
                labels = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
                if labels.get("app") not in APPS or meta.get("namespace") == NS:
                    continue
                available = int((dep.get("status") or {}).get("availableReplicas") or 0)
                if available < 1:
                    continue
                key = (cluster_id, meta["namespace"], meta["name"])
                seen.add(key)
                await self.bookinfo.ensure(key, Instance(cluster_id, cluster["name"], meta["namespace"],
                                                         labels["app"], labels.get("version", "v1"),
                                                         region["address"], 0))
            by_host: dict[str, tuple[int, dict[str, str], list[Endpoint]]] = {}
            for svc in server.list("v1", "Service"):
                meta, spec = svc["metadata"], svc.get("spec") or {}
                if meta.get("namespace") == NS or not spec.get("selector") or not spec.get("ports"):
                    continue
                host = fqdn(meta["name"], meta["namespace"])
                eps = []
                for key, inst in self.bookinfo.instances.items():
                    if key[0] != cluster_id or key not in seen or inst.namespace != meta["namespace"]:
                        continue
                    labels = {"app": inst.app, "version": inst.version}
                    dep = server.get("apps/v1", "Deployment", inst.namespace, key[2])
                    if dep is not None:
                        labels = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
                            "labels") or labels
                    if _subset_of(spec["selector"], labels):
                        eps.append(Endpoint(cluster["name"], region["id"], inst.address, inst.port, dict(labels),
                                            True, cluster_id))
                by_host[host] = (int(spec["ports"][0]["port"]), dict(spec["selector"]), eps)
            services[cluster_id] = by_host
        for key in list(self.bookinfo.instances):
            if key not in seen:
                await self.bookinfo.remove(key)
        self._services = services

    # -- the mesh's view, shared by gateway and sidecars ---------------------------------
    def _mesh_of(self, cluster_id: str, meshes: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        meshes = meshes if meshes is not None else self._meshes_cache
        member = [m for m in meshes if cluster_id in (m.get("clusters") or [])]
        primary = [m for m in member if not (m.get("discovery_only") or {}).get(cluster_id)]
        return (primary or member or [None])[0]

    def _visible(self, cluster_id: str, meshes: list[dict[str, Any]] | None = None) -> list[str]:
        """Clusters whose services a workload in cluster_id discovers: its mesh's clusters (or itself)."""
        mesh = self._mesh_of(cluster_id, meshes)
        clusters = list(mesh.get("clusters") or []) if mesh else []
        return clusters if cluster_id in clusters else [cluster_id, *clusters]

    def _endpoints(self, cluster_id: str, host: str, labels: dict[str, str]) -> list[Endpoint]:
        if "__missing_subset__" in labels:
            return []
        out = []
        for other in self._visible(cluster_id):
            entry = self._services.get(other, {}).get(host)
            if entry is not None:
                out.extend(e for e in entry[2] if _subset_of(labels, e.labels))
        return out

    def _service_port(self, cluster_id: str, host: str) -> int | None:
        for other in self._visible(cluster_id):
            entry = self._services.get(other, {}).get(host)
            if entry is not None:
                return entry[0]
        return None

    def _rules(self, mesh: dict[str, Any] | None) -> list[dict[str, Any]]:
        # cached per reconcile: every Bookinfo hop asks, and reconcile runs on each mesh change
        if not mesh:
            return []
        if mesh["id"] not in self._rule_cache:
            server = self._watch.server(mesh["id"])
            self._rule_cache[mesh["id"]] = list_any(server, ISTIO_GROUP, "DestinationRule") if server else []
        return self._rule_cache[mesh["id"]]

    def _virtual_services(self, mesh: dict[str, Any] | None) -> list[dict[str, Any]]:
        if not mesh:
            return []
        key = mesh["id"] + "/vs"
        if key not in self._rule_cache:
            server = self._watch.server(mesh["id"])
            self._rule_cache[key] = list_any(server, ISTIO_GROUP, "VirtualService") if server else []
        return self._rule_cache[key]

    def _mesh_route(self, mesh: dict[str, Any] | None, host: str, path: str,
                    headers: dict[str, str]) -> tuple[dict[str, str], bool]:
        """Subset labels chosen by a mesh VirtualService for host (sidecar routing); (labels, routed)."""
        for vs in self._virtual_services(mesh):
            spec, ns = vs.get("spec") or {}, vs["metadata"].get("namespace", "default")
            if spec.get("gateways") and "mesh" not in spec["gateways"]:
                continue
            if host not in {fqdn(h, ns) for h in spec.get("hosts") or []}:
                continue
            for http in spec.get("http") or []:
                if not any(_http_match(m, path, headers) for m in http.get("match") or [{}]):
                    continue
                dests = [d for d in http.get("route") or [] if int(d.get("weight", 100)) > 0]
                if not dests:
                    return {"__missing_subset__": "no route"}, True
                dest = random.choices(dests, weights=[int(d.get("weight", 100)) for d in dests])[0]["destination"]
                subset = dest.get("subset")
                if not subset:
                    return {}, True
                for rule in self._rules(mesh):
                    rspec = rule.get("spec") or {}
                    if fqdn(rspec.get("host", ""), rule["metadata"].get("namespace", "default")) == host:
                        for sub in rspec.get("subsets") or []:
                            if sub.get("name") == subset:
                                return dict(sub.get("labels") or {}), True
                return {"__missing_subset__": subset}, True
        return {}, False

    def route(self, cluster_id: str, host: str, port: int, path: str = "/",
              headers: dict[str, str] | None = None) -> Endpoint | None:
        """The sidecar's choice for a call from cluster_id to host: mesh VirtualService, then locality."""
        region, cluster = self.clusters[cluster_id]
        mesh = self._mesh_of(cluster_id)
        rule = next((r for r in self._rules(mesh)
                     if fqdn((r.get("spec") or {}).get("host", ""), r["metadata"].get("namespace", "default")) == host),
                    None)
        policy = ((rule or {}).get("spec") or {}).get("trafficPolicy") or {}
        setting = effective_setting(mesh_locality(mesh) if mesh else None,
                                    (policy.get("loadBalancer") or {}).get("localityLbSetting"))
        labels, _ = self._mesh_route(mesh, host, path, {k.lower(): v for k, v in (headers or {}).items()})
        eps = self._endpoints(cluster_id, host, labels)
        weighted = apply_locality(region["id"], f"{region['id']}/{cluster['name']}", eps, setting,
                                  bool(policy.get("outlierDetection")))
        return pick(weighted)

    # -- gateways ----------------------------------------------------------------------
    async def _reconcile_gateway(self, region_id: str, meshes: list[dict[str, Any]]) -> None:
        region = self.regions[region_id]
        envoy = self.envoys[region_id]
        replicas, ports, pod_labels, home = 0, [], [], None
        for cluster in region["clusters"]:
            server = self._watch.server(cluster["id"])
            if server is None:
                continue
            for dep in server.list("apps/v1", "Deployment", NS):
                name = dep["metadata"]["name"]
                labels = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
                svc = server.get("v1", "Service", NS, name)
                if not name.startswith("istio-") or "istio" not in labels or svc is None:
                    continue
                available = int((dep.get("status") or {}).get("availableReplicas") or 0)
                if available < 1:
                    continue
                replicas += available
                pod_labels.append(labels)
                self.gateway_deployments[region_id] = name
                home = home or cluster
                if (svc.get("spec") or {}).get("type") != "LoadBalancer":
                    continue  # only a LoadBalancer Service puts the gateway on the region address
                for p in (svc.get("spec") or {}).get("ports") or []:
                    target = p.get("targetPort")
                    target = int(target) if str(target or "").isdigit() else int(p["port"])  # named: keep port
                    ports.append((int(p["port"]), target, p.get("name", "")))
        if replicas < 1 or home is None:
            if envoy.running:
                await envoy.stop()
                self.lab.record_event("gateway_envoy_stopped", region_id=region_id, address=region["address"],
                                      reason="no available gateway replica")
            return
        mesh = self._mesh_of(home["id"], meshes)
        server = self._watch.server(mesh["id"]) if mesh else None

        def selected(obj: dict[str, Any], path: tuple[str, ...]) -> bool:
            sel: Any = obj.get("spec") or {}
            for part in path:
                sel = (sel or {}).get(part) or {}
            return any(_subset_of(sel, labels) for labels in pod_labels)

        inputs = GatewayInputs(
            address=region["address"], region=region_id, locality=f"{region_id}/{home['name']}",
            ports=sorted(set(ports)), replicas=replicas, mesh_locality=mesh_locality(mesh) if mesh else None,
            gateways=[g for g in list_any(server, ISTIO_GROUP, "Gateway") if selected(g, ("selector",))]
            if server else [],
            virtual_services=list_any(server, ISTIO_GROUP, "VirtualService") if server else [],
            destination_rules=list_any(server, ISTIO_GROUP, "DestinationRule") if server else [],
            rate_limiters=[r for r in list_any(server, ASM_GROUP, "ASMLocalRateLimiter", ("v1beta1", "v1"))
                           if selected(r, ("workloadSelector", "labels"))] if server else [],
            endpoints=lambda host, port, labels: self._endpoints(home["id"], host, labels),
            service_port=lambda host: self._service_port(home["id"], host),
        )
        lds, cds = translate(inputs, "0")
        text = json.dumps([lds["resources"], cds["resources"]], sort_keys=True)
        if text != self._last_config.get(region_id):
            self._last_config[region_id] = text
            envoy.update(lds, cds)
            self.envoy_ports[region_id] = sorted({listen_port(p[0]) for p in ports})
        if not envoy.running:
            ready = await envoy.start()
            self.lab.record_event("gateway_envoy_started", region_id=region_id, address=region["address"],
                                  pid=envoy.pid, ready=ready)

    # -- GTM -----------------------------------------------------------------------------
    def _zones(self) -> list[str]:
        return [z.lower().rstrip(".") for z in self.lab.topology.get("zones", [])]

    def lookup(self, name: str, qtype: str) -> Answer:
        zone = next((z for z in self._zones() if name == z or name.endswith("." + z)), None)
        if zone is None:
            return Answer("REFUSED")
        cloud = self._cloud()
        if cloud is None:
            return Answer("SERVFAIL")
        exists = False
        for rr_type in ("A", "AAAA", "CNAME"):
            gtm = cloud.gtm_answer(name, rr_type)
            if gtm is None:
                continue
            exists = True
            if rr_type == qtype or rr_type == "CNAME":
                return Answer(records=[(rr_type, a, int(gtm["ttl"])) for a in gtm["addresses"]], zone=zone)
        records = [r for r in cloud.zone_records(zone) if r["name"] == name]
        if not records and not exists and name != zone:
            # names below an existing name are empty non-terminals in a real zone, but the lab keeps it simple
            return Answer("NXDOMAIN", zone=zone)
        chosen = [r for r in records if r["type"] == qtype] or [r for r in records if r["type"] == "CNAME"]
        return Answer(records=[(r["type"], r["value"], int(r["ttl"])) for r in chosen
                               if r["type"] in ("A", "AAAA", "CNAME", "TXT")], zone=zone)

    def _health_targets(self) -> list[dict[str, Any]]:
        # The cloud component renders targets in the shape HealthChecker consumes.
        cloud = self._cloud()
        return cloud.health_targets() if cloud is not None and hasattr(cloud, "health_targets") else []

    def _set_health(self, address_id: str, health: str, available: str, reason: str) -> None:
        cloud = self._cloud()
        try:
            cloud.set_address_health(address_id, health, available, reason)
        except (KeyError, ValueError):
            log.warning("health verdict for unknown address %s dropped", address_id)
