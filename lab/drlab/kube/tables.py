"""``meta.k8s.io/v1`` Table replies, which ``kubectl get`` asks for to print columns."""

from __future__ import annotations

import calendar
import time
from typing import Any

from .resources import ResourceType


def _age(stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    seconds = max(0, int(time.time() - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _ports(obj: dict[str, Any]) -> str:
    parts = []
    for port in (obj.get("spec") or {}).get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _external_ip(obj: dict[str, Any]) -> str:
    ingress = (((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")) or []
    ips = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
    if ips:
        return ",".join(ips)
    return "<pending>" if (obj.get("spec") or {}).get("type") == "LoadBalancer" else "<none>"


def _columns(rt: ResourceType) -> list[tuple[str, str, Any]]:
    if not rt.builtin:
        return []
    status = lambda o: o.get("status") or {}  # noqa: E731
    spec = lambda o: o.get("spec") or {}  # noqa: E731
    if rt.kind == "Deployment":
        return [
            ("Ready", "string", lambda o: f"{status(o).get('readyReplicas', 0)}/{spec(o).get('replicas', 1)}"),
            ("Up-to-date", "integer", lambda o: status(o).get("updatedReplicas", 0)),
            ("Available", "integer", lambda o: status(o).get("availableReplicas", 0)),
        ]
    if rt.kind == "Namespace":
        return [("Status", "string", lambda o: status(o).get("phase", ""))]
    if rt.kind == "Service":
        return [("Type", "string", lambda o: spec(o).get("type", "")),
                ("Cluster-IP", "string", lambda o: spec(o).get("clusterIP", "<none>")),
                ("External-IP", "string", _external_ip), ("Port(s)", "string", _ports)]
    if rt.kind == "ReplicaSet":
        return [("Desired", "integer", lambda o: spec(o).get("replicas", 1)),
                ("Current", "integer", lambda o: status(o).get("replicas", 0)),
                ("Ready", "integer", lambda o: status(o).get("readyReplicas", 0))]
    if rt.kind == "Pod":
        def ready(o):
            containers = status(o).get("containerStatuses") or []
            total = len(spec(o).get("containers") or [])
            return f"{sum(1 for c in containers if c.get('ready'))}/{total}"

        return [("Ready", "string", ready), ("Status", "string", lambda o: status(o).get("phase", "")),
                ("Restarts", "string", lambda o: str(sum(c.get("restartCount", 0)
                                                         for c in status(o).get("containerStatuses") or [])))]
    # The columns kubectl prints for these kinds (kubernetes/pkg/printers/internalversion/printers.go).
    if rt.kind == "StatefulSet":
        return [("Ready", "string", lambda o: f"{status(o).get('readyReplicas', 0)}/{spec(o).get('replicas', 1)}")]
    if rt.kind == "DaemonSet":
        return [(name, "integer", lambda o, key=key: status(o).get(key, 0)) for name, key in (
            ("Desired", "desiredNumberScheduled"), ("Current", "currentNumberScheduled"), ("Ready", "numberReady"),
            ("Up-to-date", "updatedNumberScheduled"), ("Available", "numberAvailable"))]
    if rt.kind == "Job":
        return [("Status", "string", lambda o: "Complete" if status(o).get("succeeded") else "Running"),
                ("Completions", "string", lambda o: f"{status(o).get('succeeded', 0)}/{spec(o).get('completions', 1)}")]
    if rt.kind == "Node":
        def node_ready(o):
            ready = [c for c in status(o).get("conditions") or [] if c.get("type") == "Ready"]
            return "Ready" if ready and ready[0].get("status") == "True" else "NotReady"

        return [("Status", "string", node_ready), ("Roles", "string", lambda o: ",".join(
            k.split("/", 1)[1] for k in (o["metadata"].get("labels") or {})
            if k.startswith("node-role.kubernetes.io/")) or "<none>"),
                ("Version", "string", lambda o: (status(o).get("nodeInfo") or {}).get("kubeletVersion", ""))]
    if rt.kind == "PersistentVolumeClaim":
        return [("Status", "string", lambda o: status(o).get("phase", ""))]
    if rt.kind == "Event":
        return [("Type", "string", lambda o: o.get("type", "")), ("Reason", "string", lambda o: o.get("reason", "")),
                ("Message", "string", lambda o: o.get("message", o.get("note", "")))]
    return []


def table_for(rt: ResourceType, items: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    columns = [("Name", "string", lambda o: o["metadata"]["name"]), *_columns(rt),
               ("Age", "string", lambda o: _age(o["metadata"].get("creationTimestamp")))]
    definitions = [{"name": name, "type": kind, "format": "name" if name == "Name" else "", "description": name,
                    "priority": 0} for name, kind, _ in columns]
    rows = []
    for obj in items:
        partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
        rows.append({"cells": [getter(obj) for _, _, getter in columns], "object": partial})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": definitions,
            "rows": rows}
