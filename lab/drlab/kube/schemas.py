"""Schemas the lab's Kubernetes APIs decode, prune and validate with, and where they come from.

Sources (none hand-written, except ASM's kinds, which no package publishes):

* Built-in kinds: the upstream OpenAPI definitions of Kubernetes v1.31 as shipped by the
  ``kubernetes-validate`` package (``kubernetes-json-schema/v1.31.0-local/_definitions.json``,
  generated from the apiserver's own ``/openapi/v2``), installed where only the lab reads it
  (:func:`kubernetes_validate_dir`).  v1.31 because the lab advertises v1.31.1 (``api.VERSION_INFO``).
* Istio's networking CRDs: the ``cloudcoil-models-istio`` 1.24.2.1 package (Istio 1.24.2).  Its
  pydantic models are generated from Istio's published ``crd-all.gen.yaml``; the JSON schema
  pydantic derives from them is turned back into a structural ``openAPIV3Schema`` (types,
  enums, minimum/maximum, patterns, required, int-or-string, maps, preserve-unknown for
  ``google.protobuf.Struct`` values).  Chosen over ``@kubernetes-models/istio`` because that npm
  package ships only compiled validators (no schema text) and tracks Istio 1.29, while the
  cloudcoil release is versioned per Istio release and 1.24 is what ASM 1.24 runs.  What the
  round trip loses: descriptions and the CRDs' ``oneOf`` exclusivity rules (istiod's webhook,
  ``drlab.mesh.validation``, refuses most of those cases anyway).
* ASM's kinds (``istio.alibabacloud.com``): no package or repository publishes their CRDs.
  :func:`asm_schema` types the fields Alibaba Cloud's CRD reference pages document
  (help/en/asm/.../description-of-asmlocalratelimiter-fields, asmglobalratelimiter-crd-description,
  the IstioGateway CRD reference) and keeps unknown fields (``x-kubernetes-preserve-unknown-fields``),
  since the real schema may declare fields the docs do not.

Request handling follows the apiserver: unknown fields are dropped while decoding, and
``fieldValidation`` decides what the client hears about them (``Ignore``: nothing;
``Warn``, the default since v1.23: a ``Warning: 299`` header per field; ``Strict``: 400).  Type
errors in built-in kinds are decoding errors (400); custom resources are validated against their
CRD's schema (422 Invalid, apiextensions-apiserver's messages).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import tempfile
import threading
from functools import lru_cache
from typing import Any, Callable

from .errors import ApiError, bad_request, invalid

log = logging.getLogger("drlab.kube")

K8S_SCHEMA_VERSION = "v1.31.0"
ISTIO_MODELS_VERSION = "1.24.2.1"
ISTIO_GROUP = "networking.istio.io"
ASM_GROUP = "istio.alibabacloud.com"
FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
DEFAULT_FIELD_VALIDATION = "Warn"  # the apiserver's default when a request does not say (v1.23+)


# -- per-request context (set by api.py) ------------------------------------------------------
class RequestContext:
    def __init__(self, field_validation: str | None):
        self.field_validation = field_validation or DEFAULT_FIELD_VALIDATION
        self.warnings: list[str] = []

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


_CONTEXT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("drlab_kube_request",
                                                                                 default=None)


def parse_field_validation(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in FIELD_VALIDATION:
        raise bad_request(f'fieldValidation: Unsupported value: "{value}": supported values: '
                          f'"{FIELD_VALIDATION[0]}", "{FIELD_VALIDATION[1]}", "{FIELD_VALIDATION[2]}"')
    return value


def begin_request(field_validation: str | None) -> tuple[RequestContext, contextvars.Token]:
    context = RequestContext(parse_field_validation(field_validation))
    return context, _CONTEXT.set(context)


def end_request(token: contextvars.Token) -> None:
    _CONTEXT.reset(token)


def warning_header(text: str) -> str:
    """RFC 7234 warning value as the apiserver sends it (code 299, agent "-")."""
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- built-in kinds ---------------------------------------------------------------------------
def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _normalise(node: Any) -> Any:
    """kubernetes-validate's JSON-schema dialect back to OpenAPI: one type, refs by name."""
    if isinstance(node, list):
        return [_normalise(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = "#/components/schemas/" + _ref_name(value)
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
        elif key in ("properties", "patternProperties"):
            out[key] = {k: _normalise(v) for k, v in value.items()}
        elif key in ("$schema", "$id"):
            continue
        else:
            out[key] = _normalise(value)
    return out


# Where `make venv` puts kubernetes-validate: beside the interpreter's packages, not among them.  The
# kubernetes client imports kubernetes_validate whenever it can (kubernetes/dynamic/client.py, for its
# optional `validate`), so an importable copy made every kubernetes.core and meshdr module process on this
# machine import it and jsonschema (~55 ms each) for the lab's sake: the measured playbooks paid for the lab.
KUBERNETES_VALIDATE_TARGET = os.path.join(sys.prefix, "share", "drlab", "kubernetes-validate")


def kubernetes_validate_dir() -> str:
    """The kubernetes_validate package directory whose schema files the lab reads: $DRLAB_KUBERNETES_VALIDATE
    (a ``pip install --target`` directory), else ``make venv``'s, else an installed kubernetes_validate."""
    for target in (os.environ.get("DRLAB_KUBERNETES_VALIDATE"), KUBERNETES_VALIDATE_TARGET):
        if target and os.path.isdir(os.path.join(target, "kubernetes_validate")):
            return os.path.join(target, "kubernetes_validate")
    import importlib.util

    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "drlab needs kubernetes-validate's schema files: run `make venv`, or `pip install --no-deps "
            f"--target {KUBERNETES_VALIDATE_TARGET} -r lab/requirements-schemas.txt`")
    return list(spec.submodule_search_locations)[0]


@lru_cache(maxsize=1)
def builtin_definitions() -> dict[str, dict[str, Any]]:
    """OpenAPI definitions of Kubernetes v1.31, by definition name (io.k8s.api.apps.v1.Deployment...)."""
    path = os.path.join(kubernetes_validate_dir(), "kubernetes-json-schema", f"{K8S_SCHEMA_VERSION}-local",
                        "_definitions.json")
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)["$defs"]
    defs = {name: _normalise(schema) for name, schema in raw.items()}
    # The real documents describe these two as strings with a format (the JSON-schema dump
    # spells them as oneOf); the validator below knows they also take numbers.
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
        "type": "string", "format": "int-or-string",
        "description": "IntOrString is a type that can hold an int32 or a string."}
    defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
        "type": "string", "format": "quantity",
        "description": "Quantity is a fixed-point representation of a number (e.g. 100m, 2Gi)."}
    return defs


