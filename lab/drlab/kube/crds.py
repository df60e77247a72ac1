"""CustomResourceDefinitions a mesh server starts with (Istio networking and ASM kinds).

They are stored as ordinary CRD objects, so they list, describe and delete like
any CRD created through the API, and serve through the same code path.
"""

from __future__ import annotations

from typing import Any

_OPEN_SCHEMA = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


def crd(group: str, kind: str, plural: str, versions: list[str], storage: str, short_names: list[str] | None = None,
        categories: list[str] | None = None, scope: str = "Namespaced") -> dict[str, Any]:
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
                {"name": v, "served": True, "storage": v == storage, "schema": _OPEN_SCHEMA,
                 "subresources": {"status": {}}}
                for v in versions
            ],
        },
    }


_ISTIO_VERSIONS = ["v1", "v1beta1", "v1alpha3"]


def mesh_crds() -> list[dict[str, Any]]:
    istio = "networking.istio.io"
    asm = "istio.alibabacloud.com"
    cats = ["istio-io", "networking-istio-io"]
    return [
        crd(istio, "Gateway", "gateways", _ISTIO_VERSIONS, "v1", ["gw"], cats),
        crd(istio, "VirtualService", "virtualservices", _ISTIO_VERSIONS, "v1", ["vs"], cats),
        crd(istio, "DestinationRule", "destinationrules", _ISTIO_VERSIONS, "v1", ["dr"], cats),
        crd(istio, "ServiceEntry", "serviceentries", _ISTIO_VERSIONS, "v1", ["se"], cats),
        crd(asm, "IstioGateway", "istiogateways", ["v1", "v1beta1"], "v1beta1", ["igw"]),
        crd(asm, "ASMLocalRateLimiter", "asmlocalratelimiters", ["v1", "v1beta1"], "v1beta1"),
        crd(asm, "ASMGlobalRateLimiter", "asmglobalratelimiters", ["v1", "v1beta1"], "v1beta1"),
    ]
