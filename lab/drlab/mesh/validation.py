"""The checks istiod's validating webhook makes for Gateway, VirtualService and DestinationRule.

ASM runs istiod's ``validation.istio.io`` webhook in front of the mesh's API server, so an
object that passes its CRD schema can still be refused.  The lab runs the subset of those
checks the collection's objects (and the usual mistakes) hit, with istiod's messages.  Source,
read at istio/istio tag 1.24.6 (facts only): pkg/config/validation/validation.go
(ValidateGateway, validateServer, validateServerPort, ValidateDestinationRule, validateSubset,
validateHTTPRouteDestinations, validateRouteDestinations, validateDestination, validateWeight),
pkg/config/validation/virtualservice.go (validateHTTPRoute, validateHTTPRouteConflict),
pkg/config/validation/agent/validation.go (ValidatePort, ValidateWildcardDomain,
ValidateDNS1123Labels, ValidateLocalityLbSetting), pkg/config/protocol/instance.go (Parse),
pkg/config/labels/instance.go (DNS-1123 label and wildcard prefix formats), and
pkg/webhooks/validation/server/server.go ("configuration is invalid: ..." and the multi-error
format of pkg/util/istiomultierror).
"""

from __future__ import annotations

import re
from typing import Any

WEBHOOK = "validation.istio.io"
# protocol.Parse accepts these, case-insensitively; anything else is "UnsupportedProtocol".
PROTOCOLS = {"tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis",
             "mysql"}
_TLS_PROTOCOLS = {"https", "tls"}
_LABEL = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS1123_LABEL = re.compile(f"^{_LABEL}$")
_WILDCARD_PREFIX = re.compile(rf"^(\*|(\*|\*-)?{_LABEL})$")


def _is_label(value: str) -> bool:
    return len(value) <= 63 and bool(_DNS1123_LABEL.match(value))


def _dns_labels(domain: str) -> str | None:
    parts = domain.split(".")
    if parts[-1].isdigit():
        return f'domain name "{domain}" invalid (top level domain "{parts[-1]}" cannot be all-numeric)'
    for index, label in enumerate(parts):
        if index == len(parts) - 1 and label == "":
            return None  # a trailing dot is allowed
        if not _is_label(label):
            return f'domain name "{domain}" invalid (label "{label}" invalid)'
    return None


def wildcard_domain(domain: str) -> str | None:
    """agent.ValidateWildcardDomain."""
    if len(domain) > 255:
        return f'domain name "{domain}" too long (max 255)'
    if not domain:
        return "empty domain name not allowed"
    first, _, rest = domain.partition(".")
    if len(first) > 63 or not _WILDCARD_PREFIX.match(first):
        return f'domain name "{domain}" invalid (label "{first}" invalid)'
    return _dns_labels(rest) if rest else None


def _port_number(number: Any) -> str | None:
    if isinstance(number, int) and 1 <= number <= 65535:
        return None
    return f"port number {number} must be in the range 1..65535"


# -- Gateway ---------------------------------------------------------------------------------------
def gateway(name: str, spec: dict[str, Any]) -> list[str]:
    errors = []
    if not _is_label(name):
        errors.append(f'invalid gateway name: "{name}"')
    servers = spec.get("servers") or []
    if not servers:
        errors.append("gateway must have at least one server")
    for server in servers:
        errors.extend(_server(server or {}))
    seen: set[str] = set()
    for server in servers:
        port = (server or {}).get("port")
        if isinstance(port, dict):
            port_name = port.get("name", "")
            if port_name in seen:
                errors.append(f"port names in servers must be unique: duplicate name {port_name}")
            seen.add(port_name)
    return errors


