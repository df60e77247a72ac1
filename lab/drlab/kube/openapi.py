"""A minimal OpenAPI v3 index: the operations and parameters, without schemas.

``kubectl apply/create`` validate by default; kubectl first asks the OpenAPI v3
document whether each kind's PATCH accepts ``fieldValidation`` (server-side
validation) and otherwise downloads schemas to validate client-side.  Publishing
the operations with their query parameters is enough for the first path; the
lab does not publish schemas (so ``kubectl explain`` has nothing to show).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import ResourceType

_PARAMS = ["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _operation(rt: ResourceType, action: str, params: list[str]) -> dict[str, Any]:
    return {
        "operationId": f"{action}{rt.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                       for p in params],
        "responses": {"200": {"description": "OK"}},
    }


def group_version_doc(types: list[ResourceType], group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rt in types:
        if rt.group != group or rt.version != version:
            continue
        base = "/" + _gv_path(group, version) + ("/namespaces/{namespace}" if rt.namespaced else "")
        paths[f"{base}/{rt.plural}"] = {"get": _operation(rt, "list", ["labelSelector", "fieldSelector"]),
                                        "post": _operation(rt, "post", _PARAMS[:3])}
        paths[f"{base}/{rt.plural}/{{name}}"] = {"get": _operation(rt, "get", []),
                                                 "put": _operation(rt, "put", _PARAMS[:3]),
                                                 "patch": _operation(rt, "patch", _PARAMS),
                                                 "delete": _operation(rt, "delete", ["dryRun"])}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (drlab)", "version": "v1.31.1"}, "paths": paths,
            "components": {"schemas": {}}}


def doc_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


def root(types: list[ResourceType], group_versions: dict[str, list[str]], prefix: str) -> dict[str, Any]:
    paths = {}
    for group, versions in group_versions.items():
        for version in versions:
            path = _gv_path(group, version)
            digest = doc_hash(group_version_doc(types, group, version))
            # client-go replaces the whole request path with this URL, so it must carry the server prefix.
            paths[path] = {"serverRelativeURL": f"{prefix}/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
