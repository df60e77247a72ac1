"""OpenAPI v3 (per group-version) and v2 documents: operations, parameters and schemas.

``kubectl apply/create`` validate by default; kubectl first asks the OpenAPI v3
document whether each kind's PATCH accepts ``fieldValidation`` (server-side
validation) and otherwise validates client-side against the schemas.  ``kubectl
explain`` reads the schemas (v3 first, v2 as a fallback).  Built-in kinds carry the
upstream v1.31 definitions, custom resources their CRD's ``openAPIV3Schema`` under the
apiserver's naming (reversed group, version, kind: ``io.istio.networking.v1.Gateway``);
see :mod:`drlab.kube.schemas` for the sources.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import lru_cache
from typing import Any

from . import schemas
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


def _paths(types: list[ResourceType], group: str, version: str) -> dict[str, Any]:
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
    return paths


def _v3_node(node: Any) -> Any:
    """A definition as the apiserver's v3 documents spell it: a described reference is allOf[$ref]."""
    if isinstance(node, list):
        return [_v3_node(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: (_v3_node(v) if k not in ("properties",) else {pk: _v3_node(pv) for pk, pv in v.items()})
           for k, v in node.items() if k != "$ref"}
    if "$ref" in node:
        if len(node) == 1:
            return {"$ref": node["$ref"]}
        out["allOf"] = [{"$ref": node["$ref"]}]
    return out


def _collect(name: str, out: dict[str, Any]) -> None:
    """Add definition ``name`` and everything it references (v3 form) to ``out``."""
    defs = schemas.builtin_definitions()
    stack = [name]
    while stack:
        current = stack.pop()
        if current in out or current not in defs:
            continue
        out[current] = _v3_node(defs[current])
        text = json.dumps(defs[current])
        for ref in set(_REFS(text)):
            if ref not in out:
                stack.append(ref)


def _REFS(text: str) -> list[str]:
    marker = '"$ref": "#/components/schemas/'
    found = []
    start = text.find(marker)
    while start != -1:
        end = text.find('"', start + len(marker))
        found.append(text[start + len(marker):end])
        start = text.find(marker, end)
    return found


def crd_schema_name(group: str, version: str, kind: str) -> str:
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def _crd_component(rt: ResourceType, schema: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(schema)
    props = doc.setdefault("properties", {})
    props["metadata"] = {"description": "Standard object's metadata. More info: https://git.k8s.io/community/"
                                        "contributors/devel/sig-architecture/api-conventions.md#metadata",
                         "allOf": [{"$ref": "#/components/schemas/" + schemas.OBJECT_META}]}
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    doc["x-kubernetes-group-version-kind"] = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
    return doc


def component_schemas(types: list[ResourceType], group: str, version: str, server: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rt in types:
        if rt.group != group or rt.version != version:
            continue
        if rt.builtin:
            name = schemas.builtin_definition(group, version, rt.kind)
            if name:
                _collect(name, out)
            continue
        schema = schemas.crd_version_schema(server, rt.group, rt.plural, rt.version) if server else None
        if schema:
            out[crd_schema_name(rt.group, rt.version, rt.kind)] = _crd_component(rt, schema)
            _collect(schemas.OBJECT_META, out)
    return out


_BUILTIN_DOCS: dict[tuple, tuple[str, str]] = {}


def _builtin_doc(types: tuple[ResourceType, ...], group: str, version: str) -> tuple[str, str]:
    key = (group, version) + tuple((rt.plural, rt.kind, rt.namespaced) for rt in types)
    if key not in _BUILTIN_DOCS:
        text = json.dumps(_doc(list(types), group, version, None), separators=(",", ":"), sort_keys=True)
        _BUILTIN_DOCS[key] = (text, _digest(text))
    return _BUILTIN_DOCS[key]


def _doc(types: list[ResourceType], group: str, version: str, server: Any) -> dict[str, Any]:
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (drlab)", "version": "v1.31.1"},
            "paths": _paths(types, group, version),
            "components": {"schemas": component_schemas(types, group, version, server)}}


def _digest(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()[:128].upper()


def group_version_text(types: list[ResourceType], group: str, version: str, server: Any = None) -> tuple[str, str]:
    """(document as JSON text, its hash); the built-in groups' documents are built once."""
    mine = tuple(rt for rt in types if rt.group == group and rt.version == version)
    if all(rt.builtin for rt in mine):
        return _builtin_doc(mine, group, version)
    # a custom group's document changes only with its CRDs
    key = (id(server), group, version) + tuple(
        (rt.plural, rt.kind, (server.get_or_none(_crd_rt(server), None, f"{rt.plural}.{rt.group}") or {}).get(
            "metadata", {}).get("resourceVersion")) for rt in mine if not rt.builtin)
    cached = _CUSTOM_DOCS.get(key)
    if cached is None:
        text = json.dumps(_doc(list(mine), group, version, server), separators=(",", ":"), sort_keys=True)
        cached = _CUSTOM_DOCS[key] = (text, _digest(text))
        if len(_CUSTOM_DOCS) > 256:
            _CUSTOM_DOCS.pop(next(iter(_CUSTOM_DOCS)))
    return cached


_CUSTOM_DOCS: dict[tuple, tuple[str, str]] = {}


def _crd_rt(server: Any) -> Any:
    return server.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")


def group_version_doc(types: list[ResourceType], group: str, version: str, server: Any = None) -> dict[str, Any]:
    return json.loads(group_version_text(types, group, version, server)[0])


@lru_cache(maxsize=1)
def _v2_builtin() -> dict[str, Any]:
    return json.loads(json.dumps(schemas.builtin_definitions()).replace('"#/components/schemas/', '"#/definitions/'))


def swagger(server: Any) -> dict[str, Any]:
    """The v2 document: every built-in definition, and each served custom resource version."""
    definitions = dict(_v2_builtin())
    for rt in server.types():
        if rt.builtin:
            continue
        schema = schemas.crd_version_schema(server, rt.group, rt.plural, rt.version)
        if schema:
            doc = _crd_component(rt, schema)
            doc["properties"]["metadata"] = {"$ref": "#/definitions/" + schemas.OBJECT_META}
            definitions[crd_schema_name(rt.group, rt.version, rt.kind)] = doc
    return {"swagger": "2.0", "info": {"title": "Kubernetes (drlab)", "version": "v1.31.1"}, "paths": {},
            "definitions": definitions}


def doc_hash(doc: dict[str, Any]) -> str:
    return _digest(json.dumps(doc, separators=(",", ":"), sort_keys=True))


def root(types: list[ResourceType], group_versions: dict[str, list[str]], prefix: str,
         server: Any = None) -> dict[str, Any]:
    paths = {}
    for group, versions in group_versions.items():
        for version in versions:
            path = _gv_path(group, version)
            digest = group_version_text(types, group, version, server)[1]
            # client-go replaces the whole request path with this URL, so it must carry the server prefix.
            paths[path] = {"serverRelativeURL": f"{prefix}/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
