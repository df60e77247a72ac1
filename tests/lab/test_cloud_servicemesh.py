"""ASM control plane through the real servicemesh SDK: lifecycle, clusters, features, CA, gateways."""

from __future__ import annotations

import base64
import json
import time

import pytest
import yaml
from alibabacloud_servicemesh20200111 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException
from cloud_support import api_error as _fail
from cloud_support import mesh_client, start_lab, stop_lab

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lab():
    handle = start_lab()
    yield handle
    stop_lab(handle)


@pytest.fixture(scope="module")
def client(lab):
    return mesh_client(lab)


def _create(lab, client, name: str, region_index: int = 0, **extra) -> str:
    region = lab.topology["regions"][region_index]
    request = m.CreateServiceMeshRequest(region_id=region["id"], vpc_id=region["vpc_id"], name=name,
                                         v_switches=json.dumps(region["vswitches"]), **extra)
    return client.create_service_mesh(request).body.service_mesh_id


def _state(client, mesh_id: str) -> str:
    detail = client.describe_service_mesh_detail(m.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id))
    return detail.body.service_mesh.service_mesh_info.state


def _wait_state(client, mesh_id: str, wanted: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _state(client, mesh_id) == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"mesh {mesh_id} never reached {wanted} (now {_state(client, mesh_id)})")


def test_create_is_initial_then_running_and_rejects_early_changes(lab, client):
    mesh_id = _create(lab, client, "lifecycle")
    assert mesh_id.startswith("c") and len(mesh_id) == 33
    assert _state(client, mesh_id) == "initial"
    cluster_id = lab.topology["regions"][0]["clusters"][0]["id"]
    err = _fail(lambda: client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(
        service_mesh_id=mesh_id, cluster_id=cluster_id)))
    assert err.code == "StillInitializing"
    _wait_state(client, mesh_id, "running")
    listed = client.describe_service_meshes(m.DescribeServiceMeshesRequest()).body.service_meshes
    assert mesh_id in [x.service_mesh_info.service_mesh_id for x in listed]
    # The event is written by the lab's ticker (every 0.25 s), so allow it a moment.
    deadline = time.monotonic() + 3
    while not any(e["kind"] == "mesh_running" and e.get("mesh_id") == mesh_id for e in lab.admin("events")):
        assert time.monotonic() < deadline, "no mesh_running event"
        time.sleep(0.1)


def test_create_validates_region_vpc_vswitch_and_name(lab, client):
    region = lab.topology["regions"][0]
    cases = [
        ({"region_id": "eu-nowhere-9", "vpc_id": region["vpc_id"]}, "InvalidParameter"),
        ({"region_id": region["id"], "vpc_id": "vpc-unknown"}, "InvalidVpcId.NotFound"),
    ]
    for fields, code in cases:
        err = _fail(lambda fields=fields: client.create_service_mesh(m.CreateServiceMeshRequest(
            v_switches=json.dumps(region["vswitches"]), name="bad", **fields)))
        assert err.code == code
    err = _fail(lambda: client.create_service_mesh(m.CreateServiceMeshRequest(
        region_id=region["id"], vpc_id=region["vpc_id"], v_switches='["vsw-other"]')))
    assert err.code == "InvalidVSwitchId.NotFound"
    _create(lab, client, "unique-name")
    err = _fail(lambda: _create(lab, client, "unique-name"))
    assert err.code == "NameAlreadyExist"