def _server(server: dict[str, Any]) -> list[str]:
    errors = []
    hosts = server.get("hosts") or []
    if not hosts:
        errors.append("server config must contain at least one host")
    for host in hosts:
        # agent.ValidateNamespaceSlashWildcardHostname: optional "<namespace>/" then a wildcard domain
        namespace, slash, hostname = host.rpartition("/")
        if slash and namespace not in ("*", ".", "~") and not _is_label(namespace):
            errors.append(f"invalid namespace value {namespace} in host {host}")
        if hostname != "*":
            error = wildcard_domain(hostname)
            if error:
                errors.append(error)
    port = server.get("port")
    port_errors = []
    if not isinstance(port, dict):
        port_errors.append("port is required")
    else:
        protocol = str(port.get("protocol", ""))
        if protocol.lower() not in PROTOCOLS:
            port_errors.append(f'invalid protocol "{protocol}", supported protocols are HTTP, HTTP2, GRPC, '
                               "GRPC-WEB, MONGO, REDIS, MYSQL, TCP")
        if not str(server.get("bind", "")).startswith("unix://") or port.get("number"):
            error = _port_number(port.get("number", 0))
            if error:
                port_errors.append(error)
        if port.get("targetPort"):
            port_errors.append("targetPort has no impact on Gateways")
        if not port.get("name"):
            port_errors.append(f"port name must be set: number:{port.get('number', 0)} "
                               f"protocol:\"{port.get('protocol', '')}\"")
    errors.extend(port_errors)
    if not port_errors:
        is_tls = str(port.get("protocol", "")).lower() in _TLS_PROTOCOLS
        if is_tls and server.get("tls") is None:
            errors.append("server must have TLS settings for HTTPS/TLS protocols")
        elif not is_tls and server.get("tls") is not None and str(port.get("protocol", "")).lower() not in (
                "http", "http2", "http_proxy", "grpc", "grpc-web"):
            errors.append("server cannot have TLS settings for non HTTPS/TLS ports")
    return errors


# -- VirtualService --------------------------------------------------------------------------------
def virtual_service(name: str, spec: dict[str, Any]) -> list[str]:
    errors = []
    hosts = spec.get("hosts") or []
    gateways = spec.get("gateways") or []
    delegate = not hosts
    if delegate:
        if gateways:
            errors.append("delegate virtual service must have no gateways specified")
        if spec.get("tls"):
            errors.append("delegate virtual service must have no tls route specified")
        if spec.get("tcp"):
            errors.append("delegate virtual service must have no tcp route specified")
    applies_to_mesh = not gateways or "mesh" in gateways
    for host in hosts:
        error = wildcard_domain(host)
        if error and not _is_ip(host):
            errors.append(error)
        elif not error and applies_to_mesh and host == "*":
            errors.append("wildcard host * is not allowed for virtual services bound to the mesh gateway")
    if not spec.get("http") and not spec.get("tcp") and not spec.get("tls"):
        errors.append("http, tcp or tls must be provided in virtual service")
    for route in spec.get("http") or []:
        if route is None:
            errors.append("http route may not be null")
            continue
        errors.extend(_http_route(route, delegate))
    for route in spec.get("tcp") or []:
        if not (route or {}).get("route"):
            errors.append("TCP route is required")
        errors.extend(_destinations((route or {}).get("route") or []))
    for route in spec.get("tls") or []:
        if not (route or {}).get("match"):
            errors.append("TLS route must have at least one match condition")
        if not (route or {}).get("route"):
            errors.append("TLS route is required")
        errors.extend(_destinations((route or {}).get("route") or []))
    return errors


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _http_route(route: dict[str, Any], delegate: bool) -> list[str]:
    errors = []
    if not delegate and route.get("delegate") is not None:  # a root route may only delegate
        if route.get("redirect") is not None:
            errors.append(f"root HTTP route {route.get('name', '')} must not specify redirect")
        if route.get("route") is not None:
            errors.append(f"root HTTP route {route.get('name', '')} must not specify route")
    else:
        if delegate and route.get("delegate") is not None:
            errors.append("delegate HTTP route cannot contain delegate")
        destinations = route.get("route") or []
        if route.get("redirect") is not None:
            for other, label in (("route", "HTTP route cannot contain both route and redirect"),
                                 ("fault", "HTTP route cannot contain both fault and redirect"),
                                 ("rewrite", "HTTP route rule cannot contain both rewrite and redirect"),
                                 ("directResponse", "HTTP route rule cannot contain both direct_response and "
                                                    "redirect")):
                if route.get(other):
                    errors.append(label)
        elif route.get("directResponse") is not None:
            for other, label in (("route", "HTTP route cannot contain both route and direct_response"),
                                 ("fault", "HTTP route cannot contain both fault and direct_response"),
                                 ("rewrite", "HTTP route rule cannot contain both rewrite and direct_response")):
                if route.get(other):
                    errors.append(label)
        elif not destinations:
            errors.append("HTTP route, redirect or direct_response is required")
    if route.get("mirror") is not None and route.get("mirrors"):
        errors.append("HTTP route cannot contain both mirror and mirrors")
    percentage = (route.get("mirrorPercentage") or {}).get("value")
    if isinstance(percentage, (int, float)) and percentage > 100:
        errors.append(f"mirror_percentage must have a max value of 100 (it has {float(percentage):f})")
    if route.get("mirror") is not None:
        errors.extend(_destination(route["mirror"]))
    errors.extend(_destinations(route.get("route") or []))
    return errors


