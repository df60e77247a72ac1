"""Istio locality semantics in one mesh spanning both clusters, seen from outside through x-drlab headers."""

from __future__ import annotations

import collections
import json
import os
import shutil

import pytest
from alibabacloud_servicemesh20200111 import models as asm_models
from dp_world import (
    ISTIO_GATEWAY,
    VIRTUAL_SERVICE,
    World,
    _sdk_config,
    apply,
    bookinfo_objects,
    new_lab,
    wait_for,
    wait_mesh_running,
)
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from test_end_to_end import get, http_status

APPS = ("productpage", "details", "reviews", "ratings")


@pytest.fixture(scope="module")
def shared():
    """One mesh in region 1 managing cluster-1 and cluster-2; the gateway only in cluster-1."""
    from alibabacloud_alidns20150109.client import Client as DnsClient
    from alibabacloud_servicemesh20200111.client import Client as AsmClient
    lab = new_lab()
    try:
        w = World(lab=lab, asm=AsmClient(_sdk_config(lab)), alidns=DnsClient(_sdk_config(lab)),
                  regions=lab.topology["regions"])
        region = w.regions[0]
        mesh_id = w.asm.create_service_mesh(asm_models.CreateServiceMeshRequest(
            region_id=region["id"], vpc_id=region["vpc_id"], v_switches=json.dumps(region["vswitches"]))
        ).body.service_mesh_id
        wait_for(lambda: w.asm.describe_service_mesh_detail(asm_models.DescribeServiceMeshDetailRequest(
            service_mesh_id=mesh_id)).body.service_mesh.service_mesh_info.state == "running", 15, 0.2)
        w.meshes.append(mesh_id)
        for r in w.regions:
            cluster_id = r["clusters"][0]["id"]
            w.asm.add_cluster_into_service_mesh(asm_models.AddClusterIntoServiceMeshRequest(
                service_mesh_id=mesh_id, cluster_id=cluster_id))
            wait_mesh_running(w.asm, mesh_id)
            w.cluster_api[cluster_id] = k8s_config.new_client_from_config(
                config_file=f"{lab.dir}/kubeconfig/{cluster_id}.yaml")
            for obj in bookinfo_objects():
                apply(w.cluster_api[cluster_id], obj)
        path = f"{lab.dir}/mesh.kubeconfig"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(w.asm.describe_service_mesh_kubeconfig(asm_models.DescribeServiceMeshKubeconfigRequest(
                service_mesh_id=mesh_id)).body.kubeconfig)
        w.mesh_api[mesh_id] = k8s_config.new_client_from_config(config_file=path)
        apply(w.mesh_api[mesh_id], {
            "apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "IstioGateway",
            "metadata": {"name": "ingressgateway", "namespace": "istio-system"},
            "spec": {"clusterIds": [w.regions[0]["clusters"][0]["id"]], "replicaCount": 1,
                     "ports": [{"name": "http-0", "port": 8080, "targetPort": 8080, "protocol": "HTTP"}]}})
        for obj in (ISTIO_GATEWAY, VIRTUAL_SERVICE):
            apply(w.mesh_api[mesh_id], obj)
        wait_for(lambda: http_status(w.address(0)) == 200, 10, what="gateway serving")
        yield w
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)


def _sample(w: World, n: int = 40) -> tuple[collections.Counter, collections.Counter]:
    served: collections.Counter = collections.Counter()
    backends: collections.Counter = collections.Counter()
    for _ in range(n):
        status, _, headers = get(w.address(0))
        assert status == 200
        served[headers["x-drlab-cluster"]] += 1
        for kv in headers["x-drlab-backends"].split(","):
            backends[kv] += 1
    return served, backends


def _feature(w: World, **kwargs) -> None:
    w.asm.update_mesh_feature(asm_models.UpdateMeshFeatureRequest(service_mesh_id=w.meshes[0], **kwargs))
    wait_mesh_running(w.asm, w.meshes[0])


def test_nothing_configured_spreads_across_clusters(shared: World):
    served, backends = _sample(shared)
    assert set(served) == {"cluster-1", "cluster-2"}
    assert backends["details=cluster-1"] and backends["details=cluster-2"]


