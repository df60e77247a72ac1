"""Per-kind behaviour of the built-in kinds: defaulting, validation and the Deployment controller's status.

Only what the project's clients observe is modelled: defaulted fields that show up
in diffs (Service clusterIP/ports, Deployment strategy...), the validation errors
``kubectl``/kubernetes.core users hit, and Deployment status as kube-controller-manager
reports it once all replicas are up.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from typing import Any

from . import standard
from .errors import ApiError, bad_request, conflict, invalid
from .fields import now_rfc3339
from .resources import ResourceType

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_NAMES = {"Namespace", "Service"}  # kinds whose names must be DNS-1123 labels


# -- decoding ---------------------------------------------------------------------
def check_shape(rt: ResourceType, obj: Any) -> None:
    """What Go's JSON decoding rejects with 400 before any validation runs."""
    if not isinstance(obj, dict):
        raise bad_request(f"the body of the request could not be decoded as a {rt.kind}")
    for key in ("metadata", "spec"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], dict):
            go_type = "ObjectMeta" if key == "metadata" else f"{rt.kind}Spec"
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: json: cannot '
                              f'unmarshal {type(obj[key]).__name__} into Go struct field {rt.kind}.{key} of type '
                              f'v1.{go_type}')
    meta = obj.get("metadata") or {}
    for key in ("labels", "annotations"):
        values = meta.get(key)
        if values is not None and (not isinstance(values, dict)
                                   or not all(isinstance(v, str) for v in values.values())):
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: json: cannot '
                              f'unmarshal into Go struct field ObjectMeta.metadata.{key} of type string')
    if rt.builtin and rt.kind in ("ConfigMap", "Secret"):
        for key in ("data", "stringData", "binaryData"):
            values = obj.get(key)
            if values is not None and (not isinstance(values, dict)
                                       or not all(isinstance(v, str) for v in values.values())):
                raise bad_request(f'{rt.kind} in version "v1" cannot be handled as a {rt.kind}: json: cannot '
                                  f'unmarshal into Go struct field {rt.kind}.{key} of type string')
        # Secret.data and ConfigMap.binaryData are []byte: Go decodes them as standard base64.
        binary = (obj.get("data") if rt.kind == "Secret" else obj.get("binaryData")) or {}
        for value in binary.values():
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                raise bad_request(f'{rt.kind} in version "v1" cannot be handled as a {rt.kind}: illegal base64 '
                                  "data at input byte 0") from None


# -- version conversion -------------------------------------------------------------------
def _is_hpa_v1(rt: ResourceType) -> bool:
    return rt.builtin and rt.group == "autoscaling" and rt.version == "v1"


