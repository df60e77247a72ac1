"""How many Kubernetes API requests the lab's servers answered, by kind: what `drlab calls` prints
beside the cloud API counters, so a benchmark or a test can tell a no-change run (reads only) from
one that wrote.

A request with ``dryRun=All`` is counted apart from the writes: the apiserver runs admission and
validation for it and persists nothing (API concepts, "Dry-run"), so it is what an exact check mode
costs, not a change.  Discovery (``/api``, ``/apis``, a group version's resource list, ``/version``,
``/openapi``) is counted apart from the object reads: it is client start-up, not work on resources.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

WRITE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))


def kind_of(method: str, parts: list[str], query: dict[str, str]) -> str:
    """discovery, read, watch, dry_run or write: the counter a request adds to."""
    if method in WRITE_METHODS:
        return "dry_run" if query.get("dryRun") == "All" else "write"
    if query.get("watch") in ("1", "true"):
        return "watch"
    if _discovery(parts):
        return "discovery"
    return "read"


def _discovery(parts: list[str]) -> bool:
    if not parts or parts[0] in ("version", "openapi", "healthz", "livez", "readyz"):
        return True
    if parts[0] == "api":
        return len(parts) <= 2  # /api, /api/v1
    return parts[0] == "apis" and len(parts) <= 3  # /apis, /apis/<group>, /apis/<group>/<version>


class KubeCalls:
    """Counters since the lab started or since the last reset, per kind and per ``METHOD kind path``
    (the resource's plural, its subresource if any), for every server together."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()

    def record(self, method: str, parts: list[str], query: dict[str, str]) -> None:
        kind = kind_of(method, parts, query)
        self.kinds[kind] += 1
        self.requests[f"{method} {kind} {_resource(parts)}"] += 1

    def report(self) -> dict[str, Any]:
        return {"total": sum(self.kinds.values()), **{k: self.kinds.get(k, 0) for k in
                                                       ("discovery", "read", "watch", "dry_run", "write")},
                "requests": dict(sorted(self.requests.items()))}

    def reset(self) -> dict[str, Any]:
        report = self.report()
        self.kinds.clear()
        self.requests.clear()
        return report


def _resource(parts: list[str]) -> str:
    """The resource a path names (``namespaces``, ``deployments/status``), or the discovery path."""
    if _discovery(parts):
        return "/" + "/".join(parts)
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]  # /namespaces/<ns>/<plural>...
    plural = rest[0] if rest else ""
    sub = rest[2] if len(rest) >= 3 else ""
    return f"{plural}/{sub}" if sub else plural
