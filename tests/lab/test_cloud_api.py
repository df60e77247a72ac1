"""The cloud endpoint as a protocol: signatures, error shape, faults, call counters, persistence."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_servicemesh20200111 import models as mesh_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from cloud_support import api_error as _fail
from cloud_support import dns_client, mesh_client, send, signed_request, start_lab, stop_lab
from Tea.exceptions import UnretryableException

pytestmark = pytest.mark.timeout(120)

MESH = "2020-01-11"


@pytest.fixture(scope="module")
def lab():
    handle = start_lab()
    yield handle
    stop_lab(handle)


def test_acs3_and_v1_signatures_are_both_accepted(lab):
    for client in (mesh_client(lab), mesh_client(lab, signature_algorithm="v2")):
        body = client.describe_service_meshes(mesh_models.DescribeServiceMeshesRequest()).body
        assert body.request_id and body.service_meshes == []


def test_v1_signature_covers_form_body_and_query_parameters(lab):
    # servicemesh puts ServiceMeshId in the form body, alidns everything in the query; v1 signs both.
    mesh = mesh_client(lab, signature_algorithm="v2")
    err = _fail(lambda: mesh.describe_service_mesh_detail(
        mesh_models.DescribeServiceMeshDetailRequest(service_mesh_id="c" + "0" * 32)))
    assert err.code == "ServiceMesh.NotFound"  # through the signature gate, refused by the API itself
    from alibabacloud_alidns20150109 import models as dns_models

    listed = dns_client(lab, signature_algorithm="v2").list_cloud_gtm_addresses(
        dns_models.ListCloudGtmAddressesRequest(page_number=1, page_size=5, name="x")).body
    assert listed.page_size == 5 and listed.total_items == 0


@pytest.mark.parametrize("signature_algorithm", [None, "v2"])
def test_wrong_secret_is_rejected_with_signature_mismatch(lab, signature_algorithm):
    extra = {"signature_algorithm": signature_algorithm} if signature_algorithm else {}
    client = mesh_client(lab, access_key_secret="not-the-secret", **extra)
    err = _fail(lambda: client.describe_service_meshes(mesh_models.DescribeServiceMeshesRequest()))
    assert isinstance(err, ClientException)
    assert err.code == "SignatureDoesNotMatch" and err.status_code == 400


def test_unknown_access_key_is_rejected(lab):
    client = mesh_client(lab, access_key_id="LTAI5tNOTAKEY0000000000")
    err = _fail(lambda: client.describe_service_meshes(mesh_models.DescribeServiceMeshesRequest()))
    assert err.code == "InvalidAccessKeyId.NotFound" and err.status_code == 404


def test_body_changed_after_signing_is_rejected(lab):
    req = signed_request(lab, "DescribeServiceMeshDetail", MESH, body=b"ServiceMeshId=c1")
    status, body = send(req, body=b"ServiceMeshId=c2")
    assert status == 400 and body["Code"] == "IncompleteSignature"
    status, body = send(signed_request(lab, "DescribeServiceMeshDetail", MESH, body=b"ServiceMeshId=c1"))
    assert status == 404 and body["Code"] == "ServiceMesh.NotFound"  # the untampered twin passes the gate


def test_replayed_nonce_and_stale_date_are_rejected(lab):
    req = signed_request(lab, "DescribeServiceMeshes", MESH)
    assert send(req)[0] == 200
    status, body = send(req)
    assert status == 400 and body["Code"] == "SignatureNonceUsed"
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    status, body = send(signed_request(lab, "DescribeServiceMeshes", MESH, date=stale))
    assert status == 400 and body["Code"] == "InvalidTimeStamp.Expired"


def test_error_body_has_the_real_shape(lab):
    status, body = send(signed_request(lab, "NoSuchAction", MESH))
    assert status == 404 and body["Code"] == "InvalidAction.NotFound"
    assert set(body) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["HostId"] == "servicemesh.aliyuncs.com"
    assert body["RequestId"] in body["Recommend"]
    status, body = send(signed_request(lab, "DescribeServiceMeshes", "1999-01-01"))
    assert status == 400 and body["Code"] == "InvalidVersion"


def test_missing_required_parameter_is_named(lab):
    region = lab.topology["regions"][0]
    client = mesh_client(lab)
    err = _fail(lambda: client.create_service_mesh(mesh_models.CreateServiceMeshRequest(
        region_id=region["id"], v_switches=json.dumps(region["vswitches"]))))
    assert err.code == "MissingParameter" and '"VpcId"' in err.message


def test_injected_throttling_and_errors_then_counters(lab):
    client = mesh_client(lab)
    request = mesh_models.DescribeServiceMeshesRequest()
    lab.admin("calls/reset", {})
    try:
        result = lab.cli("faults", "--throttle", "1")
        assert json.loads(result.stdout)["throttle_rate"] == 1.0
        err = _fail(lambda: client.describe_service_meshes(request))
        assert isinstance(err, ClientException) and err.code == "Throttling.User"
        lab.admin("faults", {"throttle_rate": 0, "error_rate": 1})
        err = _fail(lambda: client.describe_service_meshes(request))
        assert isinstance(err, ServerException) and err.status_code in (500, 503)
    finally:
        lab.admin("faults", {"throttle_rate": 0, "error_rate": 0})
    client.describe_service_meshes(request)
    calls = json.loads(lab.cli("calls", "--reset").stdout)
    entry = calls["actions"]["DescribeServiceMeshes"]
    assert entry["count"] == 3 and entry["kind"] == "read"
    assert entry["errors"]["Throttling.User"] == 1 and sum(entry["errors"].values()) == 2
    assert calls["reads"] == 3 and calls["writes"] == 0
    assert lab.admin("calls")["total"] == 0  # the reset took


def test_next_n_calls_refused_exactly_then_served(lab):
    client = mesh_client(lab)
    request = mesh_models.DescribeServiceMeshesRequest()
    result = lab.cli("faults", "--throttle-next", "2", "--errors-next", "1")
    assert json.loads(result.stdout) == {"throttle_rate": 0.0, "error_rate": 0.0, "throttle_next": 2, "error_next": 1,
                                         "drop_reply_next": 0, "drop_reply_actions": []}
    codes = []
    for _ in range(3):
        err = _fail(lambda: client.describe_service_meshes(request))
        codes.append(err.code if isinstance(err, ClientException) else err.status_code)
    assert codes[:2] == ["Throttling.User"] * 2 and codes[2] in (500, 503)
    client.describe_service_meshes(request)  # the counters are used up: served
    assert lab.admin("faults") == {"throttle_rate": 0.0, "error_rate": 0.0, "throttle_next": 0, "error_next": 0,
                                   "drop_reply_next": 0, "drop_reply_actions": []}


def test_a_dropped_reply_commits_the_write_and_answers_nothing(lab):
    """What a lost reply looks like to the SDK: a network error, although the service acted."""
    client = mesh_client(lab)
    lab.admin("calls/reset", {})
    lab.cli("faults", "--drop-reply-next", "1", "--drop-reply-action", "CreateServiceMesh")
    client.describe_service_meshes(mesh_models.DescribeServiceMeshesRequest())  # a read is never dropped
    region = lab.topology["regions"][0]
    request = mesh_models.CreateServiceMeshRequest(name="lost-reply", region_id=region["id"],
                                                   vpc_id=region["vpc_id"], v_switches=json.dumps(region["vswitches"]))
    with pytest.raises(UnretryableException, match="without response|aborted|reset"):
        client.create_service_mesh(request)
    meshes = client.describe_service_meshes(mesh_models.DescribeServiceMeshesRequest()).body.to_map()
    names = [m["ServiceMeshInfo"]["Name"] for m in meshes.get("ServiceMeshes", [])]
    assert names.count("lost-reply") == 1
    assert lab.admin("faults")["drop_reply_next"] == 0
    entry = lab.admin("calls")["actions"]["CreateServiceMesh"]
    assert entry["count"] == 1 and entry["errors"] == {"(reply dropped)": 1}
    events = [json.loads(line) for line in lab.cli("events", "--json").stdout.splitlines() if line.strip()]
    dropped = [e for e in events if e["kind"] == "cloud_reply_dropped"]
    assert dropped and dropped[-1]["action"] == "CreateServiceMesh"


@pytest.mark.parametrize("body", [{"throttle_rate": 2}, {"throttle_next": -1}, {"error_next": 1.5},
                                  {"throttle_next": True}, {"throttle": 0.5}, ["throttle_rate"],
                                  {"drop_reply_next": -2}, {"drop_reply_actions": "CreateServiceMesh"},
                                  {"drop_reply_actions": [""]}])
def test_bad_faults_are_refused(lab, body):
    before = lab.admin("faults")
    with pytest.raises(Exception, match="400"):
        lab.admin("faults", body)
    assert lab.admin("faults") == before


def test_state_survives_kill9_and_restart():
    lab = start_lab()
    try:
        dns = dns_client(lab)
        from alibabacloud_alidns20150109 import models as dns_models

        created = dns.create_cloud_gtm_monitor_template(dns_models.CreateCloudGtmMonitorTemplateRequest(
            name="tcp-80", protocol="tcp", ip_version="IPv4", interval=60, timeout=2000, evaluation_count=2,
            failure_rate=50, isp_city_nodes=[dns_models.CreateCloudGtmMonitorTemplateRequestIspCityNodes(
                city_code="503", isp_code="465")])).body.template_id
        lab.kill9()
        lab.up()
        found = dns_client(lab).describe_cloud_gtm_monitor_template(
            dns_models.DescribeCloudGtmMonitorTemplateRequest(template_id=created)).body
        assert found.template_id == created and found.evaluation_count == 2
        lab.restart()
        listed = dns_client(lab).list_cloud_gtm_monitor_templates(
            dns_models.ListCloudGtmMonitorTemplatesRequest()).body
        assert [t.template_id for t in listed.templates.template] == [created]
    finally:
        stop_lab(lab)
