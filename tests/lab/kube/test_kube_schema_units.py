"""drlab.kube.schemas and drlab.mesh.validation without a lab: where the schemas come from, what
the walker prunes, and istiod's webhook messages."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from drlab.kube import crds, schemas
from drlab.kube.resources import BUILTINS
from drlab.mesh import validation


def test_every_builtin_kind_has_an_upstream_definition():
    missing = [rt.kind for rt in BUILTINS if schemas.builtin_definition(rt.group, rt.version, rt.kind) is None]
    assert missing == []
    deployment = schemas.builtin_definitions()["io.k8s.api.apps.v1.DeploymentSpec"]
    assert deployment["properties"]["template"]["$ref"].endswith("io.k8s.api.core.v1.PodTemplateSpec")


def test_the_kubernetes_schemas_are_read_from_outside_site_packages():
    # The kubernetes client imports kubernetes_validate whenever it can (kubernetes/dynamic/client.py): an
    # importable copy would be imported by every module process the tests and benchmarks measure.
    assert importlib.util.find_spec("kubernetes_validate") is None, (
        "kubernetes_validate is importable in this venv: every kubernetes.core and meshdr module process "
        "imports it; `make venv` installs it under .venv/share/drlab instead")
    found = schemas.kubernetes_validate_dir()
    assert found == os.path.join(schemas.KUBERNETES_VALIDATE_TARGET, "kubernetes_validate")
    modules_see = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", "import kubernetes.dynamic, sys; print('kubernetes_validate' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert modules_see.stdout.strip() == "False"


def test_istio_schemas_come_from_the_published_crds():
    gateway = schemas.istio_schema("v1", "Gateway")["properties"]["spec"]
    port = gateway["properties"]["servers"]["items"]["properties"]["port"]
    # Istio 1.24's crd-all.gen.yaml: uint32 port number, name/number/protocol required
    number = {k: v for k, v in port["properties"]["number"].items() if k != "description"}
    assert number == {"type": "integer", "minimum": 0, "maximum": 4294967295}
    assert port["properties"]["number"]["description"].startswith("A valid non-negative integer port number")
    assert set(port["required"]) == {"name", "number", "protocol"}
    route = schemas.istio_schema("v1beta1", "VirtualService")["properties"]["spec"]["properties"]["http"]["items"]
    destination = route["properties"]["route"]["items"]["properties"]["destination"]
    assert destination["required"] == ["host"]
    lb = schemas.istio_schema("v1", "DestinationRule")["properties"]["spec"]["properties"]["trafficPolicy"][
        "properties"]["loadBalancer"]
    assert "LEAST_REQUEST" in lb["properties"]["simple"]["enum"]
    patch = schemas.istio_schema("v1alpha3", "EnvoyFilter")["properties"]["spec"]["properties"]["configPatches"][
        "items"]["properties"]["patch"]["properties"]["value"]
    assert patch.get("x-kubernetes-preserve-unknown-fields") is True  # a google.protobuf.Struct
    served = {(c["spec"]["names"]["kind"], v["name"]) for c in crds.mesh_crds() for v in c["spec"]["versions"]}
    assert ("VirtualService", "v1alpha3") in served and ("ASMLocalRateLimiter", "v1") in served


def test_union_variants_merge_into_one_structural_node():
    merged = schemas._merge([{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                             {"type": "object", "properties": {"b": {"type": "integer"}}, "required": ["b"]}])
    assert merged == {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    assert schemas._merge([{"type": "integer"}, {"type": "string"}]) == {"x-kubernetes-int-or-string": True}


def _walk(obj, schema, builtin=False):
    walker = schemas.Walker(schemas.builtin_definitions(), builtin=builtin)
    return walker.walk(obj, schema, ""), walker


def test_walker_prunes_structurally():
    schema = {"type": "object", "properties": {
        "keep": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "typed": {"type": "object", "properties": {"a": {"type": "string"}}},
        "bare": {"type": "object"},
        "map": {"type": "object", "additionalProperties": {"type": "integer"}}}}
    out, walker = _walk({"keep": {"x": {"y": 1}}, "typed": {"a": "1", "b": 2}, "bare": {"z": 1}, "map": {"k": "v"},
                         "other": None}, schema)
    assert out == {"keep": {"x": {"y": 1}}, "typed": {"a": "1"}, "bare": {}, "map": {"k": "v"}}
    assert walker.unknown == ["typed.b", "bare.z"]
    assert walker.errors == [("FieldValueTypeInvalid", "map[k]",
                              'Invalid value: "string": map[k] in body must be of type integer: "string"')]


def test_walker_keeps_go_maps_and_raw_extensions_of_builtin_kinds():
    ref = {"$ref": "#/components/schemas/io.k8s.api.core.v1.ConfigMap"}
    out, walker = _walk({"data": {"a": "1"}, "metadata": {"name": "x", "labels": {"l": "v"}, "nope": 1}}, ref,
                        builtin=True)
    assert out == {"data": {"a": "1"}, "metadata": {"name": "x", "labels": {"l": "v"}}}
    assert walker.unknown == ["metadata.nope"] and walker.decode_error is None
    _, walker = _walk({"spec": {"ports": [{"port": "80x", "targetPort": "http"}]}},
                      {"$ref": "#/components/schemas/io.k8s.api.core.v1.Service"}, builtin=True)
    assert walker.decode_error == ("json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port "
                                   "of type int32")


def test_field_validation_values():
    assert schemas.parse_field_validation(None) is None
    with pytest.raises(schemas.ApiError) as exc:
        schemas.parse_field_validation("strict")
    assert exc.value.code == 400
    assert schemas.warning_header('unknown field "a"') == '299 - "unknown field \\"a\\""'


@pytest.mark.parametrize("host,error", [
    ("reviews.default.svc.cluster.local", None),
    ("*.example.com", None),
    ("*", None),
    ("", "empty domain name not allowed"),
    # istiod checks the labels after the first on their own, and names only that part
    ("a..b", 'domain name ".b" invalid (label "" invalid)'),
    ("example.123", 'domain name "123" invalid (top level domain "123" cannot be all-numeric)'),
    ("foo_bar.com", 'domain name "foo_bar.com" invalid (label "foo_bar" invalid)'),
])
def test_wildcard_domains(host, error):
    assert validation.wildcard_domain(host) == error


def test_webhook_checks_gateways_routes_and_rules():
    server = {"port": {"number": 80, "name": "http", "protocol": "http"}, "hosts": ["ns/shop.example.com"]}
    assert validation.gateway("gw", {"servers": [server]}) == []  # protocols are case-insensitive
    assert validation.gateway("gw", {"servers": [server, server]}) == [
        "port names in servers must be unique: duplicate name http"]
    assert validation.gateway("gw.x", {}) == ['invalid gateway name: "gw.x"', "gateway must have at least one server"]
    assert validation.virtual_service("vs", {"hosts": ["a.example.com"]}) == [
        "http, tcp or tls must be provided in virtual service"]
    assert validation.virtual_service("vs", {"hosts": ["a.example.com"], "http": [
        {"route": [{"destination": {"host": "b"}}], "redirect": {"uri": "/x"}}]}) == [
        "HTTP route cannot contain both route and redirect"]
    assert validation.virtual_service("vs", {"gateways": ["gw"], "http": [{"route": [{"destination": {
        "host": "b"}}]}]}) == ["delegate virtual service must have no gateways specified"]
    assert validation.destination_rule("dr", {"host": "r", "trafficPolicy": {"loadBalancer": {"localityLbSetting": {
        "distribute": [{"from": "a/*", "to": {"b/*": 0}}]}}}}) == ["locality weight must be in range [1, 100]"]
    assert validation.destination_rule("dr", {"host": "r", "subsets": [{"name": "V_1"}]}) == [
        "subset name is invalid: V_1"]


def test_meshes_seeded_before_the_istio_schemas_are_upgraded(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from drlab.kube.server import KubeServer
    from drlab.mesh.component import MeshComponent

    component = SimpleNamespace(base_url="https://127.0.0.1:1", simulate_pods=False, auto_deployment_status=True,
                                servers={})
    monkeypatch.setattr(schemas, "istio_ready", lambda: False)  # a cold machine: still building
    mesh = component.servers["m"] = KubeServer(component, "m", "mesh", str(tmp_path / "m.json"))
    name = "virtualservices.networking.istio.io"
    assert crds.is_open(mesh.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name))
    asm = mesh.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "asmlocalratelimiters."
                                                                                "istio.alibabacloud.com")
    assert not crds.is_open(asm)  # ASM's documented fields need no build
    monkeypatch.undo()
    assert schemas.istio_ready()
    MeshComponent.upgrade_crds(SimpleNamespace(_kube=lambda: component))
    upgraded = mesh.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name)
    assert not crds.is_open(upgraded)
    rt = mesh.lookup("networking.istio.io", "v1", "virtualservices")
    with pytest.raises(schemas.ApiError) as exc:
        mesh.create_object(rt, "default", {"metadata": {"name": "v"}, "spec": {"hosts": "a"}})
    assert exc.value.code == 422