@lru_cache(maxsize=1)
def builtin_gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in builtin_definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            index.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
    return index


def builtin_definition(group: str, version: str, kind: str) -> str | None:
    return builtin_gvk_index().get((group, version, kind))


OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


# -- Istio CRD schemas from cloudcoil-models-istio ----------------------------------------------
ISTIO_KINDS: dict[str, tuple[str, ...]] = {
    "Gateway": ("v1", "v1beta1", "v1alpha3"),
    "VirtualService": ("v1", "v1beta1", "v1alpha3"),
    "DestinationRule": ("v1", "v1beta1", "v1alpha3"),
    "ServiceEntry": ("v1", "v1beta1", "v1alpha3"),
    "Sidecar": ("v1", "v1beta1", "v1alpha3"),
    "WorkloadEntry": ("v1", "v1beta1", "v1alpha3"),
    "EnvoyFilter": ("v1alpha3",),
}
_PRESERVE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_COPIED = ("description", "enum", "minimum", "maximum", "pattern", "minLength", "maxLength", "minItems",
           "maxItems", "format")


def _field_docs(module: Any) -> dict[str, dict[str, str]]:
    """Field descriptions of a cloudcoil model module: the docstring under each field (the CRD's
    ``description``), by class name and JSON name; pydantic's schema does not carry them."""
    import ast
    import inspect

    out: dict[str, dict[str, str]] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, str] = {}
        for stmt, following in zip(node.body, node.body[1:], strict=False):
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            if not (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                continue
            alias = next((k.value.value for k in ast.walk(stmt.annotation) if isinstance(k, ast.keyword)
                          and k.arg == "alias" and isinstance(k.value, ast.Constant)), None)
            fields[alias or stmt.target.id] = inspect.cleandoc(following.value.value)
        if fields:
            out[node.name] = fields
    return out


def _from_pydantic(node: dict[str, Any], defs: dict[str, Any], stack: tuple[str, ...] = (),
                   docs: dict[str, dict[str, str]] | None = None, cls: str = "") -> dict[str, Any]:
    """A pydantic JSON schema node as a structural openAPIV3Schema node."""
    docs = docs or {}
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        if name == "ObjectMeta":
            return {"type": "object"}
        if name in stack:  # recursive proto messages are rare; keep what the client sent
            return dict(_PRESERVE)
        return _from_pydantic(defs[name], defs, stack + (name,), docs, name)
    for union in ("anyOf", "oneOf"):
        if union in node:
            parts = [_from_pydantic(p, defs, stack, docs, cls) for p in node[union] if p.get("type") != "null"]
            merged = _merge(parts)
            for key in ("description",):
                if key in node:
                    merged[key] = node[key]
            return merged
    if "const" in node:
        return {"type": "string", "enum": [node["const"]]}
    kind = node.get("type")
    out: dict[str, Any] = {k: node[k] for k in _COPIED if k in node}
    if "exclusiveMinimum" in node:
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if "exclusiveMaximum" in node:
        out["maximum"], out["exclusiveMaximum"] = node["exclusiveMaximum"], True
    if kind is None:
        out.update(_PRESERVE)  # Any: a google.protobuf.Struct/Value in the proto
        return out
    out["type"] = kind
    if kind == "object":
        props = node.get("properties")
        extra = node.get("additionalProperties")
        if props:
            out["properties"] = {}
            for key, value in props.items():
                child = _from_pydantic(value, defs, stack, docs, cls)
                described = (docs.get(cls) or {}).get(key)
                if described and "description" not in child:
                    child = {"description": described, **child}
                out["properties"][key] = child
            if node.get("required"):
                out["required"] = list(node["required"])
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = _from_pydantic(extra, defs, stack, docs, cls)
        elif not props:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array" and isinstance(node.get("items"), dict):
        out["items"] = _from_pydantic(node["items"], defs, stack, docs, cls)
    return out


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One structural node for a union: oneOf variants of a message share its properties."""
    if not parts:
        return dict(_PRESERVE)
    if len(parts) == 1:
        return parts[0]
    types = {p.get("type") for p in parts}
    if types == {"integer", "string"}:
        return {"x-kubernetes-int-or-string": True}
    if types == {"object"}:
        out: dict[str, Any] = {"type": "object"}
        props: dict[str, Any] = {}
        required: set[str] | None = None
        for part in parts:
            for key, value in (part.get("properties") or {}).items():
                props[key] = _merge([props[key], value]) if key in props and props[key] != value else value
            required = set(part.get("required") or ()) if required is None else required & set(
                part.get("required") or ())
            if part.get("x-kubernetes-preserve-unknown-fields"):
                out["x-kubernetes-preserve-unknown-fields"] = True
            if "additionalProperties" in part:
                out["additionalProperties"] = part["additionalProperties"]
        if props:
            out["properties"] = props
        if required:
            out["required"] = sorted(required)
        return out
    if len(types) == 1:
        out = dict(parts[0])
        enums = [e for p in parts for e in p.get("enum") or []]
        if enums and all("enum" in p for p in parts):
            out["enum"] = list(dict.fromkeys(enums))
        return out
    return dict(_PRESERVE)


def _cache_file() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(tempfile.gettempdir(), f"drlab-cache-{os.getuid()}")
    return os.path.join(base, "drlab", f"istio-crd-schemas-cloudcoil-{ISTIO_MODELS_VERSION}-v3.json")


def _build_istio_schemas() -> dict[str, dict[str, Any]]:
    import importlib

    out: dict[str, dict[str, Any]] = {}
    docs: dict[str, dict[str, dict[str, str]]] = {}
    for kind, versions in ISTIO_KINDS.items():
        for version in versions:
            module = importlib.import_module(f"cloudcoil.models.istio.networking.{version}")
            if version not in docs:
                docs[version] = _field_docs(module)
            model = getattr(module, kind)
            schema = model.model_json_schema(by_alias=True, mode="validation")
            defs = schema.get("$defs") or {}
            spec = _from_pydantic(schema["properties"]["spec"], defs, (), docs[version])
            spec.setdefault("description", (docs[version].get(kind) or {}).get("spec") or
                            f"Configuration affecting {kind}.")
            out[f"{version}/{kind}"] = {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                    "spec": spec,
                    # Istio's CRDs keep status open (istiod writes conditions and validation messages).
                    "status": dict(_PRESERVE),
                },
                "required": ["spec"],
            }
    return out


_ISTIO_LOCK = threading.Lock()
_ISTIO: dict[str, dict[str, Any]] = {}


def istio_schemas() -> dict[str, dict[str, Any]]:
    """``"<version>/<Kind>"`` -> openAPIV3Schema; built once, then cached on disk (the model
    modules take seconds to import, so the mesh component warms this in a thread at start)."""
    with _ISTIO_LOCK:
        if not _ISTIO:
            _ISTIO.update(_load_istio_schemas())
        return _ISTIO


def istio_ready() -> bool:
    """Whether the Istio schemas can be had without building them (loaded, or in the disk cache)."""
    if not _ISTIO and _ISTIO_LOCK.acquire(blocking=False):
        try:
            _ISTIO.update(_read_cache() or {})
        finally:
            _ISTIO_LOCK.release()
    return bool(_ISTIO)


def warm_istio_schemas(then: Callable[[], None] | None = None) -> None:
    """Build the Istio schemas in a thread (the first time on a machine takes seconds to tens of
    seconds under load), then call ``then`` from that thread."""
    def run() -> None:
        istio_schemas()
        if then is not None:
            then()

    threading.Thread(target=run, name="drlab-istio-schemas", daemon=True).start()


def _read_cache() -> dict[str, dict[str, Any]] | None:
    path = _cache_file()
    try:
        if os.stat(os.path.dirname(path)).st_uid != os.getuid():
            return None  # a shared temp dir: only trust a cache we made
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _load_istio_schemas() -> dict[str, dict[str, Any]]:
    path = _cache_file()
    cached = _read_cache()
    if cached:
        return cached
    schemas = _build_istio_schemas()
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(schemas, handle)
        os.replace(tmp, path)
    except OSError:
        log.warning("could not cache Istio CRD schemas in %s", path)
    return schemas


def istio_schema(version: str, kind: str) -> dict[str, Any]:
    return istio_schemas()[f"{version}/{kind}"]


# -- ASM kinds (documented fields only) ---------------------------------------------------------
def _obj(props: dict[str, Any] | None = None, required: list[str] | None = None, open_: bool = False,
         **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", **extra}
    if props:
        out["properties"] = props
    if required:
        out["required"] = required
    if open_ or not props:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_DURATION = _obj({"seconds": _INT, "nanos": {"type": "integer", "minimum": 0, "maximum": 999999999}})


def _asm_specs() -> dict[str, dict[str, Any]]:
    # ASMLocalRateLimiter: help/en/asm/sidecar/description-of-asmlocalratelimiter-fields
    header_match = {"type": "array", "items": _obj({"name": _STR, "exact_match": _STR, "prefix_match": _STR,
                                                    "suffix_match": _STR, "regex_match": _STR,
                                                    "present_match": _BOOL, "invert_match": _BOOL}, open_=True)}
    local_limit = _obj({"fill_interval": _DURATION, "quota": {"type": "integer", "minimum": 0},
                        "per_downstream_connection": _BOOL, "custom_response_body": _STR,
                        "response_header_to_add": _STR_MAP, "status": _INT}, ["quota"], open_=True)
    vhost = _obj({"name": _STR, "port": _INT, "route": _obj({"name_match": _STR, "header_match": header_match},
                                                              open_=True)}, open_=True)
    local = _obj({
        "workloadSelector": _obj({"labels": _STR_MAP}),
        "isGateway": _BOOL,
        "configs": {"type": "array", "items": _obj({
            "name": _STR, "match": _obj({"vhost": vhost}, open_=True), "limit": local_limit,
            "limit_overrides": {"type": "array", "items": _obj({
                "request_match": _obj({"header_match": header_match, "query_match": header_match}, open_=True),
                "limit": local_limit}, open_=True)},
        }, open_=True)},
    }, open_=True)
    # ASMGlobalRateLimiter: help/en/asm/user-guide/asmglobalratelimiter-crd-description
    global_limit = _obj({"unit": {"type": "string", "enum": ["SECOND", "MINUTE", "HOUR", "DAY"]},
                         "quota": {"type": "integer", "minimum": 0}}, open_=True)
    global_ = _obj({
        "workloadSelector": _obj({"labels": _STR_MAP}),
        "isGateway": _BOOL,
        "rateLimitService": _obj({"host": _STR, "port": _INT, "timeout": _DURATION}, open_=True),
        "configs": {"type": "array", "items": _obj({"name": _STR, "match": _obj({"vhost": vhost}, open_=True),
                                                    "limit": global_limit}, open_=True)},
    }, open_=True)
    # IstioGateway: help/en/asm/user-guide/istiogateway-crd (the fields the ASM console and its
    # OpenAPI write: replicas, HPA bounds, ports, service type/annotations, resources, env).
    istio_gateway = _obj({
        "gatewayType": {"type": "string", "enum": ["ingress", "egress"]},
        "clusterIds": {"type": "array", "items": _STR},
        "replicaCount": {"type": "integer", "minimum": 0},
        "minReplicas": {"type": "integer", "minimum": 0},
        "maxReplicas": {"type": "integer", "minimum": 0},
        "cpu": _obj({"targetAverageUtilization": {"type": "integer", "minimum": 0}}, open_=True),
        "memory": _obj({"targetAverageUtilization": {"type": "integer", "minimum": 0}}, open_=True),
        "ports": {"type": "array", "items": _obj({"name": _STR, "port": _INT,
                                                  "targetPort": {"x-kubernetes-int-or-string": True},
                                                  "protocol": _STR, "nodePort": _INT}, open_=True)},
        "serviceType": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
        "serviceAnnotations": _STR_MAP,
        "podLabels": _STR_MAP,
        "podAnnotations": _STR_MAP,
        "externalTrafficPolicy": {"type": "string", "enum": ["Cluster", "Local"]},
        "resources": _obj({"limits": _obj(open_=True), "requests": _obj(open_=True)}, open_=True),
        "env": {"type": "array", "items": _obj({"name": _STR, "value": _STR}, open_=True)},
    }, open_=True)
    return {"ASMLocalRateLimiter": local, "ASMGlobalRateLimiter": global_, "IstioGateway": istio_gateway}


def asm_schema(kind: str) -> dict[str, Any]:
    return {"type": "object",
            "properties": {"apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"},
                           "spec": _asm_specs()[kind], "status": dict(_PRESERVE)}}


# -- the walker: pruning, unknown fields, schema errors -------------------------------------------
_TYPES = {"string": (str,), "boolean": (bool,), "array": (list,), "object": (dict,)}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(kind, (object,)))


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return f'"{_json_type(value)}"'
    return json.dumps(value)


class Walker:
    """One pass over an object: drops unknown (and null) fields, records what it saw.

    ``builtin`` selects the apiserver's two behaviours: compiled-in kinds are decoded into Go
    structs (type mismatch = decoding error, fields of opaque types kept), custom resources are
    pruned and validated against a structural schema.
    """

    def __init__(self, defs: dict[str, Any] | None, builtin: bool, check: bool = True):
        self.defs = defs or {}
        self.builtin = builtin
        self.check = check
        self.unknown: list[str] = []
        self.errors: list[tuple[str, str, str]] = []  # (reason, field, message) as field.ErrorList
        self.decode_error: str | None = None

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        for _ in range(32):  # a referenced definition may itself be a reference
            if "$ref" not in schema:
                break
            target = self.defs.get(_ref_name(schema["$ref"])) or {}
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        if "allOf" in schema and len(schema["allOf"]) == 1:
            schema = {**self.resolve(schema["allOf"][0]), **{k: v for k, v in schema.items() if k != "allOf"}}
        return schema

    def walk(self, value: Any, schema: dict[str, Any] | None, path: str, go_type: str = "") -> Any:
        if not schema:
            return value
        ref = schema.get("$ref", "")
        schema = self.resolve(schema)
        kind = schema.get("type")
        if schema.get("x-kubernetes-int-or-string") or schema.get("format") == "int-or-string":
            if not isinstance(value, (int, str)) or isinstance(value, bool):
                self._type_error(value, path, "integer or string", "intstr.IntOrString")
            return value
        if schema.get("format") == "quantity":
            if not isinstance(value, (int, float, str)) or isinstance(value, bool):
                self._type_error(value, path, "string", "resource.Quantity")
            return value
        if kind is None and not schema.get("properties"):
            return value  # opaque: RawExtension, JSON, preserve-unknown leaves
        if kind is not None and not isinstance(kind, list) and not _type_ok(value, kind):
            self._type_error(value, path, kind, go_type)
            return value
        if isinstance(value, dict):
            return self._object(value, schema, path, _short(ref) or go_type)
        if isinstance(value, list):
            items = schema.get("items")
            out = [self.walk(item, items, f"{path}[{i}]", _short((items or {}).get("$ref", "")))
                   for i, item in enumerate(value)]
            if self.check and not self.builtin:
                self._array_checks(out, schema, path)
            return out
        if self.check and not self.builtin:
            self._scalar_checks(value, schema, path)
        return value

    def _object(self, value: dict[str, Any], schema: dict[str, Any], path: str, go_type: str) -> dict[str, Any]:
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        if props is None and not isinstance(extra, dict):
            if self.builtin or preserve:
                return value  # a Go map/any, or a schema that keeps what it does not describe
            if value:
                self.unknown.extend(_join(path, k) for k in value)  # structural: no properties = all pruned
            return {}
        out: dict[str, Any] = {}
        for key, child in value.items():
            where = _join(path, key)
            if child is None and not (props or {}).get(key, {}).get("nullable"):
                continue  # null means unset (Go) / is pruned (structural schemas)
            if props is not None and key in props:
                out[key] = self.walk(child, props[key], where, go_type)
            elif isinstance(extra, dict):
                out[key] = self.walk(child, extra, f"{path}[{key}]" if path else key, go_type)
            elif preserve or extra is True:
                out[key] = child
            else:
                self.unknown.append(where)
        if self.check and not self.builtin:
            for key in schema.get("required") or []:
                if key not in out:
                    self.errors.append(("FieldValueRequired", _join(path, key), "Required value"))
        return out

    def _type_error(self, value: Any, path: str, kind: str, go_type: str) -> None:
        if self.builtin:
            if self.decode_error is None:
                go_path = re.sub(r"\[[^\]]*\]", "", path)
                self.decode_error = (f"json: cannot unmarshal {_go_json(value)} into Go struct field "
                                     f"{go_type or 'value'}.{go_path} of type {_go_scalar(kind)}")
            return
        if self.check:
            self.errors.append(("FieldValueTypeInvalid", path,
                                f"Invalid value: {_quote(_json_type(value))}: {path} in body must be of type "
                                f"{kind}: {_quote(_json_type(value))}"))

    def _scalar_checks(self, value: Any, schema: dict[str, Any], path: str) -> None:
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            self.errors.append(("FieldValueNotSupported", path, f"Unsupported value: {_quote(value)}: supported "
                                f"values: {', '.join(_quote(e) for e in enum)}"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = schema.get("minimum"), schema.get("maximum")
            if low is not None and (value < low or (schema.get("exclusiveMinimum") and value == low)):
                word = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
                self.errors.append(("FieldValueInvalid", path, f"Invalid value: {_quote(value)}: {path} in body "
                                    f"should be {word} {low}"))
            if high is not None and (value > high or (schema.get("exclusiveMaximum") and value == high)):
                word = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
                self.errors.append(("FieldValueInvalid", path, f"Invalid value: {_quote(value)}: {path} in body "
                                    f"should be {word} {high}"))
        if isinstance(value, str):
            pattern = schema.get("pattern")
            if pattern and not re.search(pattern, value):
                self.errors.append(("FieldValueInvalid", path, f"Invalid value: {_quote(value)}: {path} in body "
                                    f"should match '{pattern}'"))
            if schema.get("maxLength") is not None and len(value) > schema["maxLength"]:
                self.errors.append(("FieldValueTooLong", path, f"Too long: may not be longer than "
                                    f"{schema['maxLength']}"))
            if schema.get("minLength") is not None and len(value) < schema["minLength"]:
                self.errors.append(("FieldValueInvalid", path, f"Invalid value: {_quote(value)}: {path} in body "
                                    f"should be at least {schema['minLength']} chars long"))

    def _array_checks(self, value: list, schema: dict[str, Any], path: str) -> None:
        if schema.get("maxItems") is not None and len(value) > schema["maxItems"]:
            self.errors.append(("FieldValueTooMany", path, f"Too many: {len(value)}: must have at most "
                                f"{schema['maxItems']} items"))
        if schema.get("minItems") is not None and len(value) < schema["minItems"]:
            self.errors.append(("FieldValueInvalid", path, f"Invalid value: {len(value)}: {path} in body should "
                                f"have at least {schema['minItems']} items"))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _short(ref: str) -> str:
    return _ref_name(ref).rsplit(".", 1)[-1] if ref else ""


def _go_json(value: Any) -> str:
    kind = _json_type(value)
    return {"integer": "number", "boolean": "bool"}.get(kind, kind)


def _go_scalar(kind: str) -> str:
    return {"integer": "int32", "number": "float64", "boolean": "bool", "array": "[]interface {}",
            "object": "map[string]interface {}"}.get(kind, kind)


# -- schemas per served type ----------------------------------------------------------------------
def crd_version_schema(server: Any, group: str, plural: str, version: str) -> dict[str, Any] | None:
    crd = server.get_or_none(_crd_rt(server), None, f"{plural}.{group}")
    if crd is None:
        return None
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version:
            return ((entry.get("schema") or {}).get("openAPIV3Schema")) or None
    return None


def _crd_rt(server: Any) -> Any:
    return server.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")


def _custom_walk(server: Any, rt: Any, obj: dict[str, Any], check: bool) -> Walker | None:
    schema = crd_version_schema(server, rt.group, rt.plural, rt.version)
    if schema is None:
        return None
    walker = Walker(builtin_definitions(), builtin=False, check=check)
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    top = {k: v for k, v in schema.items()}
    props = dict(top.get("properties") or {})
    for key in ("apiVersion", "kind", "metadata"):
        props.pop(key, None)
    top["properties"] = props
    top["required"] = [r for r in top.get("required") or [] if r not in ("apiVersion", "kind", "metadata")]
    pruned = walker.walk(body, top, "")
    meta_walker = Walker(builtin_definitions(), builtin=True, check=False)
    meta = meta_walker.walk(obj.get("metadata") or {}, {"$ref": "#/components/schemas/" + OBJECT_META},
                            "metadata", "ObjectMeta")
    walker.unknown = meta_walker.unknown + walker.unknown
    obj.clear()
    obj.update({"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta, **pruned})
    return walker


# -- hooks called by KubeServer -------------------------------------------------------------------
def decode(server: Any, rt: Any, obj: dict[str, Any]) -> dict[str, Any]:
    """Drop unknown fields as decoding does; report them as fieldValidation asks (400 for Strict)."""
    context = _CONTEXT.get()
    if rt.builtin:
        name = builtin_definition(rt.group, rt.version, rt.kind)
        if name is None:
            return obj
        walker = Walker(builtin_definitions(), builtin=True, check=False)
        pruned = walker.walk(obj, {"$ref": "#/components/schemas/" + name}, "", rt.kind)
        if walker.decode_error:
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                              f"{walker.decode_error}")
        obj = pruned
    else:
        walker = _custom_walk(server, rt, obj, check=False)
        if walker is None:
            return obj
    if walker.unknown:
        # logged so that a run of the collection shows what the cloud would silently drop
        log.info("%s %s/%s: dropped unknown fields %s (fieldValidation=%s)", rt.api_version + " " + rt.kind,
                 (obj.get("metadata") or {}).get("namespace", ""), (obj.get("metadata") or {}).get("name", ""),
                 ", ".join(walker.unknown), context.field_validation if context else "in-process")
    if walker.unknown and context is not None:
        fields = list(walker.unknown)
        if context.field_validation == "Strict":
            detail = ", ".join(f'unknown field "{f}"' for f in fields)
            prefix = f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: ' if rt.builtin else ""
            raise bad_request(f"{prefix}strict decoding error: {detail}")
        if context.field_validation == "Warn":
            for field in fields:
                context.warn(f'unknown field "{field}"')
    return obj


Webhook = Callable[[Any, Any, dict[str, Any], dict[str, Any] | None], list[str]]
_WEBHOOKS: dict[tuple[str, str], tuple[str, Webhook]] = {}


def register_webhook(server_kind: str, group: str, name: str, check: Webhook) -> None:
    """A validating admission webhook for ``group`` on every server of ``server_kind`` ("mesh"...)."""
    _WEBHOOKS[(server_kind, group)] = (name, check)


def admit(server: Any, rt: Any, new: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Schema validation of custom resources (422), then validating webhooks (400 denial)."""
    if rt.builtin:
        return
    if rt.key != "apiextensions.k8s.io/customresourcedefinitions":
        walker = _custom_walk(server, rt, json.loads(json.dumps(new)), check=True)
        if walker is not None and walker.errors:
            raise invalid(rt.kind, rt.group, (new.get("metadata") or {}).get("name", ""), walker.errors)
    hook = _WEBHOOKS.get((server.kind, rt.group))
    if hook is None:
        return
    name, check = hook
    problems = check(server, rt, new, old)
    if problems:
        text = problems[0] if len(problems) == 1 else (
            f"{len(problems)} errors occurred:\n\t" + "\n\t".join(f"* {p}" for p in problems) + "\n")
        raise ApiError(400, "BadRequest", f'admission webhook "{name}" denied the request: configuration is '
                                          f"invalid: {text}")


__all__ = ["ApiError", "admit", "asm_schema", "begin_request", "builtin_definitions", "decode", "end_request",
           "istio_schema", "register_webhook", "warning_header"]
