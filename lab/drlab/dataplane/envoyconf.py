"""Translate Istio gateway config into Envoy LDS/CDS DiscoveryResponses, the way istiod names things.

Naming follows istiod (see shared/reference/lab-anchors.md section 3): listener
``0.0.0.0_<targetPort>`` (the lab binds the region address but keeps istiod's name),
route configuration ``http.<serverPort>``, one virtual host ``<host>:<serverPort>`` per
host with ``domains: [host]`` and ``ignore_port_in_host_matching``, a ``blackhole:<port>``
host when nothing matches (404), route names from ``VirtualService.http[].name``
(``.<match.name>`` appended for named matches), clusters ``outbound|<port>|<subset>|<fqdn>``.

ASMLocalRateLimiter becomes a per-route ``typed_per_filter_config`` for Envoy's
``local_ratelimit`` filter.  ASM's quota is per gateway pod (each istio-proxy has its own
token bucket); the lab runs one Envoy process per gateway replica, all bound to the region
address with ``SO_REUSEPORT`` (listener ``enable_reuse_port``) so the kernel spreads
connections over them, and each process holds a bucket of ``quota`` tokens, as each pod does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .locality import Endpoint, apply_locality, effective_setting

LISTENER_T = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLUSTER_T = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
HCM_T = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
RL_T = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
ROUTER_T = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
RL_FILTER = "envoy.filters.http.local_ratelimit"
RL_STAT_PREFIX = "http_local_rate_limiter"

# Ports below this are served on LISTEN_PORT_OFFSET + port so Envoy never needs root.
PRIVILEGED = 1024
LISTEN_PORT_OFFSET = 8000


def listen_port(service_port: int) -> int:
    """The port Envoy binds on the region address for a gateway Service port."""
    return service_port + LISTEN_PORT_OFFSET if service_port < PRIVILEGED else service_port


def fqdn(host: str, namespace: str) -> str:
    """Istio's short names: name, name.namespace, name.namespace.svc -> the cluster.local FQDN."""
    if host.endswith(".svc.cluster.local"):
        return host
    if host.endswith(".svc"):
        return f"{host}.cluster.local"
    if host.count(".") >= 2:  # an external name such as bookinfo.example.com
        return host
    if "." in host:  # name.namespace
        return f"{host}.svc.cluster.local"
    return f"{host}.{namespace}.svc.cluster.local"


def cluster_name(port: int, subset: str, host: str) -> str:
    return f"outbound|{port}|{subset}|{host}"


@dataclass
class GatewayInputs:
    """Everything one region's gateway Envoy is built from."""

    address: str
    region: str
    locality: str
    # (service port, target port, port name) declared by the gateway Service(s)
    ports: list[tuple[int, int, str]]
    gateways: list[dict[str, Any]] = field(default_factory=list)
    virtual_services: list[dict[str, Any]] = field(default_factory=list)
    destination_rules: list[dict[str, Any]] = field(default_factory=list)
    rate_limiters: list[dict[str, Any]] = field(default_factory=list)
    replicas: int = 1  # informational: every replica runs this same config with its own bucket
    mesh_locality: dict[str, Any] | None = None
    # (fqdn, port, subset labels) -> endpoints with localities (address/port already real)
    endpoints: Callable[[str, int, dict[str, str]], list[Endpoint]] = lambda host, port, labels: []
    # fqdn -> declared Service port when a destination names none
    service_port: Callable[[str], int | None] = lambda host: None


def _gw_refs(vs: dict[str, Any]) -> list[str]:
    ns = vs["metadata"].get("namespace", "default")
    refs = vs.get("spec", {}).get("gateways") or []
    return [r if "/" in r else f"{ns}/{r}" for r in refs]


def _host_match(gw_host: str, vs_host: str) -> bool:
    gw_host = gw_host.split("/", 1)[-1]
    if gw_host == "*" or gw_host == vs_host:
        return True
    if gw_host.startswith("*."):
        return vs_host.endswith(gw_host[1:]) or vs_host == "*"
    return vs_host == "*" or (vs_host.startswith("*.") and gw_host.endswith(vs_host[1:]))


