"""Schemas: pruning and fieldValidation like an apiserver, Istio CRD schemas and istiod's webhook
on the mesh API, OpenAPI documents kubectl explains and validates with (drlab.kube.schemas)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
import yaml
from kube_support import Raw, deployment

HERE = os.path.dirname(__file__)
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def call(raw: Raw, method: str, path: str, body: Any = None,
         content_type: str = "application/json") -> tuple[int, Any, list[str]]:
    """Like Raw.request, also returning the Warning headers."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(raw.url + path, data=data, method=method)  # noqa: S310 - loopback lab
    req.add_header("Content-Type", content_type)
    req.add_header("Authorization", f"Bearer {raw.token}")
    try:
        with urllib.request.urlopen(req, timeout=20, context=raw.ssl) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read()), resp.headers.get_all("Warning") or []
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers.get_all("Warning") or []


def _misspelt(name: str) -> dict[str, Any]:
    obj = deployment(name)
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    return obj


# -- built-in kinds --------------------------------------------------------------------------------
def test_unknown_fields_of_builtin_kinds_are_dropped_with_a_warning_by_default(raw):
    status, body, warnings = call(raw, "POST", "/apis/apps/v1/namespaces/default/deployments", _misspelt("sch-warn"))
    assert status == 201
    container = body["spec"]["template"]["spec"]["containers"][0]
    assert "imagePullPolcy" not in container and container["imagePullPolicy"] == "IfNotPresent"
    assert warnings == ['299 - "unknown field \\"spec.template.spec.containers[0].imagePullPolcy\\""']
    status, stored, _ = call(raw, "GET", "/apis/apps/v1/namespaces/default/deployments/sch-warn")
    assert "imagePullPolcy" not in json.dumps(stored)


def test_field_validation_strict_and_ignore(raw):
    status, body, _ = call(raw, "POST", "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
                           _misspelt("sch-strict"))
    assert status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
                               'unknown field "spec.template.spec.containers[0].imagePullPolcy"')
    assert call(raw, "GET", "/apis/apps/v1/namespaces/default/deployments/sch-strict")[0] == 404
    status, body, warnings = call(raw, "POST", "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Ignore",
                                  _misspelt("sch-ignore"))
    assert status == 201 and warnings == [] and "imagePullPolcy" not in json.dumps(body)
    status, body, _ = call(raw, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Sometimes",
                           {"metadata": {"name": "x"}})
    assert status == 400 and "fieldValidation" in body["message"]


def test_strict_applies_to_patches(raw):
    path = "/apis/apps/v1/namespaces/default/deployments/sch-warn"
    patch = {"spec": {"replicaz": 3}}
    status, body, _ = call(raw, "PATCH", path + "?fieldValidation=Strict", patch, "application/merge-patch+json")
    assert status == 400 and 'unknown field "spec.replicaz"' in body["message"]
    status, body, warnings = call(raw, "PATCH", path, patch, "application/merge-patch+json")
    assert status == 200 and "replicaz" not in body["spec"]
    assert warnings == ['299 - "unknown field \\"spec.replicaz\\""']


def test_builtin_type_errors_are_decoding_errors(raw):
    obj = deployment("sch-type")
    obj["spec"]["replicas"] = "three"
    status, body, _ = call(raw, "POST", "/apis/apps/v1/namespaces/default/deployments", obj)
    assert status == 400
    assert body["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
                               "string into Go struct field DeploymentSpec.spec.replicas of type int32")


def test_python_client_sees_pruned_objects(dyn):
    api = dyn.resources.get(api_version="v1", kind="ConfigMap")
    created = api.create(body={"metadata": {"name": "sch-cm"}, "data": {"a": "1"}, "dataa": {"b": "2"}},
                         namespace="default")
    assert created.to_dict().get("dataa") is None and created.data.a == "1"


