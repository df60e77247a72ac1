"""What else kube-controller-manager and the scheduler do after a write: the Deployment's revision
annotation (from its current ReplicaSet, as the deployment controller sets it), Events for what the
lab's controllers did, and the cluster's Node.

Event reasons and messages are those of kubernetes/kubernetes pkg/controller/deployment
(ScalingReplicaSet "Scaled up replica set %s from %d to %d"), pkg/controller/replicaset
(SuccessfulCreate "Created pod: %v", SuccessfulDelete "Deleted pod: %v") and the scheduler
(Scheduled "Successfully assigned %v/%v to %v"); Events are core/v1 (also served as events.k8s.io/v1).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from . import standard
from .errors import ApiError
from .fields import now_rfc3339
from .kinds import template_hash
from .standard import node_status

if TYPE_CHECKING:
    from .resources import ResourceType
    from .server import KubeServer

REVISION = "deployment.kubernetes.io/revision"
MANAGER = "kube-controller-manager"


def node_name(server: KubeServer) -> str:
    return f"drlab-node-{server.id[:8]}"  # the nodeName the lab's Pods are bound to (workloads.py)


def node_labels(server: KubeServer) -> dict[str, str]:
    node = server._stored(server.lookup("", "v1", "nodes"), None, node_name(server))
    return dict((node or {}).get("metadata", {}).get("labels") or {})


def ensure_node(server: KubeServer) -> None:
    if server.kind != "cluster":
        return
    node_rt = server.lookup("", "v1", "nodes")
    if server.get_or_none(node_rt, None, node_name(server)) is not None:
        return
    server.create_object(node_rt, None, {"metadata": {"name": node_name(server), "labels": {
        "kubernetes.io/hostname": node_name(server), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/worker": ""}}, "spec": {}}, manager="kubelet")
    node = server.get_or_none(node_rt, None, node_name(server))
    if node is not None and not (node.get("status") or {}).get("conditions"):
        server.patch_status("v1", "Node", None, node_name(server), node_status(), manager="kubelet")


def namespace_defaults(server: KubeServer, namespace: dict[str, Any]) -> None:
    """What kube-controller-manager puts into every new namespace of a cluster: the ``default``
    ServiceAccount (serviceaccount controller; "every namespace has a default service account",
    kubernetes.io/docs/concepts/security/service-accounts/#default-service-accounts) and the
    ``kube-root-ca.crt`` ConfigMap holding the cluster CA as ``ca.crt`` (root-ca-cert-publisher;
    kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/ "kube-root-ca.crt")."""
    meta = namespace.get("metadata") or {}
    if server.kind != "cluster" or meta.get("deletionTimestamp"):
        return
    name = meta["name"]
    sa_rt = server.lookup("", "v1", "serviceaccounts")
    if server.get_or_none(sa_rt, name, "default") is None:
        server.create_object(sa_rt, name, {"metadata": {"name": "default", "namespace": name}},
                             manager="kube-controller-manager")
    cm_rt = server.lookup("", "v1", "configmaps")
    if server.settings.ca_pem and server.get_or_none(cm_rt, name, "kube-root-ca.crt") is None:
        server.create_object(cm_rt, name, {"metadata": {"name": "kube-root-ca.crt", "namespace": name, "annotations": {
            "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when "
                                         "using internal endpoints such as the internal service IP or "
                                         "kubernetes.default.svc. No other usage is guaranteed across distributions "
                                         "of Kubernetes clusters."}},
            "data": {"ca.crt": server.settings.ca_pem}}, manager="kube-controller-manager")


def deployment_revision(server: KubeServer, dep: dict[str, Any]) -> None:
    """Copy the current ReplicaSet's revision onto the Deployment, as the deployment controller does."""
    meta = dep["metadata"]
    if meta.get("deletionTimestamp"):
        return
    rs_rt = server.lookup("apps", "v1", "replicasets")
    current = server._stored(rs_rt, meta["namespace"], f"{meta['name']}-{template_hash(dep)}")
    if current is None:
        return
    revision = (current["metadata"].get("annotations") or {}).get(REVISION)
    dep_rt = server.lookup("apps", "v1", "deployments")
    stored = server._stored(dep_rt, meta["namespace"], meta["name"])
    if not revision or stored is None or (stored["metadata"].get("annotations") or {}).get(REVISION) == revision:
        return
    updated = server.render(dep_rt, stored)
    updated["metadata"].setdefault("annotations", {})[REVISION] = revision
    server._write_raw(dep_rt, stored, updated, False)


def _owner(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("kind") == kind), None)


def event(server: KubeServer, involved: dict[str, Any], reason: str, message: str, component: str,
          event_type: str = "Normal") -> None:
    """One core/v1 Event about ``involved`` (an object or an owner reference with its namespace)."""
    namespace = involved.get("namespace") or "default"
    if server.namespace_terminating(namespace):
        return
    stamp = now_rfc3339()
    ref = {k: involved[k] for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")
           if involved.get(k)}
    body = {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{involved['name']}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message, "type": event_type,
            "source": {"component": component}, "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": component, "reportingInstance": ""}
    try:
        server.create_object(server.lookup("", "v1", "events"), namespace, body, manager=component)
    except ApiError:
        pass  # an Event is best effort, as the real recorder's are


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion"), "name": meta["name"],
            "namespace": meta.get("namespace"), "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}


