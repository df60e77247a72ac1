"""A two-region lab driven only through real clients: Alibaba SDKs, kubernetes client, HTTP, DNS."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from alibabacloud_alidns20150109.client import Client as DnsClient
from alibabacloud_servicemesh20200111 import models as asm_models
from alibabacloud_servicemesh20200111.client import Client as AsmClient
from alibabacloud_tea_openapi.models import Config
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from drlab.testing import LabHandle

GATEWAY_PORT = 8080
RESYNC = 8.0


def bookinfo_objects() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for app, versions in (("details", ["v1"]), ("ratings", ["v1"]), ("reviews", ["v1", "v2"]),
                          ("productpage", ["v1"])):
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "labels": {"app": app}},
                     "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 9080}]}})
        for version in versions:
            labels = {"app": app, "version": version}
            objs.append({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": f"{app}-{version}", "labels": labels},
                         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                                      "name": app, "image": f"docker.io/istio/examples-bookinfo-{app}-{version}:1.20.2",
                                      "ports": [{"containerPort": 9080}]}]}}}})
    return objs


ISTIO_GATEWAY = {"apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway",
                 "metadata": {"name": "bookinfo-gateway", "namespace": "default"},
                 "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
                     {"port": {"number": GATEWAY_PORT, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}
VIRTUAL_SERVICE = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
                   "metadata": {"name": "bookinfo", "namespace": "default"},
                   "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"], "http": [
                       {"name": "productpage-route",
                        "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}},
                                  {"uri": {"exact": "/login"}}, {"uri": {"exact": "/logout"}}],
                        "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
                       {"name": "api-route", "match": [{"uri": {"prefix": "/api/v1/products"}}],
                        "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}}
RATE_LIMITER = {"apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "ASMLocalRateLimiter",
                "metadata": {"name": "api-limit", "namespace": "istio-system"},
                "spec": {"workloadSelector": {"labels": {"app": "istio-ingressgateway"}}, "isGateway": True,
                         "configs": [{"name": "api", "match": {"vhost": {"name": "*", "port": GATEWAY_PORT,
                                                                         "route": {"name_match": "api-route"}}},
                                      "limit": {"fill_interval": {"seconds": 60}, "quota": 5}}]}}


@dataclass
class World:
    lab: LabHandle
    asm: AsmClient
    alidns: DnsClient
    regions: list[dict[str, Any]]
    meshes: list[str] = field(default_factory=list)
    cluster_api: dict[str, k8s.ApiClient] = field(default_factory=dict)
    mesh_api: dict[str, k8s.ApiClient] = field(default_factory=dict)

    def address(self, index: int) -> str:
        return self.regions[index]["address"]


def _sdk_config(lab: LabHandle) -> Config:
    creds = lab.credentials
    return Config(access_key_id=creds["access_key_id"], access_key_secret=creds["access_key_secret"],
                  endpoint=lab.endpoint, protocol="http", region_id="cn-hangzhou")


def apply(api: k8s.ApiClient, obj: dict[str, Any], namespace: str = "default") -> None:
    """Create a manifest through the kubernetes client (typed APIs for core kinds, custom objects for CRs)."""
    kind = obj["kind"]
    ns = obj["metadata"].get("namespace", namespace)
    if kind == "Deployment":
        k8s.AppsV1Api(api).create_namespaced_deployment(ns, obj)
    elif kind == "Service":
        k8s.CoreV1Api(api).create_namespaced_service(ns, obj)
    else:
        group, version = obj["apiVersion"].split("/")
        plural = {"Gateway": "gateways", "VirtualService": "virtualservices", "DestinationRule": "destinationrules",
                  "IstioGateway": "istiogateways", "ASMLocalRateLimiter": "asmlocalratelimiters"}[kind]
        k8s.CustomObjectsApi(api).create_namespaced_custom_object(group, version, ns, plural, obj)


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_mesh_running(asm: AsmClient, mesh_id: str, timeout: float = 15) -> None:
    """ASM is busy (not ``running``) after each change and refuses the next one meanwhile."""
    def running():
        detail = asm.describe_service_mesh_detail(asm_models.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id))
        return detail.body.service_mesh.service_mesh_info.state == "running"
    wait_for(running, timeout, 0.1, f"mesh {mesh_id} running")


def _mesh(world: World, index: int) -> str:
    region = world.regions[index]
    created = world.asm.create_service_mesh(asm_models.CreateServiceMeshRequest(
        region_id=region["id"], vpc_id=region["vpc_id"], v_switches=json.dumps(region["vswitches"]),
        name=f"dr-mesh-{index + 1}"))
    mesh_id = created.body.service_mesh_id

    def running():
        detail = world.asm.describe_service_mesh_detail(
            asm_models.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id))
        return detail.body.service_mesh.service_mesh_info.state == "running"
    wait_for(running, 15, 0.2, "mesh running")
    cluster_id = region["clusters"][0]["id"]
    world.asm.add_cluster_into_service_mesh(asm_models.AddClusterIntoServiceMeshRequest(
        service_mesh_id=mesh_id, cluster_id=cluster_id))
    wait_mesh_running(world.asm, mesh_id)
    kubeconfig = world.asm.describe_service_mesh_kubeconfig(
        asm_models.DescribeServiceMeshKubeconfigRequest(service_mesh_id=mesh_id)).body.kubeconfig
    path = os.path.join(world.lab.dir, f"mesh-{index + 1}.kubeconfig")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(kubeconfig)
    world.mesh_api[mesh_id] = k8s_config.new_client_from_config(config_file=path)
    world.cluster_api[cluster_id] = k8s_config.new_client_from_config(
        config_file=os.path.join(world.lab.dir, "kubeconfig", f"{cluster_id}.yaml"))
    return mesh_id


def build_world(lab: LabHandle, regions: int | None = None) -> World:
    """Per region: a mesh with its cluster, Bookinfo, an IstioGateway, Gateway, VirtualService, rate limiter."""
    w = World(lab=lab, asm=AsmClient(_sdk_config(lab)), alidns=DnsClient(_sdk_config(lab)),
              regions=lab.topology["regions"])
    for index in range(regions or len(w.regions)):
        mesh_id = _mesh(w, index)
        w.meshes.append(mesh_id)
        cluster_id = w.regions[index]["clusters"][0]["id"]
        for obj in bookinfo_objects():
            apply(w.cluster_api[cluster_id], obj)
        apply(w.mesh_api[mesh_id], {
            "apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "IstioGateway",
            "metadata": {"name": "ingressgateway", "namespace": "istio-system"},
            "spec": {"gatewayType": "ingress", "clusterIds": [cluster_id], "replicaCount": 1,
                     "minReplicas": 1, "maxReplicas": 3, "cpu": {"targetAverageUtilization": 80},
                     "ports": [{"name": "http-0", "port": GATEWAY_PORT, "targetPort": GATEWAY_PORT,
                                "protocol": "HTTP"}]}})
        for obj in (ISTIO_GATEWAY, VIRTUAL_SERVICE, RATE_LIMITER):
            apply(w.mesh_api[mesh_id], obj)
    return w


def new_lab(**timing: float) -> LabHandle:
    return LabHandle(directory=tempfile.mkdtemp(prefix="drlab-dp-"),
                     topology={"timing": {"mesh_create_delay": 0.2, "mesh_update_delay": 0.2,
                                         "gateway_resync": RESYNC, **timing}}).up()


@pytest.fixture(scope="module")
def world():
    lab = new_lab()
    try:
        yield build_world(lab)
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)