# -- custom resources -----------------------------------------------------------------------------
def _crd(name: str = "widgets.sch.example.com") -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": "sch.example.com", "scope": "Namespaced",
                     "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "required": ["spec"], "properties": {"spec": {
                             "type": "object", "required": ["size"], "properties": {
                                 "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                 "color": {"type": "string", "enum": ["red", "blue"]},
                                 "code": {"type": "string", "pattern": "^[a-z]+$"},
                                 "port": {"x-kubernetes-int-or-string": True},
                                 "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}}}]}}


def test_custom_resources_are_validated_and_pruned(raw):
    assert call(raw, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd())[0] == 201
    base = "/apis/sch.example.com/v1/namespaces/default/widgets"

    def widget(name: str, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": "sch.example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}

    status, body, warnings = call(raw, "POST", base, widget("ok", size=3, port="http", extra={"any": {"x": 1}},
                                                            sizee=4))
    assert status == 201, body
    assert body["spec"] == {"size": 3, "port": "http", "extra": {"any": {"x": 1}}}
    assert warnings == ['299 - "unknown field \\"spec.sizee\\""']
    cases = [
        (widget("t", size="big"), 'spec.size: Invalid value: "string": spec.size in body must be of type integer: '
                                  '"string"'),
        (widget("m", size=11), "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"),
        (widget("n", size=0), "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"),
        (widget("e", size=1, color="green"), 'spec.color: Unsupported value: "green": supported values: "red", '
                                             '"blue"'),
        (widget("p", size=1, code="A1"), "spec.code: Invalid value: \"A1\": spec.code in body should match "
                                         "'^[a-z]+$'"),
        (widget("r"), "spec.size: Required value"),
        (widget("i", size=1, port=[1]), 'spec.port: Invalid value: "array": spec.port in body must be of type '
                                        'integer or string: "array"'),
    ]
    for obj, message in cases:
        status, body, _ = call(raw, "POST", base, obj)
        assert (status, body.get("reason")) == (422, "Invalid"), (obj, body)
        assert body["message"] == f'Widget.sch.example.com "{obj["metadata"]["name"]}" is invalid: {message}'
    status, body, _ = call(raw, "POST", base + "?fieldValidation=Strict", widget("s", size=1, sizee=2))
    assert status == 400 and body["message"] == 'strict decoding error: unknown field "spec.sizee"'


# -- Istio on the mesh API ---------------------------------------------------------------------------
def _istio(kind: str, name: str, spec: Any, version: str = "v1") -> dict[str, Any]:
    return {"apiVersion": f"networking.istio.io/{version}", "kind": kind,
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def _gw(name: str, port: dict[str, Any] | None = None, hosts: list[str] | None = None, **server: Any):
    return _istio("Gateway", name, {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": port if port is not None else {"number": 80, "name": "http", "protocol": "HTTP"},
         "hosts": hosts if hosts is not None else ["shop.example.com"], **server}]})


def _vs(name: str, http: list[Any], hosts: list[str] | None = None, **spec: Any):
    return _istio("VirtualService", name, {"hosts": hosts if hosts is not None else ["shop.example.com"],
                                           "http": http, **spec})


def _dr(name: str, **spec: Any):
    return _istio("DestinationRule", name, {"host": "reviews.default.svc.cluster.local", **spec})


@pytest.fixture(scope="module", autouse=True)
def _istio_schemas_ready(mesh_raw):
    """On a machine that never built them, the mesh's Istio CRDs get their schemas a little after start."""
    import time

    deadline = time.monotonic() + 180
    while True:
        code, crd, _ = call(mesh_raw, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                                             "gateways.networking.istio.io")
        spec = (crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].get("properties") or {}) if code == 200 else {}
        if "spec" in spec:
            return
        assert time.monotonic() < deadline, "the mesh CRDs never got Istio's schemas"
        time.sleep(1)


_DEST = {"destination": {"host": "reviews.default.svc.cluster.local"}}
WEBHOOK = 'admission webhook "validation.istio.io" denied the request: configuration is invalid: '