def to_storage(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """HorizontalPodAutoscalers are stored as autoscaling/v2, whatever version wrote them."""
    if standard.is_events_v1(rt):
        return standard.event_to_core(obj)
    if not _is_hpa_v1(rt):
        return obj
    obj["apiVersion"] = "autoscaling/v2"
    spec = obj.get("spec") or {}
    target = spec.pop("targetCPUUtilizationPercentage", None)
    if target is not None:
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": target}}}]
    status = obj.get("status") or {}
    current = status.pop("currentCPUUtilizationPercentage", None)
    if current is not None:
        status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": current}}}]
    return obj


def from_storage(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 view of a stored HPA: only the CPU utilisation target survives, as in Kubernetes."""
    if standard.is_events_v1(rt):
        return standard.event_from_core(obj)
    if not _is_hpa_v1(rt):
        return obj
    spec = obj.get("spec")
    if isinstance(spec, dict):
        metrics = spec.pop("metrics", None) or []
        spec.pop("behavior", None)
        for metric in metrics:
            resource = metric.get("resource") or {}
            if resource.get("name") == "cpu" and (resource.get("target") or {}).get("type") == "Utilization":
                spec["targetCPUUtilizationPercentage"] = resource["target"].get("averageUtilization")
    status = obj.get("status")
    if isinstance(status, dict):
        status.pop("conditions", None)
        for metric in status.pop("currentMetrics", None) or []:
            resource = metric.get("resource") or {}
            if resource.get("name") == "cpu" and "averageUtilization" in (resource.get("current") or {}):
                status["currentCPUUtilizationPercentage"] = resource["current"]["averageUtilization"]
    return obj


# -- defaulting ---------------------------------------------------------------------
def apply_defaults(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, allocate) -> None:
    if not rt.builtin:
        return
    handler = _DEFAULTERS.get(rt.kind)
    if handler:
        handler(obj, old, allocate)
    elif rt.kind in standard.DEFAULTERS:
        standard.DEFAULTERS[rt.kind](obj, old, allocate, _pod_spec)


def _namespace(obj, old, allocate):
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    if not obj.get("status"):
        obj["status"] = {"phase": "Active"}


def _service(obj, old, allocate):
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName":
        if "clusterIP" not in spec or spec.get("clusterIP") == "":
            spec["clusterIP"] = old_spec.get("clusterIP") or allocate("clusterIP")
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    old_ports = {p.get("port"): p for p in old_spec.get("ports") or [] if isinstance(p, dict)}
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        port.setdefault("protocol", "TCP")
        if "port" in port:
            port.setdefault("targetPort", port["port"])
        if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
            port["nodePort"] = old_ports.get(port.get("port"), {}).get("nodePort") or allocate("nodePort")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _deployment(obj, old, allocate):
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    if isinstance(template.get("spec"), dict):
        _pod_spec(template["spec"])


def _replicaset(obj, old, allocate):
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    if isinstance(template.get("spec"), dict):
        _pod_spec(template["spec"])


def _pod(obj, old, allocate):
    _pod_spec(obj.setdefault("spec", {}))
    if not obj.get("status"):
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _secret(obj, old, allocate):
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


_DEFAULTERS = {"Namespace": _namespace, "Service": _service, "Deployment": _deployment, "Pod": _pod,
               "Secret": _secret, "ReplicaSet": _replicaset}


# -- validation ---------------------------------------------------------------------
def _check_meta_types(rt: ResourceType, meta: Any) -> None:
    """A real API server fails to decode mistyped metadata (400 BadRequest), before any validation."""
    def bad(field: str, value: Any, want: str) -> ApiError:
        got = type(value).__name__
        return ApiError(400, "BadRequest", f"json: cannot unmarshal {got} into Go struct field "
                                           f"ObjectMeta.metadata.{field} of type {want}")
    if not isinstance(meta, dict):
        raise bad("", meta, "v1.ObjectMeta")
    for field in ("name", "namespace", "generateName", "resourceVersion"):
        if field in meta and meta[field] is not None and not isinstance(meta[field], str):
            raise bad(field, meta[field], "string")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad(field, value, "map[string]string")


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    meta = obj.get("metadata") or {}
    _check_meta_types(rt, meta)
    name = meta.get("name") or ""
    causes: list[tuple[str, str, str]] = []
    pattern = DNS1123_LABEL if rt.kind in _LABEL_NAMES and rt.builtin else DNS1123_SUBDOMAIN
    if not name:
        causes.append(("FieldValueRequired", "metadata.name", "Required value: name or generateName is required"))
    elif not pattern.match(name) or len(name) > (63 if pattern is DNS1123_LABEL else 253):
        kind = "RFC 1123 label" if pattern is DNS1123_LABEL else "RFC 1123 subdomain"
        causes.append(("FieldValueInvalid", "metadata.name",
                       f"Invalid value: \"{name}\": a lowercase {kind} must consist of lower case alphanumeric "
                       "characters, '-' or '.', and must start and end with an alphanumeric character"))
    for key, value in (meta.get("labels") or {}).items():
        key_name = key.rsplit("/", 1)[-1]
        if not LABEL_KEY_NAME.match(key_name) or len(key_name) > 63:
            causes.append(("FieldValueInvalid", "metadata.labels",
                           f"Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' "
                           "or '.'"))
        if not LABEL_VALUE.match(value) or len(value) > 63:
            causes.append(("FieldValueInvalid", "metadata.labels", f"Invalid value: \"{value}\": a valid label must "
                                                                   "be an empty string or consist of alphanumeric "
                                                                   "characters, '-', '_' or '.'"))
    if rt.builtin:
        checker = _VALIDATORS.get(rt.kind)
        if checker:
            checker(obj, old, causes)
        standard.validate_update(rt, obj, old, causes)
    if causes:
        raise invalid(rt.kind, rt.group, name, causes)


def _containers(spec: dict[str, Any], prefix: str, causes: list) -> None:
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        causes.append(("FieldValueRequired", f"{prefix}.containers", "Required value"))
        return
    seen = set()
    for index, container in enumerate(containers):
        field = f"{prefix}.containers[{index}]"
        if not isinstance(container, dict):
            causes.append(("FieldValueInvalid", field, "Invalid value: must be an object"))
            continue
        if not container.get("name"):
            causes.append(("FieldValueRequired", f"{field}.name", "Required value"))
        elif container["name"] in seen:
            causes.append(("FieldValueDuplicate", f"{field}.name", f"Duplicate value: \"{container['name']}\""))
        seen.add(container.get("name"))
        if not container.get("image"):
            causes.append(("FieldValueRequired", f"{field}.image", "Required value"))
        for p_index, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or not 0 < number < 65536:
                causes.append(("FieldValueInvalid", f"{field}.ports[{p_index}].containerPort",
                               f"Invalid value: {number!r}: must be between 1 and 65535, inclusive"))


def _deployment_valid(obj, old, causes):
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    else:
        wanted = selector.get("matchLabels") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            causes.append(("FieldValueInvalid", "spec.template.metadata.labels",
                           f"Invalid value: {json.dumps(labels)}: `selector` does not match template `labels`"))
        if old is not None and (old.get("spec") or {}).get("selector") != selector:
            causes.append(("FieldValueInvalid", "spec.selector",
                           f"Invalid value: {json.dumps(selector)}: field is immutable"))
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(("FieldValueInvalid", "spec.replicas",
                       f"Invalid value: {replicas!r}: must be greater than or equal to 0"))
    template_spec = (spec.get("template") or {}).get("spec")
    if not isinstance(template_spec, dict):
        causes.append(("FieldValueRequired", "spec.template.spec.containers", "Required value"))
    else:
        _containers(template_spec, "spec.template.spec", causes)


def _service_valid(obj, old, causes):
    spec = obj.get("spec") or {}
    ports = spec.get("ports")
    if spec.get("type") in (None, "ClusterIP", "NodePort", "LoadBalancer") and spec.get("clusterIP") != "None" \
            and not ports:
        causes.append(("FieldValueRequired", "spec.ports", "Required value"))
    for index, port in enumerate(ports or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(("FieldValueInvalid", f"spec.ports[{index}].port",
                           f"Invalid value: {number!r}: must be between 1 and 65535, inclusive"))
        elif port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            causes.append(("FieldValueNotSupported", f"spec.ports[{index}].protocol",
                           f"Unsupported value: \"{port.get('protocol')}\": supported values: \"SCTP\", \"TCP\", "
                           "\"UDP\""))
    if len(ports or []) > 1 and any(isinstance(p, dict) and not p.get("name") for p in ports):
        causes.append(("FieldValueRequired", "spec.ports[0].name", "Required value"))
    if old is not None:
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and spec.get("clusterIP") not in (old_ip, None):
            causes.append(("FieldValueInvalid", "spec.clusterIP", f"Invalid value: \"{spec.get('clusterIP')}\": "
                                                                  "field is immutable"))


def _pod_valid(obj, old, causes):
    _containers(obj.get("spec") or {}, "spec", causes)


def _crd_valid(obj, old, causes):
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    if not group or "." not in group:
        causes.append(("FieldValueInvalid", "spec.group", f"Invalid value: \"{group}\": should be a domain with at "
                                                          "least one dot"))
    for key in ("plural", "kind"):
        if not names.get(key):
            causes.append(("FieldValueRequired", f"spec.names.{key}", "Required value"))
    expected = f"{names.get('plural')}.{group}"
    if obj["metadata"].get("name") != expected:
        causes.append(("FieldValueInvalid", "metadata.name",
                       f"Invalid value: \"{obj['metadata'].get('name')}\": must be spec.names.plural+\".\"+spec.group"))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(("FieldValueRequired", "spec.versions", "Required value: must have exactly one version "
                                                              "marked as storage version"))
    elif sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        causes.append(("FieldValueInvalid", "spec.versions", "Invalid value: must have exactly one version marked "
                                                             "as storage version"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("FieldValueNotSupported", "spec.scope",
                       f"Unsupported value: \"{spec.get('scope')}\": supported values: \"Cluster\", \"Namespaced\""))


def _configmap_valid(obj, old, causes):
    for key in list(obj.get("data") or {}) + list(obj.get("binaryData") or {}):
        if not re.match(r"^[-._a-zA-Z0-9]+$", key):
            causes.append(("FieldValueInvalid", "data", f"Invalid value: \"{key}\": a valid config key must consist "
                                                        "of alphanumeric characters, '-', '_' or '.'"))


_VALIDATORS = {"Deployment": _deployment_valid, "ReplicaSet": _deployment_valid, "Service": _service_valid,
               "Pod": _pod_valid, "CustomResourceDefinition": _crd_valid, "ConfigMap": _configmap_valid,
               "Secret": _configmap_valid}


# -- CRD and Deployment status ---------------------------------------------------------
def crd_status(obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    spec = obj.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", names.get("kind", "").lower())
    names.setdefault("listKind", names.get("kind", "") + "List")
    stamp = ((old or {}).get("status") or {}).get("conditions", [{}])[0].get("lastTransitionTime") or now_rfc3339()
    storage = [v["name"] for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("storage")]
    stored = list(((old or {}).get("status") or {}).get("storedVersions") or [])
    for version in storage:
        if version not in stored:
            stored.append(version)
    obj["status"] = {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": stamp},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": stamp},
        ],
        "storedVersions": stored,
    }


def template_hash(obj: dict[str, Any]) -> str:
    template = json.dumps((obj.get("spec") or {}).get("template") or {}, sort_keys=True)
    digest = hashlib.sha256(template.encode()).hexdigest()
    return "".join("bcdfghjklmnpqrstvwxz2456789"[int(digest[i:i + 2], 16) % 27] for i in range(0, 20, 2))


def deployment_status(obj: dict[str, Any], old_status: dict[str, Any] | None) -> dict[str, Any]:
    """Status as the deployment controller reports it once every replica is up and available."""
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas", 1)
    status: dict[str, Any] = {"observedGeneration": obj["metadata"].get("generation", 1)}
    if replicas:
        # The controller omits zero counts (omitempty), exactly like this.
        status.update(replicas=replicas, updatedReplicas=replicas, readyReplicas=replicas,
                      availableReplicas=replicas)
    name = obj["metadata"]["name"]
    conditions = [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
         "message": "Deployment has minimum availability."},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
         "message": f'ReplicaSet "{name}-{template_hash(obj)}" has successfully progressed.'},
    ]
    previous = {c.get("type"): c for c in (old_status or {}).get("conditions") or []}
    stamp = now_rfc3339()
    for condition in conditions:
        before = previous.get(condition["type"])
        same = before and all(before.get(k) == condition[k] for k in ("status", "reason", "message"))
        condition["lastUpdateTime"] = before["lastUpdateTime"] if same else stamp
        condition["lastTransitionTime"] = (before.get("lastTransitionTime") if before and
                                           before.get("status") == condition["status"] else stamp)
    status["conditions"] = conditions
    return status


def scale_object(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    paths = rt.scale or {}
    spec_path = paths.get("specReplicasPath", ".spec.replicas").lstrip(".").split(".")
    status_path = paths.get("statusReplicasPath", ".status.replicas").lstrip(".").split(".")

    def dig(parts):
        node: Any = obj
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    meta = obj["metadata"]
    selector = ",".join(f"{k}={v}" for k, v in
                        (((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}).items())
    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1",
             "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                          if k in meta},
             "spec": {"replicas": dig(spec_path) or 0},
             "status": {"replicas": dig(status_path) or 0}}
    if selector:
        scale["status"]["selector"] = selector
    return scale


def set_scale(rt: ResourceType, obj: dict[str, Any], replicas: Any) -> dict[str, Any]:
    if not isinstance(replicas, int) or replicas < 0:
        raise invalid("Scale", "autoscaling", obj["metadata"]["name"],
                      [("FieldValueInvalid", "spec.replicas",
                        f"Invalid value: {replicas!r}: must be greater than or equal to 0")])
    new = copy.deepcopy(obj)
    parts = ((rt.scale or {}).get("specReplicasPath") or ".spec.replicas").lstrip(".").split(".")
    node = new
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = replicas
    return new


def conflict_on_stale(rv_given: str | None, current: dict[str, Any], rt: ResourceType) -> None:
    if rv_given and rv_given != current["metadata"].get("resourceVersion"):
        raise conflict(rt.plural, rt.group, current["metadata"]["name"])


__all__ = ["ApiError", "apply_defaults", "validate", "check_shape", "deployment_status", "crd_status",
           "scale_object", "set_scale", "conflict_on_stale"]
