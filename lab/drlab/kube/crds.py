"""CustomResourceDefinitions a mesh server starts with (Istio networking and ASM kinds).

They are stored as ordinary CRD objects, so they list, describe and delete like
any CRD created through the API, and serve through the same code path.  Their
``openAPIV3Schema`` comes from :mod:`drlab.kube.schemas`: Istio 1.24's published schemas
(via the cloudcoil-models-istio package) and, for ASM's own kinds, the fields Alibaba Cloud
documents (see that module for the sources and why).
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from . import schemas

_OPEN_SCHEMA = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


def crd(group: str, kind: str, plural: str, versions: list[str], storage: str, short_names: list[str] | None = None,
        categories: list[str] | None = None, scope: str = "Namespaced",
        schema: Callable[[str], dict[str, Any]] | None = None) -> dict[str, Any]:
    names: dict[str, Any] = {"kind": kind, "listKind": kind + "List", "plural": plural, "singular": kind.lower()}
    if short_names:
        names["shortNames"] = short_names
    if categories:
        names["categories"] = categories
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"app.kubernetes.io/part-of": "drlab-mesh"}},
        "spec": {
            "group": group,
            "names": names,
            "scope": scope,
            "versions": [
                {"name": v, "served": True, "storage": v == storage,
                 "schema": {"openAPIV3Schema": copy.deepcopy(schema(v))} if schema else _OPEN_SCHEMA,
                 "subresources": {"status": {}}}
                for v in versions
            ],
        },
    }


_ISTIO_VERSIONS = ["v1", "v1beta1", "v1alpha3"]


def is_open(crd: dict[str, Any]) -> bool:
    """A CRD served with the open schema (made before the Istio schemas were ready)."""
    return any((v.get("schema") or {}) == _OPEN_SCHEMA for v in (crd.get("spec") or {}).get("versions") or [])


def mesh_crds() -> list[dict[str, Any]]:
    istio = "networking.istio.io"
    asm = "istio.alibabacloud.com"
    cats = ["istio-io", "networking-istio-io"]

    def istio_kind(kind: str) -> Callable[[str], dict[str, Any]] | None:
        # Until the schemas are built (drlab.mesh.component warms them in a thread and then
        # upgrades these CRDs), the Istio kinds are served with an open schema.
        if not schemas.istio_ready():
            return None
        return lambda version: schemas.istio_schema(version, kind)

    def asm_kind(kind: str) -> Callable[[str], dict[str, Any]]:
        return lambda version: schemas.asm_schema(kind)

    return [
        crd(istio, "Gateway", "gateways", _ISTIO_VERSIONS, "v1", ["gw"], cats, schema=istio_kind("Gateway")),
        crd(istio, "VirtualService", "virtualservices", _ISTIO_VERSIONS, "v1", ["vs"], cats,
            schema=istio_kind("VirtualService")),
        crd(istio, "DestinationRule", "destinationrules", _ISTIO_VERSIONS, "v1", ["dr"], cats,
            schema=istio_kind("DestinationRule")),
        crd(istio, "ServiceEntry", "serviceentries", _ISTIO_VERSIONS, "v1", ["se"], cats,
            schema=istio_kind("ServiceEntry")),
        crd(istio, "Sidecar", "sidecars", _ISTIO_VERSIONS, "v1", [], cats, schema=istio_kind("Sidecar")),
        crd(istio, "WorkloadEntry", "workloadentries", _ISTIO_VERSIONS, "v1", ["we"], cats,
            schema=istio_kind("WorkloadEntry")),
        crd(istio, "EnvoyFilter", "envoyfilters", ["v1alpha3"], "v1alpha3", [], cats,
            schema=istio_kind("EnvoyFilter")),
        crd(asm, "IstioGateway", "istiogateways", ["v1", "v1beta1"], "v1beta1", ["igw"],
            schema=asm_kind("IstioGateway")),
        crd(asm, "ASMLocalRateLimiter", "asmlocalratelimiters", ["v1", "v1beta1"], "v1beta1",
            schema=asm_kind("ASMLocalRateLimiter")),
        crd(asm, "ASMGlobalRateLimiter", "asmglobalratelimiters", ["v1", "v1beta1"], "v1beta1",
            schema=asm_kind("ASMGlobalRateLimiter")),
    ]