# (object, fieldValidation, HTTP status, text the message contains): schema errors first (422 from
# Istio 1.24's CRD schemas, 400 for Strict's unknown fields), then istiod's webhook (400).
INVALID = [
    (_gw("bad-port-type", {"number": "eighty", "name": "http", "protocol": "HTTP"}), None, 422,
     "spec.servers[0].port.number in body must be of type integer"),
    (_gw("bad-port-neg", {"number": -1, "name": "http", "protocol": "HTTP"}), None, 422,
     "spec.servers[0].port.number in body should be greater than or equal to 0"),
    (_gw("bad-port-noproto", {"number": 80, "name": "http"}), None, 422, "spec.servers[0].port.protocol: Required"),
    (_gw("bad-hosts-type", hosts="shop.example.com"), None, 422, "spec.servers[0].hosts in body must be of type array"),
    (_gw("bad-tls-mode", {"number": 443, "name": "https", "protocol": "HTTPS"}, tls={"mode": "STRICT"}), None, 422,
     'spec.servers[0].tls.mode: Unsupported value: "STRICT"'),
    (_istio("Gateway", "bad-selector", {"selector": {"istio": 1}, "servers": []}), None, 422,
     "spec.selector[istio] in body must be of type string"),
    (_vs("bad-routes", [{"routes": [_DEST]}]), "Strict", 400, 'strict decoding error: unknown field '
                                                                '"spec.http[0].routes"'),
    (_vs("bad-weight", [{"route": [{**_DEST, "weight": "half"}]}]), None, 422,
     "spec.http[0].route[0].weight in body must be of type integer"),
    (_vs("bad-nohost", [{"route": [{"destination": {"subset": "v1"}}]}]), None, 422,
     "spec.http[0].route[0].destination.host: Required value"),
    (_vs("bad-hosts", [{"route": [_DEST]}], hosts="shop.example.com"), None, 422,
     "spec.hosts in body must be of type array"),
    (_vs("bad-http", {"route": [_DEST]}), None, 422, "spec.http in body must be of type array"),
    (_vs("bad-timeout", [{"route": [_DEST], "timeout": 5}]), None, 422,
     "spec.http[0].timeout in body must be of type string"),
    (_dr("bad-lb", trafficPolicy={"loadBalancer": {"simple": "FASTEST"}}), None, 422,
     'spec.trafficPolicy.loadBalancer.simple: Unsupported value: "FASTEST"'),
    (_dr("bad-subsets", subsets={"name": "v1"}), None, 422, "spec.subsets in body must be of type array"),
    (_dr("bad-outlier", trafficPolicy={"outlierDetection": {"consecutive5xxErrors": "three"}}), None, 422,
     "spec.trafficPolicy.outlierDetection.consecutive5xxErrors in body must be of type integer"),
    # istiod's webhook (istio/istio pkg/config/validation, tag 1.24.6)
    (_gw("bad-port-range", {"number": 70000, "name": "http", "protocol": "HTTP"}), None, 400,
     WEBHOOK + "port number 70000 must be in the range 1..65535"),
    (_gw("bad-protocol", {"number": 80, "name": "spdy", "protocol": "SPDY"}), None, 400,
     WEBHOOK + 'invalid protocol "SPDY", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, '
               "TCP"),
    (_gw("bad-nohosts", hosts=[]), None, 400, WEBHOOK + "server config must contain at least one host"),
    (_gw("bad-https-notls", {"number": 443, "name": "https", "protocol": "HTTPS"}), None, 400,
     WEBHOOK + "server must have TLS settings for HTTPS/TLS protocols"),
    (_vs("bad-routes-warn", [{"routes": [_DEST]}]), None, 400,
     WEBHOOK + "HTTP route, redirect or direct_response is required"),
    (_vs("bad-destination", [{"route": [{"destination": {"host": ""}}]}]), None, 400,
     WEBHOOK + "empty domain name not allowed"),
    (_vs("bad-weights", [{"route": [{**_DEST, "weight": 0}, {**_DEST, "weight": 0}]}]), None, 400,
     WEBHOOK + "total destination weight = 0"),
    (_vs("bad-negative-weight", [{"route": [{**_DEST, "weight": -5}]}]), None, 400, WEBHOOK + "weight -5 < 0"),
    (_vs("bad-mesh-wildcard", [{"route": [_DEST]}], hosts=["*"]), None, 400,
     WEBHOOK + "wildcard host * is not allowed for virtual services bound to the mesh gateway"),
    (_dr("bad-distribute-failover", trafficPolicy={
        "loadBalancer": {"localityLbSetting": {"distribute": [{"from": "cn-hangzhou/*", "to": {"cn-shanghai/*": 100}}],
                                               "failover": [{"from": "cn-hangzhou", "to": "cn-shanghai"}]}},
        "outlierDetection": {"consecutive5xxErrors": 3}}), None, 400,
     WEBHOOK + "can not simultaneously specify 'distribute' and 'failover'"),
    (_dr("bad-failover-same", trafficPolicy={
        "loadBalancer": {"localityLbSetting": {"failover": [{"from": "cn-hangzhou", "to": "cn-hangzhou"}]}},
        "outlierDetection": {"consecutive5xxErrors": 3}}), None, 400,
     WEBHOOK + "locality lb failover settings must specify different regions"),
    (_dr("bad-distribute-sum", trafficPolicy={"loadBalancer": {"localityLbSetting": {
        "distribute": [{"from": "cn-hangzhou/*", "to": {"cn-hangzhou/*": 60, "cn-shanghai/*": 30}}]}}}), None, 400,
     WEBHOOK + "total locality weight 90 != 100"),
    (_dr("bad-subset-dup", subsets=[{"name": "v1"}, {"name": "v1"}]), None, 400,
     WEBHOOK + "duplicate subset names: v1"),
]