def test_distribute_keeps_traffic_in_cluster(shared: World):
    r1, r2 = (r["id"] for r in shared.regions)
    conf = {"distribute": [{"from": f"{r1}/*", "to": {f"{r1}/*": 100}}, {"from": f"{r2}/*", "to": {f"{r2}/*": 100}}]}
    _feature(shared, locality_load_balancing=True, locality_lbconf=json.dumps(conf))
    wait_for(lambda: set(_sample(shared, 10)[0]) == {"cluster-1"}, 5, what="keep-in-cluster applied")
    served, backends = _sample(shared)
    assert served == {"cluster-1": 40}
    assert backends["details=cluster-1"] == 40 and backends["reviews=cluster-1"] == 40
    assert not any(k.endswith("cluster-2") for k in backends)

    # kept local means a local service with no replicas fails its callers rather than leaving the cluster
    apps = k8s.AppsV1Api(shared.cluster_api[shared.regions[0]["clusters"][0]["id"]])
    apps.patch_namespaced_deployment_scale("details-v1", "default", {"spec": {"replicas": 0}})
    try:
        wait_for(lambda: "details=unavailable" in get(shared.address(0))[2]["x-drlab-backends"], 5,
                 what="details unavailable")
        assert "product details are currently unavailable" in get(shared.address(0))[1]
    finally:
        apps.patch_namespaced_deployment_scale("details-v1", "default", {"spec": {"replicas": 1}})
    wait_for(lambda: "details=cluster-1" in get(shared.address(0))[2]["x-drlab-backends"], 5, what="details back")


def test_failover_stays_local_until_local_has_no_replicas(shared: World):
    _feature(shared, locality_load_balancing=False)
    r1, r2 = (r["id"] for r in shared.regions)
    mesh = shared.mesh_api[shared.meshes[0]]
    for app in APPS:
        apply(mesh, {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
                     "metadata": {"name": app, "namespace": "default"},
                     "spec": {"host": app, "trafficPolicy": {
                         "loadBalancer": {"localityLbSetting": {"enabled": True, "failover": [
                             {"from": r1, "to": r2}, {"from": r2, "to": r1}]}},
                         "outlierDetection": {"consecutive5xxErrors": 1, "interval": "1s",
                                              "baseEjectionTime": "30s"}}}})
    wait_for(lambda: set(_sample(shared, 10)[0]) == {"cluster-1"}, 5, what="failover priorities applied")
    served, backends = _sample(shared)
    assert served == {"cluster-1": 40} and backends["reviews=cluster-1"] == 40

    apps = k8s.AppsV1Api(shared.cluster_api[shared.regions[0]["clusters"][0]["id"]])
    for name in ("reviews-v1", "reviews-v2"):
        apps.patch_namespaced_deployment_scale(name, "default", {"spec": {"replicas": 0}})
    try:
        wait_for(lambda: "reviews=cluster-2" in get(shared.address(0))[2]["x-drlab-backends"], 5,
                 what="reviews failed over to cluster-2")
        served, backends = _sample(shared, 20)
        assert served == {"cluster-1": 20}
        assert backends["reviews=cluster-2"] == 20 and backends["details=cluster-1"] == 20
    finally:
        for name in ("reviews-v1", "reviews-v2"):
            apps.patch_namespaced_deployment_scale(name, "default", {"spec": {"replicas": 1}})
    wait_for(lambda: "reviews=cluster-1" in get(shared.address(0))[2]["x-drlab-backends"], 5, what="reviews local")