def record(server: KubeServer, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    """Events for a write the lab's controllers made (new None: a deletion)."""
    if not rt.builtin or rt.kind not in ("ReplicaSet", "Pod"):
        return
    obj = new if new is not None else old
    if obj is None:
        return
    namespace = obj["metadata"].get("namespace")
    if rt.kind == "ReplicaSet":
        owner = _owner(obj, "Deployment")
        before = ((old or {}).get("spec") or {}).get("replicas", 0) if old is not None else 0
        after = ((new or {}).get("spec") or {}).get("replicas", 0) if new is not None else before
        if owner and new is not None and before != after:
            direction = "up" if after > before else "down"
            event(server, {**owner, "namespace": namespace}, "ScalingReplicaSet",
                  f"Scaled {direction} replica set {obj['metadata']['name']} from {before} to {after}",
                  "deployment-controller")
        return
    owner = _owner(obj, "ReplicaSet")
    if old is None and new is not None:
        if owner:
            event(server, {**owner, "namespace": namespace}, "SuccessfulCreate",
                  f"Created pod: {obj['metadata']['name']}", "replicaset-controller")
        node = (obj.get("spec") or {}).get("nodeName")
        if node:
            event(server, {**_ref(obj), "kind": "Pod", "apiVersion": "v1"}, "Scheduled",
                  f"Successfully assigned {namespace}/{obj['metadata']['name']} to {node}", "default-scheduler")
    elif new is None and owner:
        event(server, {**owner, "namespace": namespace}, "SuccessfulDelete",
              f"Deleted pod: {obj['metadata']['name']}", "replicaset-controller")


# -- Pods of StatefulSets, DaemonSets, Jobs and bare Pods ----------------------------------------------
def _pod_body(server: KubeServer, owner: dict[str, Any], name: str, extra_labels: dict[str, str]) -> dict[str, Any]:
    template = (owner.get("spec") or {}).get("template") or {}
    labels = {**((template.get("metadata") or {}).get("labels") or {}), **extra_labels}
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    return {"metadata": {"name": name, "labels": labels, "ownerReferences": [ref],
                         "annotations": dict((template.get("metadata") or {}).get("annotations") or {})},
            "spec": {**(template.get("spec") or {}), "nodeName": node_name(server)}}


def reconcile_pods(server: KubeServer, rt: ResourceType, obj: dict[str, Any], deleted: bool) -> None:
    """The StatefulSet, DaemonSet and Job controllers (and, for a bare Pod, the scheduler and kubelet):
    Pods that exist, bound to the lab's Node, Running and Ready at once (a Job's too: nothing tells the lab
    when their command would exit)."""
    from . import workloads  # the kubelet's Running/Ready status lives with the Deployment Pods' one

    if deleted or not rt.builtin or obj["metadata"].get("deletionTimestamp") or not server.settings.simulate_pods:
        return
    pod_rt = server.lookup("", "v1", "pods")
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    if rt.kind == "Pod":
        if meta.get("ownerReferences") or (obj.get("status") or {}).get("phase") != "Pending":
            return
        stored = server._stored(pod_rt, namespace, meta["name"])
        if stored is None:
            return
        if not (stored.get("spec") or {}).get("nodeName"):
            bound = server.render(pod_rt, stored)
            bound["spec"]["nodeName"] = node_name(server)  # the scheduler's Binding
            server._write_raw(pod_rt, stored, bound, False)
            event(server, {**_ref(bound), "kind": "Pod", "apiVersion": "v1"}, "Scheduled",
                  f"Successfully assigned {namespace}/{meta['name']} to {node_name(server)}", "default-scheduler")
        workloads._pod_status(server, server.get_object(pod_rt, namespace, meta["name"]), True)
        return
    if rt.kind not in ("StatefulSet", "DaemonSet", "Job"):
        return
    spec = obj.get("spec") or {}
    digest = template_hash(obj)
    owned = [p for p in server.list_objects(pod_rt, namespace, shallow=True)
             if any(r.get("uid") == meta["uid"] for r in p["metadata"].get("ownerReferences") or [])]
    if rt.kind == "StatefulSet":
        wanted = {f"{meta['name']}-{i}" for i in range(spec.get("replicas", 1))}
        labels = {"controller-revision-hash": f"{meta['name']}-{digest}"}
    elif rt.kind == "DaemonSet":
        wanted = {p["metadata"]["name"] for p in owned
                  if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == digest}
        if not standard.schedulable(obj, node_labels(server)):
            wanted = set()
        elif not wanted:
            wanted = {f"{meta['name']}-{secrets.token_hex(3)[:5]}"}
        labels = {"controller-revision-hash": digest, "pod-template-generation": str(meta.get("generation", 1))}
    else:
        if spec.get("suspend"):
            return
        wanted = {p["metadata"]["name"] for p in owned} or {
            f"{meta['name']}-{secrets.token_hex(3)[:5]}" for _ in range(min(spec.get("parallelism", 1),
                                                                           spec.get("completions") or 1))}
        labels = {}
    for pod in owned:
        stale = rt.kind != "Job" and (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != \
            labels.get("controller-revision-hash")
        if pod["metadata"]["name"] not in wanted or stale:
            server.delete_object(pod_rt, namespace, pod["metadata"]["name"])
    for name in sorted(wanted):
        if server._stored(pod_rt, namespace, name) is not None:
            continue
        extra = dict(labels)
        if rt.kind == "StatefulSet":
            extra["statefulset.kubernetes.io/pod-name"] = name
            extra["apps.kubernetes.io/pod-index"] = name.rsplit("-", 1)[-1]
        pod = server.create_object(pod_rt, namespace, _pod_body(server, obj, name, extra), manager=MANAGER)
        workloads._pod_status(server, pod, True)
