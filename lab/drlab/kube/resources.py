"""What a server serves: built-in kinds plus the kinds its CustomResourceDefinitions declare.

A :class:`ResourceType` is one (group, version, resource).  Objects are stored per
(group, resource), shared by every served version, as the real apiserver does with
its storage version; replies carry the ``apiVersion`` that was asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
NS_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(VERBS)
    status: bool = False  # has a status subresource
    scale: dict[str, str] | None = None  # scale subresource paths (specReplicasPath, statusReplicasPath, ...)
    builtin: bool = True  # strategic merge patch is only defined for compiled-in kinds
    categories: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    storage: str = ""  # storage key when another group's resource holds the objects (events.k8s.io -> core)
    # Whether PUT without metadata.resourceVersion is allowed (the strategy's AllowUnconditionalUpdate):
    # true for most compiled-in kinds, false for custom resources and CRDs (k8s.io/apiserver customresource
    # strategy, apiextensions-apiserver customresourcedefinition strategy).
    unconditional_update: bool = True
    virtual: bool = False  # create-only review kinds: computed and returned, never stored

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Storage key shared by all versions of the resource."""
        return self.storage or f"{self.group}/{self.plural}"


_DEPLOY_SCALE = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                 "labelSelectorPath": ".status.selector"}


def _rt(group, version, kind, plural, namespaced=True, short=(), status=False, scale=None, verbs=VERBS,
        categories=(), storage="", unconditional=True, virtual=False):
    return ResourceType(group, version, kind, plural, kind.lower(), namespaced, tuple(short), tuple(verbs),
                        status, scale, True, tuple(categories), storage=storage, unconditional_update=unconditional,
                        virtual=virtual)


_STS_SCALE = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
              "labelSelectorPath": ".status.selector"}
_REVIEW = ["create"]


BUILTINS: list[ResourceType] = [
    _rt("", "v1", "Namespace", "namespaces", False, ["ns"], status=True, verbs=NS_VERBS),
    _rt("", "v1", "Service", "services", True, ["svc"], status=True, categories=["all"]),
    _rt("", "v1", "Endpoints", "endpoints", True, ["ep"]),
    _rt("", "v1", "ConfigMap", "configmaps", True, ["cm"]),
    _rt("", "v1", "Secret", "secrets", True),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"]),
    _rt("", "v1", "Pod", "pods", True, ["po"], status=True, categories=["all"]),
    _rt("", "v1", "Event", "events", True, ["ev"]),
    _rt("apps", "v1", "Deployment", "deployments", True, ["deploy"], status=True, scale=_DEPLOY_SCALE,
        categories=["all"]),
    _rt("apps", "v1", "ReplicaSet", "replicasets", True, ["rs"], status=True, scale=_DEPLOY_SCALE,
        categories=["all"]),
    _rt("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ["hpa"], status=True,
        categories=["all"]),
    _rt("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ["hpa"], status=True,
        categories=["all"]),
    _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
        ["crd", "crds"], status=True, unconditional=False),
    # The standard kinds kubernetes.core's integration targets and kubectl's common commands use
    # (https://kubernetes.io/docs/reference/kubernetes-api/ for groups, scopes and short names).
    _rt("", "v1", "Node", "nodes", False, ["no"], status=True),
    _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ["pvc"], status=True),
    _rt("", "v1", "PersistentVolume", "persistentvolumes", False, ["pv"], status=True),
    _rt("", "v1", "ResourceQuota", "resourcequotas", True, ["quota"], status=True),
    _rt("", "v1", "LimitRange", "limitranges", True, ["limits"]),
    _rt("", "v1", "ReplicationController", "replicationcontrollers", True, ["rc"], status=True,
        scale=_DEPLOY_SCALE, categories=["all"]),
    _rt("apps", "v1", "StatefulSet", "statefulsets", True, ["sts"], status=True, scale=_STS_SCALE,
        categories=["all"]),
    _rt("apps", "v1", "DaemonSet", "daemonsets", True, ["ds"], status=True, categories=["all"]),
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    _rt("batch", "v1", "Job", "jobs", True, status=True, categories=["all"]),
    _rt("batch", "v1", "CronJob", "cronjobs", True, ["cj"], status=True, categories=["all"]),
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ["netpol"]),
    _rt("networking.k8s.io", "v1", "Ingress", "ingresses", True, ["ing"], status=True),
    _rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"], status=True),
    _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    _rt("coordination.k8s.io", "v1", "Lease", "leases", True),
    _rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ["sc"]),
    _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ["pc"]),
    # events.k8s.io/v1 Events are the core Events seen in another shape (one storage, as in the apiserver).
    _rt("events.k8s.io", "v1", "Event", "events", True, ["ev"], storage="/events"),
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
        verbs=_REVIEW, virtual=True),
    _rt("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False,
        verbs=_REVIEW, virtual=True),
    _rt("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False,
        verbs=_REVIEW, virtual=True),
    _rt("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True,
        verbs=_REVIEW, virtual=True),
    _rt("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False,
        verbs=_REVIEW, virtual=True),
]

# Preferred version per built-in group (the first listed version is preferred).
BUILTIN_GROUP_VERSIONS: dict[str, list[str]] = {
    "": ["v1"], "apps": ["v1"], "autoscaling": ["v2", "v1"], "apiextensions.k8s.io": ["v1"], "batch": ["v1"],
    "networking.k8s.io": ["v1"], "rbac.authorization.k8s.io": ["v1"], "policy": ["v1"], "discovery.k8s.io": ["v1"],
    "coordination.k8s.io": ["v1"], "storage.k8s.io": ["v1"], "scheduling.k8s.io": ["v1"], "events.k8s.io": ["v1"],
    "authorization.k8s.io": ["v1"], "authentication.k8s.io": ["v1"]}

# Pod subresources served (discovery entries as the apiserver lists them for v1).
POD_SUBRESOURCES = [
    {"name": "pods/attach", "kind": "PodAttachOptions", "verbs": ["create", "get"]},
    {"name": "pods/eviction", "kind": "Eviction", "group": "policy", "version": "v1", "verbs": ["create"]},
    {"name": "pods/exec", "kind": "PodExecOptions", "verbs": ["create", "get"]},
    {"name": "pods/log", "kind": "Pod", "verbs": ["get"]},
    {"name": "pods/portforward", "kind": "PodPortForwardOptions", "verbs": ["create", "get"]},
]


def resource_types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The served versions of an (established) CRD, storage version first."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    out = []
    versions = sorted(spec.get("versions") or [], key=lambda v: not v.get("storage", False))
    for version in versions:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        out.append(ResourceType(
            group=group, version=version["name"], kind=names.get("kind", ""), plural=names.get("plural", ""),
            singular=names.get("singular") or names.get("kind", "").lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), verbs=tuple(VERBS),
            status="status" in subresources, scale=dict(scale) if scale is not None else None, builtin=False,
            categories=tuple(names.get("categories") or ()), unconditional_update=False,
        ))
    return out


def crd_preferred_versions(crd: dict[str, Any]) -> list[str]:
    """Kubernetes orders CRD versions by "kube-aware" version priority (v1 > v1beta1 > v1alpha3)."""
    served = [v["name"] for v in (crd.get("spec") or {}).get("versions") or [] if v.get("served", True)]
    return sorted(served, key=version_priority)


def version_priority(name: str) -> tuple:
    """Sort key: GA before beta before alpha, higher numbers first, non-kube names last."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", name)
    if not match:
        return (3, name)
    major = int(match.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor)
