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
from cloud_support import contract, mesh_client, send, signed_request, start_lab, stop_lab
from cryptography import x509

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


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _add(client, mesh_id: str, cluster_id: str, **extra) -> None:
    """Add a cluster and wait until the mesh has applied it (it is busy meanwhile)."""
    client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(
        service_mesh_id=mesh_id, cluster_id=cluster_id, **extra))
    _wait_state(client, mesh_id, "running")


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
    _add(client, first, own)
    clusters = client.describe_clusters_in_service_mesh(
        m.DescribeClustersInServiceMeshRequest(service_mesh_id=first)).body.clusters
    assert [(c.cluster_id, c.state, c.region_id) for c in clusters] == [
        (own, "running", lab.topology["regions"][0]["id"])]
    # A cluster is managed by one mesh; the peer may only discover it.
    err = _fail(lambda: client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(
        service_mesh_id=second, cluster_id=own)))
    assert err.code == "InvalidActiveState.ACK"
    _add(client, second, own, discovery_only=True)
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
    _wait_state(client, mesh_id, "running")
    client.update_mesh_craggregation(m.UpdateMeshCRAggregationRequest(service_mesh_id=mesh_id, enabled=True))
    _wait_state(client, mesh_id, "running")
    cfg = client.describe_service_mesh_detail(
        m.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id)).body.service_mesh.spec.mesh_config
    # SDK ...MeshConfigLocalityLB: Failover and Distribute are objects (Dict[str, Any]), not lists.
    assert cfg.enable_locality_lb is True and cfg.locality_lb.failover == conf
    assert cfg.outbound_traffic_policy == "REGISTRY_ONLY"
    # terraform reads ExtraConfiguration.CRAggregationConfiguration.Enabled.
    assert cfg.extra_configuration.craggregation_configuration.enabled is True
    assert cfg.extra_configuration.craggregation_enabled is True
    assert cfg.locality_lb.distribute is None
    # keep traffic in cluster: a distribute rule is reported back as it was set
    keep = {"distribute": [{"from": "cn-hangzhou/*", "to": {"cn-hangzhou/*": 100}}]}
    client.update_mesh_feature(m.UpdateMeshFeatureRequest(service_mesh_id=mesh_id, locality_lbconf=json.dumps(keep)))
    _wait_state(client, mesh_id, "running")
    cfg = client.describe_service_mesh_detail(
        m.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id)).body.service_mesh.spec.mesh_config
    assert cfg.locality_lb.distribute == keep and cfg.locality_lb.failover is None
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
    # SDK CreateServiceMeshRequest: ExistingRootCaCert/Key are "encoded in Base64".
    second = _create(lab, client, "ca-2", region_index=1, use_existing_ca=True, existing_ca_type="2",
                     existing_root_ca_cert=_b64(pem), existing_root_ca_key=_b64(key))
    shared = base64.b64decode(client.get_ca_cert(m.GetCaCertRequest(service_mesh_id=second)).body.ca_cert).decode()
    assert shared == pem
    third = _create(lab, client, "ca-3")
    other = base64.b64decode(client.get_ca_cert(m.GetCaCertRequest(service_mesh_id=third)).body.ca_cert).decode()
    assert other != pem  # without UseExistingCA every mesh gets its own root
    err = _fail(lambda: _create(lab, client, "ca-4", use_existing_ca=True, existing_ca_type="2",
                                existing_root_ca_cert=_b64(pem)))
    assert err.code == "MissingParameter" and "ExistingRootCaKey" in err.message


@pytest.mark.parametrize("ca_type, cert_field, key_field", [
    ("2", "existing_root_ca_cert", "existing_root_ca_key"),
    ("1", "existing_ca_cert", "existing_ca_key"),
])
def test_raw_pem_ca_fields_are_refused(lab, client, ca_type, cert_field, key_field):
    pem = base64.b64decode(client.get_ca_cert(m.GetCaCertRequest(
        service_mesh_id=_create(lab, client, f"pem-src-{ca_type}"))).body.ca_cert).decode()
    key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
    for cert_value, key_value, bad in ((pem, _b64(key), cert_field), (_b64(pem), key, key_field),
                                       ("bm90IGEgY2VydA==", _b64(key), cert_field)):
        err = _fail(lambda c=cert_value, k=key_value: _create(
            lab, client, f"pem-raw-{ca_type}", use_existing_ca=True, existing_ca_type=ca_type,
            **{cert_field: c, key_field: k}))
        wire = "".join(part.capitalize() for part in bad.split("_"))
        assert err.status_code == 400 and err.code == "InvalidParameter" and wire in err.message
    meshes = client.describe_service_meshes(m.DescribeServiceMeshesRequest()).body.service_meshes
    assert f"pem-raw-{ca_type}" not in [x.service_mesh_info.name for x in meshes]