@pytest.mark.parametrize("obj,validation,status,text", INVALID, ids=[c[0]["metadata"]["name"] for c in INVALID])
def test_invalid_istio_objects_are_refused(mesh_raw, obj, validation, status, text):
    plural = {"Gateway": "gateways", "VirtualService": "virtualservices", "DestinationRule": "destinationrules"}
    path = f"/apis/{obj['apiVersion']}/namespaces/default/{plural[obj['kind']]}"
    code, body, _ = call(mesh_raw, "POST", path + (f"?fieldValidation={validation}" if validation else ""), obj)
    assert code == status, body
    assert text in body["message"], body["message"]
    assert call(mesh_raw, "GET", f"{path}/{obj['metadata']['name']}")[0] == 404


def test_every_version_of_the_istio_kinds_has_a_schema(mesh_raw):
    code, crd, _ = call(mesh_raw, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                                         "virtualservices.networking.istio.io")
    assert code == 200
    for version in crd["spec"]["versions"]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        assert "http" in spec["properties"] and "x-kubernetes-preserve-unknown-fields" not in spec
    obj = _gw("old-api", {"number": 70000, "name": "http", "protocol": "HTTP"})
    obj["apiVersion"] = "networking.istio.io/v1alpha3"
    code, body, _ = call(mesh_raw, "POST", "/apis/networking.istio.io/v1alpha3/namespaces/default/gateways", obj)
    assert code == 400 and "must be in the range 1..65535" in body["message"]


# -- what the collection sends ---------------------------------------------------------------------
def _bookinfo_objects() -> list[dict[str, Any]]:
    import jinja2

    with open(os.path.join(ROOT, "roles", "bookinfo", "templates", "bookinfo-mesh.yaml.j2"), encoding="utf-8") as fh:
        template = jinja2.Template(fh.read())
    text = template.render(bookinfo_namespace="sch-bookinfo", bookinfo_gateway_name="ingressgateway",
                           bookinfo_gateway_port=80, bookinfo_domain="bookinfo.example.com",
                           bookinfo_productpage_route="productpage-route", bookinfo_port=9080,
                           bookinfo_locality_failover=True,
                           bookinfo_services=[{"name": n} for n in ("productpage", "reviews", "ratings", "details")])
    return [d for d in yaml.safe_load_all(text) if d]


def _module_objects() -> list[dict[str, Any]]:
    """The objects asm_gateway and asm_ratelimit build, from the checkout's module_utils."""
    import sys

    collections = os.path.join(ROOT, ".build", "collections")
    link = os.path.join(collections, "ansible_collections", "meshdr", "alicloud")
    if not os.path.exists(link):  # as tests/unit/conftest.py does
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    if collections not in sys.path:
        sys.path.insert(0, collections)
    from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import gateway as gateway_util
    from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import ratelimit as ratelimit_util

    gateway = gateway_util.gateway_object("ingressgateway", gateway_util.gateway_spec({
        "gateway_type": "ingress", "cluster_ids": ["c1"], "replicas": None,
        "hpa": {"min_replicas": 1, "max_replicas": 3, "cpu_target": 80, "memory_target": None},
        "ports": [{"name": "http-0", "port": 80, "target_port": 80, "protocol": "TCP"}],
        "service_type": "LoadBalancer", "service_annotations": {"a": 1}, "external_traffic_policy": "Local",
        "resources": {"limits": {"cpu": "2"}}, "env": {"X": 1}}))
    limiter = {"apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "ASMLocalRateLimiter",
               "metadata": {"name": "productpage", "namespace": "istio-system"},
               "spec": ratelimit_util.ratelimit_spec({"workload_selector": {"app": "istio-ingressgateway"},
                                                      "is_gateway": True,
                                           "configs": [{"name": "productpage", "match": {"vhost": {
                                               "name": "bookinfo.example.com", "port": 80,
                                               "route": {"name_match": "productpage-route"}}},
                                               "limit": {"quota": 10, "fill_interval": {"seconds": 1},
                                                         "status": 429}}]})}
    return [gateway, limiter]


