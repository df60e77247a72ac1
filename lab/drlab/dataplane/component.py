"""The lab's data plane: Envoy per region, Bookinfo per cluster, GTM DNS and health checks.

Everything here is derived from state other components own, never configured directly:
- the clusters' Kubernetes objects (Bookinfo Deployments/Services, the gateway
  Deployment/Service that ``drlab.mesh`` writes from IstioGateway CRs),
- each mesh's Istio config (Gateway, VirtualService, DestinationRule, ASMLocalRateLimiter)
  and mesh features (LocalityLoadBalancing / LocalityLBConf) from the cloud component,
- GTM access domains, pools, addresses, templates and DNS records from the cloud component.

A region's gateway runs one Envoy process per available replica of its clusters' gateway
Deployments, all on the region address (``SO_REUSEPORT``), each with its own rate-limit
buckets; deleting the Deployment or scaling it to 0 stops them at once (connection refused),
restoring it starts them again.  Config changes are file swaps to the running Envoys.  The
gateway HPA (``hpa.py``) scales the Deployment from the requests the Envoys count.
Reconciliation runs on every Kubernetes/cloud change (subscriptions) and every 0.5 s.

GTM's DNS and health checks run on their own thread and loop (``realtime.py``), so that a busy
main loop does not delay answers: after each cloud change the main loop publishes a new
``GtmView`` (a private copy of the GTM objects and the zones' records) that the DNS and the
checker read; health verdicts travel back to the main loop, which applies them to the cloud
state and publishes again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import time
from typing import Any

from ..kube.watch import QuietPasses, ServerWatch
from ..mesh.component import ASM_GROUP, ISTIO_GROUP, NS, list_any
from .bookinfo import APPS, Bookinfo, Instance
from .dns import Answer, DnsServer
from .envoy import GatewayReplicas
from .envoyconf import GatewayInputs, fqdn, listen_port, translate
from .health import HealthChecker
from .hpa import Autoscaler, HpaSettings
from .locality import Endpoint, apply_locality, effective_setting, pick
from .realtime import GtmView, RealtimeLoop

log = logging.getLogger("drlab.dataplane")

ADMIN_PORT = 15000  # Envoy admin on each region address (istio-proxy's admin port): replica 0
EXTRA_ADMIN_BASE = 15100  # replica i > 0 of a region's gateway: admin on EXTRA_ADMIN_BASE + i


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
        self.envoys: dict[str, GatewayReplicas] = {}
        self.autoscaler = Autoscaler(HpaSettings.from_topology(topo))
        self._hpa_task: asyncio.Task | None = None
        self._rq_samples: dict[str, tuple[float, dict[str, int]]] = {}  # region -> (time, counters)
        self.envoy_ports: dict[str, list[int]] = {}
        self._last_config: dict[str, str] = {}
        self.realtime = RealtimeLoop("drlab-dns")
        self.view = GtmView()
        self._publish_pending = False
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self.gateway_deployments: dict[str, str] = {}
        self.dns = DnsServer(lab.host, topo["ports"]["dns"], self.lookup, lambda zone: (f"ns1.{zone}", 60))
        self.health = HealthChecker(self._health_targets, self._set_health_threadsafe)
        self._services: dict[str, dict[str, tuple[int, dict[str, str], list[Endpoint]]]] = {}
        self._wake = asyncio.Event()
        self._watch = ServerWatch(lab, self._wake)
        self.quiet = QuietPasses()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._rule_cache: dict[str, list[dict[str, Any]]] = {}
        self._meshes_cache: list[dict[str, Any]] = []

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        for region in self.regions.values():
            workdir = self.lab.dir.file("envoy", region["id"])
            os.makedirs(workdir, exist_ok=True)
            self.envoys[region["id"]] = GatewayReplicas(region["id"], workdir, region["address"], ADMIN_PORT,
                                                        EXTRA_ADMIN_BASE)
        self._main_loop = asyncio.get_running_loop()
        self.publish()
        self.realtime.start()
        await self.realtime.run(self.dns.start())
        cloud = self._cloud()
        if cloud is not None and hasattr(cloud, "on_change"):
            cloud.on_change(self._cloud_changed)
        await self.reconcile()
        self.realtime.call(self.health.sync)
        self._task = asyncio.create_task(self._loop())
        self._hpa_task = asyncio.create_task(self._hpa_loop())

    async def stop(self) -> None:
        for task in (self._task, self._hpa_task):
            if task is not None:
                task.cancel()
        self.realtime.call(self.health.stop)
        try:
            await self.realtime.run(self.dns.stop())
        finally:
            await self.realtime.stop()
        await asyncio.gather(*(e.close() for e in self.envoys.values()), return_exceptions=True)
        await self.bookinfo.close()

    def status(self) -> dict[str, Any]:
        topo = self.lab.topology
        checked = self.health.checkers.copy()  # the realtime thread owns it; copy() is atomic under the GIL
        summary = []
        regions = {}
        for region_id, envoy in self.envoys.items():
            address = self.regions[region_id]["address"]
            ports = ",".join(str(p) for p in self.envoy_ports.get(region_id, [])) or "-"
            state = (f"running {envoy.count} replica(s), pids {','.join(str(p) for p in envoy.pids)}"
                     if envoy.running else "stopped (no available gateway replica)")
            summary.append(f"gateway {region_id}: Envoy on {address} ports {ports} (admin :{ADMIN_PORT}) {state}")
            regions[region_id] = {"address": address, "ports": self.envoy_ports.get(region_id, []),
                                  "admin": f"{address}:{ADMIN_PORT}", "running": envoy.running, "pid": envoy.pid,
                                  "replicas": envoy.count, "pids": envoy.pids,
                                  "config_version": envoy.version, "restarts": envoy.restarts}
        per_cluster: dict[str, int] = {}
        for inst in self.bookinfo.instances.values():
            per_cluster[inst.cluster_name] = per_cluster.get(inst.cluster_name, 0) + 1
        summary.append("bookinfo: " + (", ".join(f"{k} {v} workloads" for k, v in sorted(per_cluster.items()))
                                       or "no workloads applied"))
        summary.append(f"GTM DNS: {topo['host']}:{topo['ports']['dns']} udp+tcp; health checks on "
                       f"{len(checked)} addresses")
        return {
            "gateways": regions,
            "dns": f"{topo['host']}:{topo['ports']['dns']}",
            "bookinfo": [{"cluster": i.cluster_name, "namespace": i.namespace, "app": i.app, "version": i.version,
                          "endpoint": f"{i.address}:{i.port}"} for i in self.bookinfo.instances.values()],
            "health_checked": sorted(checked),
            "reconcile": {"passes": self.quiet.passes, "skipped": self.quiet.skipped},
            "summary": summary,
        }

    def scrape_targets(self) -> list[dict[str, Any]]:
        """The admin endpoint of every running gateway Envoy, labelled as Prometheus would label
        the gateway pods it discovers on ACK (namespace, pod) plus the region and replica."""
        targets = []
        for region_id, gateway in sorted(self.envoys.items()):
            name = self.gateway_deployments.get(region_id, "istio-ingressgateway")
            for index, replica in enumerate(list(gateway.replicas)):
                if replica.running:
                    targets.append({"address": f"{gateway.address}:{replica.admin_port}",
                                    "labels": {"region": region_id, "replica": str(index), "namespace": NS,
                                               "pod": f"{name}-{region_id}-{index}"}})
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
                woken = True
            except TimeoutError:
                woken = False
            self._wake.clear()
            # a write to a watched server wakes the loop; a timeout only needs a pass when the cloud's meshes
            # or a server's counter moved without waking it
            if woken or not self.quiet.skip((self._watch.versions(), self._meshes())):
                try:
                    await self.reconcile()
                except Exception:  # noqa: BLE001 - keep serving; the next change retries
                    self.quiet.forget()
                    log.exception("dataplane reconcile failed")
            self.realtime.call(self._sync_health)

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
                # recorded when the stop begins: Envoy closes its listeners at once, and the health checks
                # (their own thread) may see the region fail before every replica has exited
                self.lab.record_event("gateway_envoy_stopped", region_id=region_id, address=region["address"],
                                      reason="no available gateway replica")
                await envoy.stop()
                self._rq_samples.pop(region_id, None)
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
        before = envoy.count
        if before != replicas:
            ready = await envoy.scale(replicas)
            if before == 0:
                self.lab.record_event("gateway_envoy_started", region_id=region_id, address=region["address"],
                                      pid=envoy.pid, ready=all(ready), replicas=replicas)
            else:
                self.lab.record_event("gateway_envoy_scaled", region_id=region_id, address=region["address"],
                                      replicas=replicas, previous=before, pids=envoy.pids)

    # -- the gateway HPA -------------------------------------------------------------------
    async def _hpa_loop(self) -> None:
        period = max(self.autoscaler.settings.sync_period, 0.1)
        while True:
            await asyncio.sleep(period)
            try:
                await self.autoscale()
            except Exception:  # noqa: BLE001 - keep scaling the others; the next period retries
                log.exception("gateway HPA sync failed")

    async def _utilization(self, region_id: str, replicas: int) -> float | None:
        """CPU utilization (% of request) of the region's gateway replicas, from Envoy's request counters."""
        envoy = self.envoys[region_id]
        now = asyncio.get_running_loop().time()
        counters = await asyncio.to_thread(envoy.downstream_requests)
        previous = self._rq_samples.get(region_id)
        self._rq_samples[region_id] = (now, counters)
        if previous is None or not counters or now - previous[0] <= 0:
            return None
        # replicas started since the last sample have no baseline: count what they served so far
        served = sum(max(value - previous[1].get(name, 0), 0) for name, value in counters.items())
        rps = served / (now - previous[0])
        return 100.0 * rps / (max(replicas, 1) * self.autoscaler.settings.replica_rps)

    async def autoscale(self) -> None:
        """One HPA sync: each gateway HPA's Deployment scaled, its status written."""
        for region_id, region in self.regions.items():
            envoy = self.envoys.get(region_id)
            if envoy is None:
                continue
            utilization = await self._utilization(region_id, envoy.count) if envoy.running else None
            for cluster in region["clusters"]:
                server = self._watch.server(cluster["id"])
                if server is None:
                    continue
                try:
                    hpas = server.list("autoscaling/v2", "HorizontalPodAutoscaler", NS)
                except Exception:  # noqa: BLE001,S112 - autoscaling/v2 not served by this server
                    continue
                for hpa in hpas:
                    self._scale_one(server, cluster["id"], hpa, envoy, utilization)

    def _scale_one(self, server: Any, cluster_id: str, hpa: dict[str, Any], envoy: GatewayReplicas,
                   utilization: float | None) -> None:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") != "Deployment":
            return
        dep = server.get("apps/v1", "Deployment", NS, ref.get("name", ""))
        if dep is None:
            return
        current = int((dep.get("spec") or {}).get("replicas", 1))
        if current == 0 and int((hpa.get("spec") or {}).get("minReplicas", 1)) > 0:
            # "Implicit maintenance-mode deactivation": a target scaled to 0 by hand is left alone until
            # someone scales it up again (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/).
            return
        key = f"{cluster_id}/{hpa['metadata']['name']}"
        now = asyncio.get_running_loop().time()
        desired = self.autoscaler.desired(key, hpa, current, utilization, now)
        status: dict[str, Any] = {"currentReplicas": envoy.count, "desiredReplicas": desired,
                                  "observedGeneration": hpa["metadata"].get("generation", 1)}
        if utilization is not None:
            status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": int(round(utilization))}}}]
        if desired != current:
            scaled = {**dep, "spec": {**dep["spec"], "replicas": desired}}
            scaled["metadata"] = {k: v for k, v in dep["metadata"].items() if k in ("name", "namespace")}
            server.apply(scaled)
            status["lastScaleTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.lab.record_event("gateway_hpa_scaled", cluster_id=cluster_id, hpa=hpa["metadata"]["name"],
                                  replicas=desired, previous=current,
                                  utilization=None if utilization is None else round(utilization, 1))
        old = hpa.get("status") or {}
        if any(old.get(k) != v for k, v in status.items() if k != "lastScaleTime") or "lastScaleTime" in status:
            server.patch_status("autoscaling/v2", "HorizontalPodAutoscaler", NS, hpa["metadata"]["name"], status)

    # -- GTM: published to the realtime thread, verdicts back to the main loop ---------------
    def _zones(self) -> list[str]:
        return [z.lower().rstrip(".") for z in self.lab.topology.get("zones", [])]

    def _cloud_changed(self, kind: str, object_id: str) -> None:
        self._wake.set()
        if kind in ("gtm", "record") and not self._publish_pending and self._main_loop is not None:
            # after the current handler returns: a handler may change several objects, and the
            # view must never show half of its change
            self._publish_pending = True
            self._main_loop.call_soon(self.publish)

    def publish(self) -> None:
        """Replace the view DNS and the health checker read (main loop only)."""
        self._publish_pending = False
        cloud = self._cloud()
        model = getattr(getattr(cloud, "gtm", None), "model", None)
        zones = self._zones()
        records = {z: [dict(r) for r in cloud.zone_records(z)] for z in zones} if cloud is not None else {}
        self.view = GtmView.build(zones, model.frozen() if model is not None else None, records)
        self.realtime.call(self._sync_health)

    def lookup(self, name: str, qtype: str) -> Answer:
        return self.view.lookup(name, qtype)

    def _sync_health(self) -> None:
        try:
            self.health.sync()
        except Exception:  # noqa: BLE001 - a bad target must not stop the other checks
            log.exception("health checker sync failed")

    def _health_targets(self) -> list[dict[str, Any]]:
        return self.view.health_targets

    def _set_health_threadsafe(self, address_id: str, health: str, available: str, reason: str) -> None:
        if self._main_loop is not None and not self._main_loop.is_closed():
            self._main_loop.call_soon_threadsafe(self._set_health, address_id, health, available, reason)

    def _set_health(self, address_id: str, health: str, available: str, reason: str) -> None:
        cloud = self._cloud()
        try:
            cloud.set_address_health(address_id, health, available, reason)
        except (KeyError, ValueError):
            log.warning("health verdict for unknown address %s dropped", address_id)
