"""The standard kinds beyond the core workload set: their defaults, immutable fields, the status their
controllers would report, the events.k8s.io view of Events and the access-review answers.

Sources: the Kubernetes API reference (https://kubernetes.io/docs/reference/kubernetes-api/) for
defaults and shapes; pkg/apis/<group>/validation in kubernetes/kubernetes for which fields are
immutable and the messages ("field is immutable"); pkg/apis/events/v1 conversion for how a core/v1
Event maps onto events.k8s.io/v1.
"""

from __future__ import annotations

import json
from typing import Any

from .fields import now_rfc3339
from .resources import ResourceType


# -- defaults -----------------------------------------------------------------------------
def _template(spec: dict[str, Any], pod_spec) -> None:
    template = spec.setdefault("template", {})
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            pod_spec(template["spec"])


def default_statefulset(obj, old, allocate, pod_spec):
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _template(spec, pod_spec)


def default_daemonset(obj, old, allocate, pod_spec):
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    _template(spec, pod_spec)


def default_job(obj, old, allocate, pod_spec):
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    uid = obj["metadata"].get("uid") or (old or {}).get("metadata", {}).get("uid")
    # The Job controller's generated selector (batch/v1 Job: spec.selector defaults to controller-uid).
    if not spec.get("selector") and uid:
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.setdefault("template", {})
    if isinstance(template, dict) and uid:
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.setdefault("batch.kubernetes.io/controller-uid", uid)
        labels.setdefault("batch.kubernetes.io/job-name", obj["metadata"].get("name", ""))
        labels.setdefault("controller-uid", uid)
        labels.setdefault("job-name", obj["metadata"].get("name", ""))
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec(template["spec"])


def default_pvc(obj, old, allocate, pod_spec):
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    if not obj.get("status"):
        obj["status"] = {"phase": "Pending"}


def default_node(obj, old, allocate, pod_spec):
    if not obj.get("status"):
        obj["status"] = node_status()


def node_status() -> dict[str, Any]:
    stamp = now_rfc3339()
    return {
        "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
        "allocatable": {"cpu": "3900m", "memory": "15Gi", "pods": "110", "ephemeral-storage": "95Gi"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": stamp,
                        "lastTransitionTime": stamp}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}],
        "nodeInfo": {"kubeletVersion": "v1.31.1-drlab.1", "kubeProxyVersion": "v1.31.1-drlab.1",
                     "operatingSystem": "linux", "architecture": "amd64", "containerRuntimeVersion": "none://drlab",
                     "osImage": "drlab", "kernelVersion": "0", "machineID": "", "systemUUID": "", "bootID": ""},
    }


DEFAULTERS = {"StatefulSet": default_statefulset, "DaemonSet": default_daemonset, "Job": default_job,
              "PersistentVolumeClaim": default_pvc, "Node": default_node}


# -- immutable fields on update ----------------------------------------------------------------
def _immutable(causes, path: str, new: Any, old: Any) -> None:
    if new != old:
        causes.append(("FieldValueInvalid", path, f"Invalid value: {json.dumps(new)}: field is immutable"))