def test_clusters_membership_rules(lab, client):
    first = _create(lab, client, "members-1")
    second = _create(lab, client, "members-2", region_index=1)
    _wait_state(client, first, "running")
    _wait_state(client, second, "running")
    own = lab.topology["regions"][0]["clusters"][0]["id"]
    client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(service_mesh_id=first, cluster_id=own))
    clusters = client.describe_clusters_in_service_mesh(
        m.DescribeClustersInServiceMeshRequest(service_mesh_id=first)).body.clusters
    assert [(c.cluster_id, c.state, c.region_id) for c in clusters] == [
        (own, "running", lab.topology["regions"][0]["id"])]
    # A cluster is managed by one mesh; the peer may only discover it.
    err = _fail(lambda: client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(
        service_mesh_id=second, cluster_id=own)))
    assert err.code == "InvalidActiveState.ACK"
    client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(
        service_mesh_id=second, cluster_id=own, discovery_only=True))
    err = _fail(lambda: client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(
        service_mesh_id=first, cluster_id="c" + "0" * 32)))
    assert err.code == "ERR404" and err.status_code == 404
    detail = client.describe_service_mesh_detail(m.DescribeServiceMeshDetailRequest(service_mesh_id=second))
    assert detail.body.service_mesh.clusters == [own]


def test_features_round_trip_and_validation(lab, client):
    mesh_id = _create(lab, client, "features")
    _wait_state(client, mesh_id, "running")
    conf = {"failover": [{"from": "cn-hangzhou", "to": "ap-southeast-1"}]}
    client.update_mesh_feature(m.UpdateMeshFeatureRequest(
        service_mesh_id=mesh_id, locality_load_balancing=True, locality_lbconf=json.dumps(conf),
        outbound_traffic_policy="REGISTRY_ONLY"))
    client.update_mesh_craggregation(m.UpdateMeshCRAggregationRequest(service_mesh_id=mesh_id, enabled=True))
    cfg = client.describe_service_mesh_detail(
        m.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id)).body.service_mesh.spec.mesh_config
    assert cfg.enable_locality_lb is True and cfg.locality_lb.failover == conf["failover"]
    assert cfg.outbound_traffic_policy == "REGISTRY_ONLY"
    assert cfg.extra_configuration.craggregation_enabled is True
    assert cfg.locality_lb.distribute is None
    # keep traffic in cluster: a distribute rule is reported back as it was set
    keep = {"distribute": [{"from": "cn-hangzhou/*", "to": {"cn-hangzhou/*": 100}}]}
    client.update_mesh_feature(m.UpdateMeshFeatureRequest(service_mesh_id=mesh_id, locality_lbconf=json.dumps(keep)))
    cfg = client.describe_service_mesh_detail(
        m.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id)).body.service_mesh.spec.mesh_config
    assert cfg.locality_lb.distribute == keep["distribute"] and cfg.locality_lb.failover == []
    err = _fail(lambda: client.update_mesh_feature(m.UpdateMeshFeatureRequest(
        service_mesh_id=mesh_id, locality_lbconf="{not json")))
    assert err.code == "InvalidParameter"
    err = _fail(lambda: client.update_mesh_feature(m.UpdateMeshFeatureRequest(
        service_mesh_id=mesh_id, outbound_traffic_policy="SOMETIMES")))
    assert err.code == "InvalidParameter"


def test_meshes_can_share_one_root_ca(lab, client):
    first = _create(lab, client, "ca-1")
    pem = base64.b64decode(client.get_ca_cert(m.GetCaCertRequest(service_mesh_id=first)).body.ca_cert).decode()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
    second = _create(lab, client, "ca-2", region_index=1, use_existing_ca=True, existing_ca_type=2,
                     existing_root_ca_cert=pem, existing_root_ca_key=key)
    shared = base64.b64decode(client.get_ca_cert(m.GetCaCertRequest(service_mesh_id=second)).body.ca_cert).decode()
    assert shared == pem
    third = _create(lab, client, "ca-3")
    other = base64.b64decode(client.get_ca_cert(m.GetCaCertRequest(service_mesh_id=third)).body.ca_cert).decode()
    assert other != pem  # without UseExistingCA every mesh gets its own root
    err = _fail(lambda: _create(lab, client, "ca-4", use_existing_ca=True, existing_ca_type=2,
                                existing_root_ca_cert=pem))
    assert err.code == "MissingParameter" and "ExistingRootCaKey" in err.message