def test_every_change_leaves_the_mesh_updating_and_overlapping_changes_are_refused(lab, client):
    mesh_id = _create(lab, client, "busy")
    _wait_state(client, mesh_id, "running")
    cluster = lab.topology["regions"][0]["clusters"][0]["id"]
    changes = [
        lambda: client.update_mesh_feature(m.UpdateMeshFeatureRequest(service_mesh_id=mesh_id, telemetry=True)),
        lambda: client.update_mesh_craggregation(m.UpdateMeshCRAggregationRequest(service_mesh_id=mesh_id,
                                                                                  enabled=True)),
        lambda: client.add_cluster_into_service_mesh(m.AddClusterIntoServiceMeshRequest(
            service_mesh_id=mesh_id, cluster_id=cluster, discovery_only=True)),
        lambda: client.remove_cluster_from_service_mesh(m.RemoveClusterFromServiceMeshRequest(
            service_mesh_id=mesh_id, cluster_id=cluster)),
    ]
    for make_change in changes:
        make_change()
        assert _state(client, mesh_id) == "updating"
        err = _fail(lambda: client.update_mesh_feature(m.UpdateMeshFeatureRequest(service_mesh_id=mesh_id,
                                                                                   tracing=True)))
        assert err.code == "StillInitializing" and err.status_code == 400
        _wait_state(client, mesh_id, "running")
    # Busy for a reason other than a detaching cluster: DeleteServiceMesh is refused as StillInitializing.
    changes[0]()
    err = _fail(lambda: client.delete_service_mesh(m.DeleteServiceMeshRequest(service_mesh_id=mesh_id)))
    assert err.code == "StillInitializing"
    _wait_state(client, mesh_id, "running")


def test_answers_fit_the_sdk_response_models(lab, client):
    """Raw lab answers against the SDK models: from_map would silently drop unknown keys."""
    mesh_id = _create(lab, client, "shapes")
    _wait_state(client, mesh_id, "running")
    _add(client, mesh_id, lab.topology["regions"][0]["clusters"][0]["id"], discovery_only=True)
    client.update_mesh_feature(m.UpdateMeshFeatureRequest(
        service_mesh_id=mesh_id, locality_load_balancing=True,
        locality_lbconf=json.dumps({"failover": [{"from": "a", "to": "b"}]}), access_log_enabled=True))
    _wait_state(client, mesh_id, "running")
    calls = [("DescribeServiceMeshDetail", m.DescribeServiceMeshDetailResponseBody),
             ("DescribeServiceMeshes", m.DescribeServiceMeshesResponseBody),
             ("DescribeClustersInServiceMesh", m.DescribeClustersInServiceMeshResponseBody),
             ("GetCaCert", m.GetCaCertResponseBody)]
    for action, model in calls:
        query = {} if action == "DescribeServiceMeshes" else {"ServiceMeshId": mesh_id}
        status, body = send(signed_request(lab, action, "2020-01-11", query))
        assert status == 200, body
        assert contract.shape_differences(model, body) == [], action


def test_the_shape_check_catches_a_wrong_answer():
    """The check above would fail on the shapes the lab used to answer (planted mistakes)."""
    wrong = {"ServiceMesh": {"Spec": {"MeshConfig": {
        "LocalityLB": {"Failover": [{"from": "a", "to": "b"}]},
        "ExtraConfiguration": {"DiscoverySelectors": "", "CRAggregationEnabled": "true"}}},
        "Endpoints": {"PilotEndpoint": ""}}}
    problems = dict(contract.shape_differences(m.DescribeServiceMeshDetailResponseBody, wrong))
    config = "ServiceMesh.Spec.MeshConfig"
    assert problems[f"{config}.LocalityLB.Failover"] == "the SDK types it Dict[str, any], got list"
    assert problems[f"{config}.ExtraConfiguration.DiscoverySelectors"].endswith("got str")
    assert problems[f"{config}.ExtraConfiguration.CRAggregationEnabled"] == "the SDK types it bool, got str 'true'"
    assert contract.is_unknown_field(problems["ServiceMesh.Endpoints.PilotEndpoint"])
    # The list's MeshConfig is slimmer than the detail's: LocalityLB there is a key the model lacks.
    listed = {"ServiceMeshes": [{"Spec": {"MeshConfig": {"LocalityLB": {}}}}]}
    assert contract.shape_differences(m.DescribeServiceMeshesResponseBody, listed) == [
        ("ServiceMeshes[0].Spec.MeshConfig.LocalityLB",
         "not a field of DescribeServiceMeshesResponseBodyServiceMeshesSpecMeshConfig (from_map drops it)")]


def test_delete_needs_clusters_gone_then_mesh_disappears(lab, client):
    mesh_id = _create(lab, client, "doomed", region_index=1)
    _wait_state(client, mesh_id, "running")
    cluster = lab.topology["regions"][1]["clusters"][0]["id"]
    _add(client, mesh_id, cluster)
    err = _fail(lambda: client.delete_service_mesh(m.DeleteServiceMeshRequest(service_mesh_id=mesh_id)))
    assert err.code == "RelatedResourceReused"
    client.remove_cluster_from_service_mesh(m.RemoveClusterFromServiceMeshRequest(service_mesh_id=mesh_id,
                                                                                  cluster_id=cluster))
    # Still detaching (the mesh is busy applying the removal): terraform retries RelatedResourceReused.
    err = _fail(lambda: client.delete_service_mesh(m.DeleteServiceMeshRequest(service_mesh_id=mesh_id)))
    assert err.code == "RelatedResourceReused"
    _wait_state(client, mesh_id, "running")
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
    body = client.describe_service_mesh_kubeconfig(request).body
    kubeconfig = yaml.safe_load(body.kubeconfig)
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    assert server.endswith(f"/meshes/{mesh_id}")
    # A client certificate, as ASM hands out; ExpireTime is "the expiration time of the kubeconfig certificate".
    user = kubeconfig["users"][0]["user"]
    assert set(user) == {"client-certificate-data", "client-key-data"}
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    assert body.expire_time[:10] == cert.not_valid_after_utc.strftime("%Y-%m-%d")
    assert client.describe_service_mesh_kubeconfig(request).body.kubeconfig == body.kubeconfig  # stable
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