def _destinations(routes: list[Any]) -> list[str]:
    errors = []
    total = 0
    for entry in routes:
        if entry is None:
            errors.append("weight may not be nil")
            continue
        if entry.get("destination") is None:
            errors.append("destination is required")
        else:
            errors.extend(_destination(entry["destination"]))
        weight = entry.get("weight") or 0
        if isinstance(weight, int) and weight < 0:
            errors.append(f"weight {weight} < 0")
        total += weight if isinstance(weight, int) else 0
    if len(routes) > 1 and total == 0:
        errors.append("total destination weight = 0")
    return errors


def _destination(destination: dict[str, Any]) -> list[str]:
    errors = []
    host = destination.get("host", "")
    if host == "*":
        errors.append(f"invalid destination host {host}")
    else:
        error = wildcard_domain(host)
        if error:
            errors.append(error)
    subset = destination.get("subset")
    if subset is not None and subset != "":
        if not _is_label(subset):
            errors.append(f"subset name is invalid: {subset}")
    port = destination.get("port")
    if isinstance(port, dict) and "number" in port:
        error = _port_number(port["number"])
        if error:
            errors.append(error)
    return errors


# -- DestinationRule -------------------------------------------------------------------------------
def destination_rule(name: str, spec: dict[str, Any]) -> list[str]:
    errors = []
    error = wildcard_domain(spec.get("host", ""))
    if error:
        errors.append(error)
    errors.extend(_traffic_policy(spec.get("trafficPolicy")))
    seen: set[str] = set()
    for subset in spec.get("subsets") or []:
        if subset is None:
            errors.append("subset may not be null")
            continue
        subset_name = subset.get("name", "")
        if subset_name in seen:
            errors.append(f"duplicate subset names: {subset_name}")
        seen.add(subset_name)
        if not subset_name:
            errors.append("subset name cannot be empty")
        elif not _is_label(subset_name):
            errors.append(f"subset name is invalid: {subset_name}")
        errors.extend(_traffic_policy(subset.get("trafficPolicy")))
    return errors


def _traffic_policy(policy: dict[str, Any] | None) -> list[str]:
    if not policy:
        return []
    errors = []
    lb = (policy.get("loadBalancer") or {}).get("localityLbSetting")
    if lb:
        errors.extend(_locality(lb))
    for setting in policy.get("portLevelSettings") or []:
        port = (setting or {}).get("port") or {}
        if "number" in port:
            error = _port_number(port["number"])
            if error:
                errors.append(error)
        errors.extend(_traffic_policy({k: v for k, v in (setting or {}).items() if k != "port"}))
    return errors


def _locality(lb: dict[str, Any]) -> list[str]:
    distribute = lb.get("distribute") or []
    failover = lb.get("failover") or []
    if distribute and failover:
        return ["can not simultaneously specify 'distribute' and 'failover'"]
    if failover:
        for label in lb.get("failoverPriority") or []:
            if label in ("topology.kubernetes.io/region", "topology.kubernetes.io/zone",
                         "topology.istio.io/subzone"):
                return [f"can not simultaneously set 'failover' and topology label '{label}' in "
                        "'failover_priority'"]
    for entry in distribute:
        weights = (entry or {}).get("to") or {}
        if any(not isinstance(w, int) or w <= 0 or w > 100 for w in weights.values()):
            return ["locality weight must be in range [1, 100]"]
        total = sum(weights.values())
        if total != 100:
            return [f"total locality weight {total} != 100"]
    errors = []
    for entry in failover:
        source, target = (entry or {}).get("from", ""), (entry or {}).get("to", "")
        if source == target:
            errors.append("locality lb failover settings must specify different regions")
        if "/" in source or "/" in target:
            errors.append("locality lb failover only specify region")
        if "*" in source or "*" in target:
            errors.append("locality lb failover region should not contain '*' wildcard")
    return errors


_CHECKS = {"Gateway": gateway, "VirtualService": virtual_service, "DestinationRule": destination_rule}


def check(server: Any, rt: Any, new: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    """The webhook's verdict on a networking.istio.io object: istiod's error messages, empty if allowed."""
    handler = _CHECKS.get(rt.kind)
    if handler is None or (new.get("metadata") or {}).get("deletionTimestamp"):
        return []
    spec = new.get("spec")
    return handler((new.get("metadata") or {}).get("name", ""), spec if isinstance(spec, dict) else {})
