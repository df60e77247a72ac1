"""What kube-controller-manager and the kubelet would add under a Deployment: a ReplicaSet per
pod template and its Pods, with owner references so deleting the Deployment takes them along.

Pods are Running and Ready as soon as they exist when the lab owns the Deployment's status;
when another component owns it (``set_external_status``), the first ``status.readyReplicas``
Pods are Ready and the others are not, so ``kubectl get pods`` agrees with the Deployment.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from .fields import now_rfc3339
from .kinds import template_hash

if TYPE_CHECKING:
    from .server import KubeServer

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the suffix alphabet of generated names
MANAGER = "kube-controller-manager"


def owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def reconcile_deployment(server: KubeServer, dep: dict[str, Any]) -> None:
    meta = dep["metadata"]
    if meta.get("deletionTimestamp"):
        return
    rs_rt = server.lookup("apps", "v1", "replicasets")
    namespace = meta["namespace"]
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    digest = template_hash(dep)
    name = f"{meta['name']}-{digest}"
    replicas = spec.get("replicas", 1)
    status = dep.get("status") or {}
    ready = replicas if server.auto_status(dep) else min(replicas, status.get("readyReplicas") or 0)
    owned = [rs for rs in server.list_objects(rs_rt, namespace, shallow=True) if owned_by(rs, meta["uid"])]
    for rs in owned:
        if rs["metadata"]["name"] != name:
            _scale(server, rs, 0, 0)  # older revisions keep their ReplicaSet, scaled to zero
    current = next((rs for rs in owned if rs["metadata"]["name"] == name), None)
    labels = {**((template.get("metadata") or {}).get("labels") or {}), "pod-template-hash": digest}
    if current is None:
        selector = dict(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), "pod-template-hash": digest}
        revision = 1 + max([int((rs["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision", "0")) for rs in owned] or [0])
        current = server.create_object(rs_rt, namespace, {
            "metadata": {"name": name, "labels": labels, "ownerReferences": [owner_ref(dep)],
                         "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                         "deployment.kubernetes.io/desired-replicas": str(replicas)}},
            "spec": {"replicas": replicas, "selector": selector,
                     "template": {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}}},
        }, manager=MANAGER)
    _scale(server, current, replicas, ready)


def _scale(server: KubeServer, rs: dict[str, Any], replicas: int, ready: int) -> None:
    rs_rt = server.lookup("apps", "v1", "replicasets")
    pod_rt = server.lookup("", "v1", "pods")
    meta = rs["metadata"]
    namespace = meta["namespace"]
    if (rs.get("spec") or {}).get("replicas") != replicas:
        rs = dict(rs, spec=dict(rs["spec"], replicas=replicas))
        rs = server.replace_object(rs_rt, namespace, meta["name"], rs, manager=MANAGER)
    pods = sorted((p for p in server.list_objects(pod_rt, namespace, shallow=True) if owned_by(p, meta["uid"])),
                  key=lambda p: p["metadata"]["creationTimestamp"] + p["metadata"]["name"])
    for extra in pods[replicas:]:
        server.delete_object(pod_rt, namespace, extra["metadata"]["name"])
    pods = pods[:replicas]
    template = (rs.get("spec") or {}).get("template") or {}
    while len(pods) < replicas:
        suffix = "".join(secrets.choice(ALPHABET) for _ in range(5))
        pod_name = f"{meta['name']}-{suffix}"
        if server.get_or_none(pod_rt, namespace, pod_name) is not None:
            continue
        pods.append(server.create_object(pod_rt, namespace, {
            "metadata": {"name": pod_name, "generateName": f"{meta['name']}-",
                         "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                         "ownerReferences": [owner_ref(rs)]},
            "spec": {**(template.get("spec") or {}), "nodeName": f"drlab-node-{server.id[:8]}"},
        }, manager=MANAGER))
    for index, pod in enumerate(pods):
        _pod_status(server, pod, index < ready)
    counts = {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": ready,
              "availableReplicas": ready}
    # Zero counts are omitted, except replicas, which ReplicaSetStatus always carries.
    status: dict[str, Any] = {k: v for k, v in counts.items() if v or k == "replicas"}
    status["observedGeneration"] = rs["metadata"].get("generation", 1)
    old = rs.get("status") or {}
    if old != status:
        server.patch_status("apps/v1", "ReplicaSet", namespace, meta["name"],
                            {**{k: None for k in old}, **status}, manager=MANAGER)


def _pod_status(server: KubeServer, pod: dict[str, Any], ready: bool) -> None:
    old = pod.get("status") or {}
    if old.get("phase") == "Running" and _is_ready(old) == ready:
        return
    now = now_rfc3339()
    started = old.get("startTime") or now
    flag = "True" if ready else "False"
    ip = old.get("podIP") or server.allocate("podIP")
    containers = (pod.get("spec") or {}).get("containers") or []
    status = {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
        ],
        "hostIP": "10.0.0.10", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": started, "qosClass": "BestEffort",
        "containerStatuses": [
            {"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": ready, "started": True,
             "restartCount": 0, "state": {"running": {"startedAt": started}}} for c in containers
        ],
    }
    server.patch_status("v1", "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"],
                        {**{k: None for k in old}, **status}, manager="kubelet")


def _is_ready(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


# -- endpoints controller -------------------------------------------------------------------
def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:  # a named container port
        for container_port in container.get("ports") or []:
            if container_port.get("name") == target:
                return container_port.get("containerPort")
    return None


def reconcile_endpoints(server: KubeServer, service: dict[str, Any]) -> None:
    """Endpoints of a Service with a selector: its Pods' IPs, ready ones apart from the others."""
    meta = service["metadata"]
    namespace = meta["namespace"]
    ep_rt = server.lookup("", "v1", "endpoints")
    pod_rt = server.lookup("", "v1", "pods")
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector or server.namespace_terminating(namespace):
        return
    pods = [p for p in server.list_objects(pod_rt, namespace, shallow=True)
            if _selects(selector, p["metadata"].get("labels") or {}) and (p.get("status") or {}).get("podIP")
            and not p["metadata"].get("deletionTimestamp")]
    ready, not_ready = [], []
    for pod in sorted(pods, key=lambda p: p["status"]["podIP"]):
        address = {"ip": pod["status"]["podIP"], "nodeName": (pod.get("spec") or {}).get("nodeName", ""),
                   "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                                 "uid": pod["metadata"]["uid"]}}
        (ready if _is_ready(pod.get("status") or {}) else not_ready).append(address)
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints",
                            "metadata": {"name": meta["name"], "namespace": namespace,
                                         "labels": dict(meta.get("labels") or {})}}
    if pods:
        ports = []
        for port in (service.get("spec") or {}).get("ports") or []:
            number = _target_port(port, pods[0])
            if number:
                entry = {"port": number, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
        subset: dict[str, Any] = {"ports": ports}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        body["subsets"] = [subset]
    existing = server.get_or_none(ep_rt, namespace, meta["name"])
    if existing is None:
        server.create_object(ep_rt, namespace, body, manager="kube-controller-manager")
    elif existing.get("subsets") != body.get("subsets") or existing["metadata"].get("labels") != body[
            "metadata"]["labels"]:
        existing = dict(existing, metadata=dict(existing["metadata"], labels=body["metadata"]["labels"]))
        existing.pop("subsets", None)
        if "subsets" in body:
            existing["subsets"] = body["subsets"]
        server.replace_object(ep_rt, namespace, meta["name"], existing, manager="kube-controller-manager")


def pod_changed(server: KubeServer, pod: dict[str, Any]) -> None:
    """A Pod came, went or changed readiness: refresh the Endpoints of the Services selecting it."""
    namespace = pod["metadata"]["namespace"]
    svc_rt = server.lookup("", "v1", "services")
    for service in server.list_objects(svc_rt, namespace, shallow=True):
        if _selects((service.get("spec") or {}).get("selector") or {}, pod["metadata"].get("labels") or {}):
            reconcile_endpoints(server, service)
