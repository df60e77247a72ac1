"""How many Kubernetes API requests the lab's servers answered, by kind: what `drlab calls` prints
beside the cloud API counters, so a benchmark or a test can tell a no-change run (reads only) from
one that wrote.

A request with ``dryRun=All`` is counted apart from the writes: the apiserver runs admission and
validation for it and persists nothing (API concepts, "Dry-run"), so it is what an exact check mode
costs, not a change.  A write request that persisted nothing is counted as ``no_op`` (the object came
out the same, so the apiserver kept its resourceVersion: k8s.io/apiserver storage/etcd3 store.go
GuaranteedUpdate returns the existing object when the new bytes equal the stored ones) or ``refused``
(an error status, e.g. 415 for a strategic merge patch of a custom resource, which kubernetes.core then
retries as a merge patch).  Discovery (``/api``, ``/apis``, a group version's resource list, ``/version``,
``/openapi``) is counted apart from the object reads: it is client start-up, not work on resources.
"""

from __future__ import annotations

import contextvars
from collections import Counter
from typing import Any

WRITE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
KINDS = ("discovery", "read", "watch", "dry_run", "write", "no_op", "refused")

# Set for the request being served (each request runs in its own asyncio task, so its context is its own;
# a controller's later writes in their own tasks do not count for it).
_persisted: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("drlab_kube_persisted", default=None)


def begin_request() -> contextvars.Token:
    return _persisted.set([False])


def note_persisted() -> None:
    """The server stored a change while serving the current request (KubeServer calls it when it saves)."""
    flag = _persisted.get()
    if flag is not None:
        flag[0] = True


def end_request(token: contextvars.Token) -> bool:
    """Whether the request stored anything."""
    flag = _persisted.get()
    _persisted.reset(token)
    return bool(flag and flag[0])


def kind_of(method: str, parts: list[str], query: dict[str, str], status: int = 200, persisted: bool = True) -> str:
    """The counter a request adds to, from what was asked and how it was answered."""
    if method in WRITE_METHODS:
        if status >= 400:
            return "refused"
        if query.get("dryRun") == "All":
            return "dry_run"
        return "write" if persisted else "no_op"
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

    def record(self, method: str, parts: list[str], query: dict[str, str], status: int, persisted: bool) -> None:
        kind = kind_of(method, parts, query, status, persisted)
        self.kinds[kind] += 1
        self.requests[f"{method} {kind} {_resource(parts)}"] += 1

    def report(self) -> dict[str, Any]:
        return {"total": sum(self.kinds.values()), **{k: self.kinds.get(k, 0) for k in KINDS},
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