def validate_update(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, causes: list) -> None:
    if old is None or not rt.builtin:
        return
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    kind = rt.kind
    if kind in ("StatefulSet", "DaemonSet", "Job"):
        _immutable(causes, "spec.selector", spec.get("selector"), old_spec.get("selector"))
    if kind == "Job":
        _immutable(causes, "spec.template", spec.get("template"), old_spec.get("template"))
        _immutable(causes, "spec.completionMode", spec.get("completionMode"), old_spec.get("completionMode"))
    if kind == "StatefulSet":
        # apps/validation ValidateStatefulSetUpdate: only these spec fields may change.
        allowed = ("replicas", "template", "updateStrategy", "minReadySeconds", "ordinals",
                   "persistentVolumeClaimRetentionPolicy")
        if {k: v for k, v in spec.items() if k not in allowed} != {k: v for k, v in old_spec.items()
                                                                    if k not in allowed}:
            causes.append(("FieldValueForbidden", "spec", "Forbidden: updates to statefulset spec for fields other "
                           "than 'replicas', 'ordinals', 'template', 'updateStrategy', "
                           "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
    if kind == "PersistentVolumeClaim":
        def fixed(s):
            s = dict(s)
            s.pop("resources", None)
            s.pop("volumeName", None) if not (old_spec.get("volumeName")) else None
            return s
        if fixed(spec) != fixed(old_spec):
            causes.append(("FieldValueForbidden", "spec", "Forbidden: spec is immutable after creation except "
                           "resources.requests and volumeAttributesClassName for bound claims"))
    if kind == "Pod":
        def mutable(s):
            s = json.loads(json.dumps(s))
            for container in s.get("containers") or []:
                if isinstance(container, dict):
                    container.pop("image", None)
            for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds",
                        "schedulingGates"):
                s.pop(key, None)
            return s
        if mutable(spec) != mutable(old_spec):
            causes.append(("FieldValueForbidden", "spec", "Forbidden: pod updates may not change fields other than "
                           "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                           "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                           "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                           "previously negative)"))
    if kind in ("ConfigMap", "Secret") and old.get("immutable") is True:
        # core/validation ValidateConfigMapUpdate / ValidateSecretUpdate.
        if obj.get("immutable") is not True:
            causes.append(("FieldValueInvalid", "immutable", f"Invalid value: {json.dumps(obj.get('immutable'))}: "
                                                             "field is immutable"))
        for key in ("data", "binaryData") if kind == "ConfigMap" else ("data",):
            if (obj.get(key) or {}) != (old.get(key) or {}):
                causes.append(("FieldValueForbidden", key, "Forbidden: field is immutable when `immutable` is set"))
    if kind == "Secret" and obj.get("type") != old.get("type"):
        causes.append(("FieldValueInvalid", "type", f"Invalid value: {json.dumps(obj.get('type'))}: "
                                                    "field is immutable"))
    if kind == "Service":
        old_ips = old_spec.get("clusterIPs")
        if old_ips and spec.get("clusterIPs") not in (None, old_ips) and spec.get("type") != "ExternalName":
            causes.append(("FieldValueInvalid", "spec.clusterIPs[0]",
                           f"Invalid value: {json.dumps(spec.get('clusterIPs'))}: may not change once set"))


# -- what the lab's controllers report -------------------------------------------------------
def schedulable(obj: dict[str, Any], node_labels: dict[str, str]) -> bool:
    """Whether the lab's one Node matches the pod template's nodeSelector (DaemonSet scheduling)."""
    selector = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector")) or {}
    return all(node_labels.get(k) == v for k, v in selector.items())


def workload_status(kind: str, obj: dict[str, Any], node_labels: dict[str, str] | None = None) -> dict[str, Any] | None:
    """Status of a StatefulSet, DaemonSet or Job whose pods all came up (there is no kubelet to say otherwise)."""
    spec = obj.get("spec") or {}
    generation = obj["metadata"].get("generation", 1)
    if kind == "StatefulSet":
        replicas = spec.get("replicas", 1)
        revision = f"{obj['metadata']['name']}-{_hash(spec.get('template'))}"
        status = {"observedGeneration": generation, "replicas": replicas, "currentReplicas": replicas,
                  "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                  "currentRevision": revision, "updateRevision": revision, "collisionCount": 0}
        return {k: v for k, v in status.items() if v or k in ("replicas", "availableReplicas", "observedGeneration")}
    if kind == "DaemonSet":
        n = 1 if schedulable(obj, node_labels or {}) else 0
        status = {"observedGeneration": generation, "currentNumberScheduled": n, "desiredNumberScheduled": n,
                  "numberAvailable": n, "numberMisscheduled": 0, "numberReady": n, "updatedNumberScheduled": n}
        return {k: v for k, v in status.items() if v or k in ("currentNumberScheduled", "desiredNumberScheduled",
                                                              "numberMisscheduled", "numberReady",
                                                              "observedGeneration")}
    if kind == "Job":
        # Its Pods run (the lab cannot know when their command would exit), so the Job is active, not Complete.
        if spec.get("suspend"):
            return {}
        active = spec.get("parallelism", 1) if spec.get("completions") is None else min(
            spec.get("parallelism", 1), spec.get("completions", 1))
        return {"startTime": now_rfc3339(), "active": active, "ready": active, "terminating": 0,
                "uncountedTerminatedPods": {}}
    return None


def _hash(value: Any) -> str:
    import hashlib
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    return "".join("bcdfghjklmnpqrstvwxz2456789"[int(digest[i:i + 2], 16) % 27] for i in range(0, 20, 2))


# -- events.k8s.io/v1 <-> core/v1 Event ----------------------------------------------------------
_EVENTS_V1 = {"involvedObject": "regarding", "message": "note", "reportingComponent": "reportingController",
              "source": "deprecatedSource", "firstTimestamp": "deprecatedFirstTimestamp",
              "lastTimestamp": "deprecatedLastTimestamp", "count": "deprecatedCount"}


def is_events_v1(rt: ResourceType) -> bool:
    return rt.builtin and rt.group == "events.k8s.io"


def event_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    obj["apiVersion"] = "v1"
    for core, new in _EVENTS_V1.items():
        if new in obj:
            obj[core] = obj.pop(new)
    return obj


def event_from_core(obj: dict[str, Any]) -> dict[str, Any]:
    for core, new in _EVENTS_V1.items():
        if core in obj:
            obj[new] = obj.pop(core)
    obj.setdefault("eventTime", None)
    return obj


# -- access reviews --------------------------------------------------------------------------------
def review(rt: ResourceType, body: dict[str, Any]) -> dict[str, Any]:
    """The answer for the lab's identity: every lab token holds cluster-admin, as ACK's kubeconfig user does."""
    out = json.loads(json.dumps(body))
    out["apiVersion"], out["kind"] = rt.api_version, rt.kind
    out.setdefault("metadata", {})
    out["metadata"].setdefault("creationTimestamp", None)
    if rt.kind == "SelfSubjectRulesReview":
        out["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                         "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    elif rt.kind == "SelfSubjectReview":
        out["status"] = {"userInfo": {"username": "kubernetes-admin", "groups": ["system:masters",
                                                                                 "system:authenticated"]}}
    else:
        out["status"] = {"allowed": True, "reason": "drlab: the lab's credentials are bound to cluster-admin"}
    return out