def _match(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    uri = m.get("uri") or {}
    if "exact" in uri:
        out["path"] = uri["exact"]
    elif "prefix" in uri:
        out["prefix"] = uri["prefix"]
    elif "regex" in uri:
        out["safe_regex"] = {"regex": uri["regex"]}
    else:
        out["prefix"] = "/"
    headers = []
    for name, cond in (m.get("headers") or {}).items():
        if "exact" in cond:
            headers.append({"name": name, "string_match": {"exact": cond["exact"]}})
        elif "prefix" in cond:
            headers.append({"name": name, "string_match": {"prefix": cond["prefix"]}})
        elif "regex" in cond:
            headers.append({"name": name, "string_match": {"safe_regex": {"regex": cond["regex"]}}})
    if headers:
        out["headers"] = headers
    return out


def _duration(value: Any, default: float) -> str:
    if value is None:
        return f"{default}s"
    if isinstance(value, (int, float)):
        return f"{value}s"
    text = str(value)
    if text.endswith("ms"):
        return f"{float(text[:-2]) / 1000}s"
    if text.endswith("m"):
        return f"{float(text[:-1]) * 60}s"
    return text if text.endswith("s") else f"{text}s"


class Translator:
    def __init__(self, inputs: GatewayInputs):
        self.i = inputs
        self.clusters: dict[str, dict[str, Any]] = {}

    # -- rate limiting --------------------------------------------------------
    def _limit_for(self, vhost_name: str, server_port: int, route_name: str) -> dict[str, Any] | None:
        for rl in self.i.rate_limiters:
            spec = rl.get("spec") or {}
            if spec.get("isGateway") is False:
                continue
            for conf in spec.get("configs") or []:
                vhost = (conf.get("match") or {}).get("vhost") or {}
                if vhost.get("name") and vhost["name"] != vhost_name.rsplit(":", 1)[0]:
                    continue
                if vhost.get("port") and int(vhost["port"]) != server_port:
                    continue
                wanted = (vhost.get("route") or {}).get("name_match")
                if wanted and wanted != route_name:
                    continue
                return conf.get("limit") or {}
        return None

    def _rate_limit(self, limit: dict[str, Any]) -> dict[str, Any]:
        fill = limit.get("fill_interval") or {}
        seconds = float(fill.get("seconds", 0)) + float(fill.get("nanos", 0)) / 1e9 or 1.0
        tokens = max(int(limit.get("quota", 1)), 1)  # per replica, as ASM's per-pod buckets
        percent = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
        conf: dict[str, Any] = {
            "@type": RL_T,
            "stat_prefix": RL_STAT_PREFIX,
            "token_bucket": {"max_tokens": tokens, "tokens_per_fill": tokens, "fill_interval": f"{seconds}s"},
            "filter_enabled": {"runtime_key": "local_rate_limit_enabled", **percent},
            "filter_enforced": {"runtime_key": "local_rate_limit_enforced", **percent},
        }
        if limit.get("status"):
            conf["status"] = {"code": int(limit["status"])}
        if limit.get("per_downstream_connection"):
            conf["local_rate_limit_per_downstream_connection"] = True
        headers = limit.get("response_header_to_add") or {}
        if headers:
            conf["response_headers_to_add"] = [
                {"header": {"key": k, "value": str(v)}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                for k, v in headers.items()
            ]
        return conf

    # -- routes and clusters ------------------------------------------------------
    def _subset_labels(self, host: str, subset: str) -> tuple[dict[str, str], dict[str, Any] | None]:
        for dr in self.i.destination_rules:
            spec = dr.get("spec") or {}
            if fqdn(spec.get("host", ""), dr["metadata"].get("namespace", "default")) != host:
                continue
            if not subset:
                return {}, dr
            for sub in spec.get("subsets") or []:
                if sub.get("name") == subset:
                    return dict(sub.get("labels") or {}), dr
            return {"__missing_subset__": subset}, dr
        return ({"__missing_subset__": subset} if subset else {}), None

    def _cluster(self, host: str, port: int, subset: str) -> str:
        name = cluster_name(port, subset, host)
        if name in self.clusters:
            return name
        labels, rule = self._subset_labels(host, subset)
        policy = ((rule or {}).get("spec") or {}).get("trafficPolicy") or {}
        outlier = policy.get("outlierDetection")
        setting = effective_setting(self.i.mesh_locality, (policy.get("loadBalancer") or {}).get("localityLbSetting"))
        eps = [e for e in self.i.endpoints(host, port, labels) if e.available]
        weighted = apply_locality(self.i.region, self.i.locality, eps, setting, bool(outlier))
        groups: dict[tuple[str, int], list[Any]] = {}
        for w in weighted:
            groups.setdefault((w.endpoint.locality, w.priority), []).append(w)
        load_endpoints = []
        for (locality, priority), items in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            region, _, zone = locality.partition("/")
            entry: dict[str, Any] = {
                "locality": {"region": region, "zone": zone},
                "priority": priority,
                "lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {
                        "address": w.endpoint.address, "port_value": w.endpoint.port}}}}
                    for w in items
                ],
            }
            if setting.get("distribute"):
                entry["load_balancing_weight"] = max(sum(w.weight for w in items), 1)
            load_endpoints.append(entry)
        cluster: dict[str, Any] = {
            "@type": CLUSTER_T,
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": load_endpoints},
        }
        if outlier:
            od: dict[str, Any] = {"enforcing_consecutive_5xx": 100}
            if "consecutive5xxErrors" in outlier:
                od["consecutive_5xx"] = int(outlier["consecutive5xxErrors"])
            if "consecutiveGatewayErrors" in outlier:
                od["consecutive_gateway_failure"] = int(outlier["consecutiveGatewayErrors"])
                od["enforcing_consecutive_gateway_failure"] = 100
            od["interval"] = _duration(outlier.get("interval"), 10)
            od["base_ejection_time"] = _duration(outlier.get("baseEjectionTime"), 30)
            if "maxEjectionPercent" in outlier:
                od["max_ejection_percent"] = int(outlier["maxEjectionPercent"])
            cluster["outlier_detection"] = od
            if "minHealthPercent" in outlier:
                cluster["common_lb_config"] = {"healthy_panic_threshold": {"value": float(outlier["minHealthPercent"])}}
        if setting.get("distribute"):
            cluster.setdefault("common_lb_config", {})["locality_weighted_lb_config"] = {}
        self.clusters[name] = cluster
        return name

    def _route_action(self, http: dict[str, Any], namespace: str) -> dict[str, Any]:
        dests = http.get("route") or []
        if not dests:
            return {"direct_response": {"status": 404}}
        targets = []
        for d in dests:
            dest = d.get("destination") or {}
            host = fqdn(dest.get("host", ""), namespace)
            port = (dest.get("port") or {}).get("number") or self.i.service_port(host) or 80
            targets.append((self._cluster(host, int(port), dest.get("subset") or ""), int(d.get("weight", 100))))
        action: dict[str, Any] = {"timeout": _duration(http.get("timeout"), 15)}
        retries = http.get("retries") or {}
        if retries.get("attempts"):
            action["retry_policy"] = {"num_retries": int(retries["attempts"]),
                                      "retry_on": retries.get("retryOn") or "connect-failure,refused-stream,503"}
            if retries.get("perTryTimeout"):
                action["retry_policy"]["per_try_timeout"] = _duration(retries["perTryTimeout"], 1)
        if len(targets) == 1:
            action["cluster"] = targets[0][0]
        else:
            action["weighted_clusters"] = {"clusters": [{"name": n, "weight": w} for n, w in targets if w > 0]}
        if http.get("rewrite", {}).get("uri"):
            action["prefix_rewrite"] = http["rewrite"]["uri"]
        return {"route": action}

    def _routes(self, vs: dict[str, Any], vhost_name: str, server_port: int) -> list[dict[str, Any]]:
        namespace = vs["metadata"].get("namespace", "default")
        routes = []
        for index, http in enumerate(vs.get("spec", {}).get("http") or []):
            base = http.get("name") or f"{vs['metadata']['name']}.{namespace}.{index}"
            matches = http.get("match") or [{}]
            action = self._route_action(http, namespace)
            for m in matches:
                name = f"{base}.{m['name']}" if m.get("name") else base
                route: dict[str, Any] = {"name": name, "match": _match(m), **action}
                limit = self._limit_for(vhost_name, server_port, name)
                if limit is not None:
                    route["typed_per_filter_config"] = {RL_FILTER: self._rate_limit(limit)}
                routes.append(route)
        return routes

    def _local_reply(self) -> dict[str, Any] | None:
        # ASM's custom_response_body: a local reply mapper on Envoy-generated replies with the
        # limiter's status (this build does not tag local rate limiting with the RL flag, so the
        # match is by status only; one body per status code).
        mappers, seen = [], set()
        for rl in self.i.rate_limiters:
            for conf in (rl.get("spec") or {}).get("configs") or []:
                limit = conf.get("limit") or {}
                body = limit.get("custom_response_body")
                status = int(limit.get("status") or 429)
                if body and status not in seen:
                    seen.add(status)
                    mappers.append({
                        "filter": {"status_code_filter": {"comparison": {"op": "EQ", "value": {
                            "default_value": status, "runtime_key": f"drlab_rl_{status}"}}}},
                        "body": {"inline_string": str(body)},
                    })
        return {"mappers": mappers} if mappers else None

    # -- listeners ---------------------------------------------------------------
    def _servers_on(self, port: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        found = []
        for gw in self.i.gateways:
            for server in (gw.get("spec") or {}).get("servers") or []:
                if int((server.get("port") or {}).get("number", 0)) == port:
                    found.append((gw, server))
        return found

    def listener(self, service_port: int, target_port: int) -> dict[str, Any] | None:
        servers = self._servers_on(service_port) or self._servers_on(target_port)
        if not servers:
            return None
        vhosts: dict[str, dict[str, Any]] = {}
        for gw, server in servers:
            gw_ref = f"{gw['metadata'].get('namespace', 'default')}/{gw['metadata']['name']}"
            for vs in self.i.virtual_services:
                if gw_ref not in _gw_refs(vs):
                    continue
                for host in vs.get("spec", {}).get("hosts") or []:
                    if not any(_host_match(h, host) for h in server.get("hosts") or ["*"]):
                        continue
                    name = f"{host}:{service_port}"
                    vhost = vhosts.setdefault(name, {"name": name, "domains": [host], "routes": []})
                    vhost["routes"].extend(self._routes(vs, name, service_port))
        if not vhosts:
            vhosts[f"blackhole:{service_port}"] = {
                "name": f"blackhole:{service_port}", "domains": ["*"], "routes": []}
        hcm: dict[str, Any] = {
            "@type": HCM_T,
            "stat_prefix": f"outbound_0.0.0.0_{target_port}",
            "route_config": {
                "name": f"http.{service_port}",
                "ignore_port_in_host_matching": True,
                "virtual_hosts": list(vhosts.values()),
            },
            "http_filters": [
                {"name": RL_FILTER, "typed_config": {"@type": RL_T, "stat_prefix": RL_STAT_PREFIX}},
                {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_T}},
            ],
        }
        reply = self._local_reply()
        if reply:
            hcm["local_reply_config"] = reply
        return {
            "@type": LISTENER_T,
            "name": f"0.0.0.0_{target_port}",
            "address": {"socket_address": {"address": self.i.address, "port_value": listen_port(service_port)}},
            # every gateway replica (one Envoy process each) binds the same address and port
            "enable_reuse_port": True,
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}],
        }


def translate(inputs: GatewayInputs, version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (LDS, CDS) DiscoveryResponses for one region's gateway."""
    tr = Translator(inputs)
    listeners = []
    seen = set()
    for service_port, target_port, _name in inputs.ports:
        if listen_port(service_port) in seen:
            continue
        listener = tr.listener(service_port, target_port)
        if listener is not None:
            seen.add(listen_port(service_port))
            listeners.append(listener)
    lds = {"version_info": version, "resources": listeners}
    cds = {"version_info": version, "resources": list(tr.clusters.values())}
    return lds, cds