def test_what_the_collection_sends_is_accepted_unchanged(mesh_raw):
    objects = _bookinfo_objects() + _module_objects()
    plurals = {"Namespace": "namespaces", "Gateway": "gateways", "VirtualService": "virtualservices",
               "DestinationRule": "destinationrules", "IstioGateway": "istiogateways",
               "ASMLocalRateLimiter": "asmlocalratelimiters"}
    assert {o["kind"] for o in objects} >= {"Gateway", "VirtualService", "DestinationRule"}
    for obj in objects:
        api = obj["apiVersion"]
        prefix = "/api/v1" if api == "v1" else f"/apis/{api}"
        ns = obj["metadata"].get("namespace")
        path = f"{prefix}/namespaces/{ns}/{plurals[obj['kind']]}" if ns else f"{prefix}/{plurals[obj['kind']]}"
        code, body, warnings = call(mesh_raw, "POST", path + "?fieldValidation=Strict", obj)
        assert code in (201, 409), (obj, body)
        if code == 201 and "spec" in obj:
            assert body["spec"] == obj["spec"], obj["kind"]  # nothing pruned or defaulted away
        assert warnings == []


# -- OpenAPI and kubectl ---------------------------------------------------------------------------
def test_openapi_documents_carry_schemas(raw, mesh_raw):
    code, index, _ = call(raw, "GET", "/openapi/v3")
    assert code == 200
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    code, doc, _ = call(raw, "GET", url[url.index("/openapi"):])
    deployment_schema = doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment_schema["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment",
                                                                     "version": "v1"}]
    spec = doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["properties"]["replicas"]["type"] == "integer"
    code, v2, _ = call(raw, "GET", "/openapi/v2")
    assert code == 200 and v2["swagger"] == "2.0" and "io.k8s.api.core.v1.PodSpec" in v2["definitions"]
    code, mesh_doc, _ = call(mesh_raw, "GET", "/openapi/v3/apis/networking.istio.io/v1")
    assert code == 200
    vs = mesh_doc["components"]["schemas"]["io.istio.networking.v1.VirtualService"]
    assert "http" in vs["properties"]["spec"]["properties"]


@pytest.fixture
def kubectl(tmp_path):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on the PATH")
    env = dict(os.environ, HOME=str(tmp_path))

    def run(kubeconfig: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True,
                              text=True, timeout=90, env=env)
    return run


def test_kubectl_explain(kubectl, cluster_kubeconfig, mesh_kubeconfig):
    result = kubectl(cluster_kubeconfig, "explain", "deployment.spec.replicas")
    assert result.returncode == 0, result.stderr
    assert "FIELD: replicas <integer>" in result.stdout and "Number of desired pods" in result.stdout
    result = kubectl(mesh_kubeconfig, "explain", "virtualservices.spec.http.route.destination")
    assert result.returncode == 0, result.stderr
    assert "host" in result.stdout


MISSPELT = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: sch-kubectl
  namespace: default
data: {a: "1"}
dta: {b: "2"}
"""


def test_kubectl_apply_validate_strict_refuses_unknown_fields(kubectl, cluster_kubeconfig):
    result = kubectl(cluster_kubeconfig, "apply", "--validate=strict", "-f", "-", stdin=MISSPELT)
    assert result.returncode != 0
    assert 'unknown field "dta"' in result.stderr
    result = kubectl(cluster_kubeconfig, "apply", "--validate=warn", "-f", "-", stdin=MISSPELT)
    assert result.returncode == 0, result.stderr
    assert 'unknown field "dta"' in result.stderr
    result = kubectl(cluster_kubeconfig, "get", "cm", "sch-kubectl", "-o", "json")
    assert "dta" not in json.loads(result.stdout)