def test_delete_needs_clusters_gone_then_mesh_disappears(lab, client):
    mesh_id = _create(lab, client, "doomed", region_index=1)
    _wait_state(client, mesh_id, "running")
    cluster = lab.topology["regions"][1]["clusters"][0]["id"]
    client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(service_mesh_id=mesh_id,
                                                                            cluster_id=cluster))
    err = _fail(lambda: client.delete_service_mesh(m.DeleteServiceMeshRequest(service_mesh_id=mesh_id)))
    assert err.code == "RelatedResourceReused"
    client.remove_cluster_from_service_mesh(m.RemoveClusterFromServiceMeshRequest(service_mesh_id=mesh_id,
                                                                                  cluster_id=cluster))
    client.delete_service_mesh(m.DeleteServiceMeshRequest(service_mesh_id=mesh_id))
    assert _state(client, mesh_id) == "deleting"
    deadline = time.monotonic() + 10
    while True:
        try:
            _state(client, mesh_id)
        except ClientException as exc:
            assert exc.code == "ServiceMesh.NotFound" and exc.status_code == 404
            break
        assert time.monotonic() < deadline, "mesh never went away"
        time.sleep(0.1)
    listed = client.describe_service_meshes(m.DescribeServiceMeshesRequest()).body.service_meshes
    assert mesh_id not in [x.service_mesh_info.service_mesh_id for x in listed]


def test_kubeconfig_and_gateway_reach_the_mesh_api_server(lab, client):
    mesh_id = _create(lab, client, "gateways")
    _wait_state(client, mesh_id, "running")
    has_kube = "kube" in lab.status()["components"]
    request = m.DescribeServiceMeshKubeconfigRequest(service_mesh_id=mesh_id)
    if not has_kube:
        err = _fail(lambda: client.describe_service_mesh_kubeconfig(request))
        assert err.status_code == 503 and err.code == "ServiceUnavailable"
        return
    kubeconfig = yaml.safe_load(client.describe_service_mesh_kubeconfig(request).body.kubeconfig)
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    assert server.endswith(f"/meshes/{mesh_id}")
    gateway = {"apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "IstioGateway",
               "metadata": {"name": "ingressgateway", "namespace": "istio-system"},
               "spec": {"gatewayType": "ingress", "replicaCount": 1, "ports": [{"name": "http", "port": 80,
                                                                                 "targetPort": 80,
                                                                                 "protocol": "HTTP"}]}}
    client.create_asmgateway(m.CreateASMGatewayRequest(service_mesh_id=mesh_id, istio_gateway_name="ingressgateway",
                                                       body=json.dumps(gateway)))
    err = _fail(lambda: client.create_asmgateway(m.CreateASMGatewayRequest(
        service_mesh_id=mesh_id, istio_gateway_name="ingressgateway", body=json.dumps(gateway))))
    assert err.code == "ASMGateway.AlreadyExists"
    gateway["spec"]["replicaCount"] = 2
    client.update_asmgateway(m.UpdateASMGatewayRequest(service_mesh_id=mesh_id, istio_gateway_name="ingressgateway",
                                                       body=json.dumps(gateway)))
    # Read it back over the mesh's own Kubernetes API, as kubectl would.
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    api = k8s_config.new_client_from_config_dict(kubeconfig)
    stored = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        "istio.alibabacloud.com", "v1beta1", "istio-system", "istiogateways", "ingressgateway")
    assert stored["spec"]["replicaCount"] == 2
    err = _fail(lambda: client.update_asmgateway(m.UpdateASMGatewayRequest(
        service_mesh_id=mesh_id, istio_gateway_name="missing", body=json.dumps(gateway))))
    assert err.code == "ASMGateway.NotFound"
    wrong = {**gateway, "kind": "Gateway"}
    err = _fail(lambda: client.create_asmgateway(m.CreateASMGatewayRequest(
        service_mesh_id=mesh_id, istio_gateway_name="other", body=json.dumps(wrong))))
    assert err.code == "InvalidParameter"