def test_gateway_scaled_to_zero_stops_envoy_until_resync(shared: World):
    cluster_id = shared.regions[0]["clusters"][0]["id"]
    apps = k8s.AppsV1Api(shared.cluster_api[cluster_id])
    apps.patch_namespaced_deployment_scale("istio-ingressgateway", "istio-system", {"spec": {"replicas": 0}})
    wait_for(lambda: http_status(shared.address(0)) is None, 1.0, 0.02, "connection refused at replicas 0")
    status = shared.lab.status()["components"]["dataplane"]["gateways"][shared.regions[0]["id"]]
    assert status["running"] is False
    # ASM owns replicas: the hand edit is reverted by the resync, and Envoy serves again
    wait_for(lambda: apps.read_namespaced_deployment("istio-ingressgateway", "istio-system").spec.replicas == 1,
             12, 0.2, "replicas restored by resync")
    wait_for(lambda: http_status(shared.address(0)) == 200, 5, 0.1, "gateway serving again")


def test_istio_gateway_change_applies_at_once(shared: World):
    mesh = k8s.CustomObjectsApi(shared.mesh_api[shared.meshes[0]])
    mesh.patch_namespaced_custom_object("istio.alibabacloud.com", "v1beta1", "istio-system", "istiogateways",
                                        "ingressgateway", {"spec": {"replicaCount": 2}})
    apps = k8s.AppsV1Api(shared.cluster_api[shared.regions[0]["clusters"][0]["id"]])
    wait_for(lambda: apps.read_namespaced_deployment("istio-ingressgateway", "istio-system").spec.replicas == 2,
             2, 0.1, "the IstioGateway's new replica count (no resync delay)")
    assert http_status(shared.address(0)) == 200


def test_an_idle_lab_skips_the_controllers_periodic_passes(shared: World):
    """With nothing written, the half-second looks of ASM's and the data plane's controllers find the same
    inputs and skip their pass (drlab.kube.watch.QuietPasses); the tests around this one show that a write
    still applies at once."""
    def skipped() -> dict[str, int]:
        components = shared.lab.status()["components"]
        return {name: components[name]["reconcile"]["skipped"] for name in ("mesh", "dataplane")}

    before = skipped()
    wait_for(lambda: all(count > before[name] for name, count in skipped().items()), 15, 0.2,
             "periodic passes skipped on an idle lab")


def test_restart_brings_the_data_plane_back(shared: World):
    shared.lab.restart()
    wait_for(lambda: http_status(shared.address(0)) == 200, 10, 0.1, "gateway serving after restart")
    status, _, headers = get(shared.address(0))
    assert status == 200 and headers["x-drlab-cluster"] == "cluster-1"
    assert "Envoy on" in shared.lab.cli("status").stdout


def _envoys_of(lab_dir: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if f"{lab_dir}/envoy/".encode() in handle.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_envoy_does_not_outlive_a_killed_lab(shared: World):
    assert _envoys_of(shared.lab.dir)
    shared.lab.kill9()
    wait_for(lambda: not _envoys_of(shared.lab.dir), 10, 0.05, "Envoy gone with the lab")
    assert http_status(shared.address(0)) is None
    # How fast `drlab up` comes back is a figure, not a behaviour: a busy machine may take longer.
    shared.lab.up()
    wait_for(lambda: http_status(shared.address(0)) == 200, 30, 0.1, "gateway serving after kill -9 and up")


def test_deleting_the_istio_gateway_removes_its_objects(shared: World):
    cluster_id = shared.regions[0]["clusters"][0]["id"]
    core = k8s.CoreV1Api(shared.cluster_api[cluster_id])
    apps = k8s.AppsV1Api(shared.cluster_api[cluster_id])
    custom = k8s.CustomObjectsApi(shared.mesh_api[shared.meshes[0]])
    custom.delete_namespaced_custom_object("istio.alibabacloud.com", "v1beta1", "istio-system", "istiogateways",
                                           "ingressgateway")
    wait_for(lambda: not [d for d in apps.list_namespaced_deployment("istio-system").items
                          if d.metadata.name == "istio-ingressgateway"], 3, 0.1, "gateway Deployment removed")
    assert not [s for s in core.list_namespaced_service("istio-system").items
                if s.metadata.name == "istio-ingressgateway"]
    assert not [s for s in core.list_namespaced_service_account("istio-system").items
                if s.metadata.name == "istio-ingressgateway"]
    wait_for(lambda: http_status(shared.address(0)) is None, 2, 0.05, "connection refused without a gateway")
