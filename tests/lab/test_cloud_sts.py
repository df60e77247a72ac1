"""Temporary (STS) credentials issued by the lab, used through the real SDK clients.

Credentials come from the admin route or ``drlab sts``; requests are signed by the SDK with
the temporary key and carry the token (ACS3 header or v1 query parameter).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import time
import uuid
from types import SimpleNamespace

import pytest
from alibabacloud_alidns20150109 import models as dns_models
from alibabacloud_servicemesh20200111 import models as mesh_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils
from cloud_support import api_error as _fail
from cloud_support import dns_client, mesh_client, send, start_lab, stop_lab

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lab():
    handle = start_lab()
    yield handle
    stop_lab(handle)


def _issue(lab, duration: int | None = None) -> dict[str, str]:
    body = {"duration_seconds": duration} if duration is not None else {}
    return lab.admin("sts", body)["Credentials"]


_ISSUED = object()


def _as_sts(creds: dict[str, str], token: object = _ISSUED) -> dict[str, object]:
    """SDK config overrides signing with ``creds``; ``token`` defaults to the one issued with them."""
    return {"access_key_id": creds["AccessKeyId"], "access_key_secret": creds["AccessKeySecret"],
            "security_token": creds["SecurityToken"] if token is _ISSUED else token}


def _describe(client):
    return client.describe_service_meshes(mesh_models.DescribeServiceMeshesRequest())


def _assert_error(err, code: str, status: int = 400) -> None:
    assert isinstance(err, ClientException)
    assert err.code == code and err.status_code == status
    # The real gateway's body: the SDK keeps it in ``data``.
    assert {"RequestId", "HostId", "Code", "Message", "Recommend"} <= set(err.data)
    assert err.data["Code"] == code and f"q={code}" in err.data["Recommend"]


def test_issued_credentials_have_the_sts_shape(lab):
    before = time.time()
    creds = _issue(lab, 900)
    assert creds["AccessKeyId"].startswith("STS.") and len(creds["AccessKeyId"]) > 20
    assert creds["AccessKeySecret"] and creds["AccessKeySecret"] != lab.credentials["access_key_secret"]
    assert creds["SecurityToken"].startswith("CAIS") and len(creds["SecurityToken"]) > 100
    expires = calendar.timegm(time.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    assert before + 899 <= expires <= time.time() + 901
    assert _issue(lab)["AccessKeyId"] != creds["AccessKeyId"]  # a new pair each time


def test_cli_issues_credentials_the_sdk_accepts(lab):
    out = lab.cli("sts", "--duration", "1200").stdout
    creds = json.loads(out)["Credentials"]
    body = _describe(mesh_client(lab, **_as_sts(creds))).body
    assert body.request_id and isinstance(body.service_meshes, list)
    env = lab.cli("sts", "--env").stdout
    assert "export ALIBABA_CLOUD_SECURITY_TOKEN='CAIS" in env and "export ALIBABA_CLOUD_ACCESS_KEY_ID='STS." in env
    refused = lab.cli("sts", "--duration", "0", check=False)
    assert refused.returncode == 1 and "duration_seconds" in refused.stderr


@pytest.mark.parametrize("duration", [0, -5, 43201, "soon"])
def test_admin_route_rejects_bad_durations(lab, duration):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as info:
        lab.admin("sts", {"duration_seconds": duration})
    assert info.value.code == 400


@pytest.mark.parametrize("auth, code", [(None, 401), ("Bearer not-the-token", 403), ("Basic ZHJsYWI6eA==", 403)])
def test_sts_admin_route_needs_the_lab_token(lab, auth, code):
    """Any local process could mint credentials otherwise: no token 401, a wrong one 403, nothing issued."""
    import urllib.error
    import urllib.request

    before = lab.status()["components"]["cloud"]["sts_live"]
    req = urllib.request.Request(f"http://{lab.endpoint}/__drlab/sts", data=b"{}", method="POST",
                                 headers={"content-type": "application/json", **({"Authorization": auth} if auth
                                                                                   else {})})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310 - loopback lab
    assert info.value.code == code
    body = json.loads(info.value.read())
    assert "Credentials" not in body and "token" in body["error"]
    assert lab.status()["components"]["cloud"]["sts_live"] == before


def test_sts_admin_route_takes_the_token_as_basic_auth_password(lab):
    """How Ansible's uri module sends it (url_password is no_log there)."""
    import base64
    import urllib.request

    basic = base64.b64encode(f"drlab:{lab.admin_token}".encode()).decode()
    req = urllib.request.Request(f"http://{lab.endpoint}/__drlab/sts", data=b"{}", method="POST",
                                 headers={"content-type": "application/json", "Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback lab
        assert json.loads(resp.read())["Credentials"]["AccessKeyId"].startswith("STS.")


@pytest.mark.parametrize("signature_algorithm", [None, "v2"])
def test_sts_credentials_sign_both_products_with_acs3_and_v1(lab, signature_algorithm):
    extra = {"signature_algorithm": signature_algorithm} if signature_algorithm else {}
    creds = _issue(lab)
    mesh = mesh_client(lab, **_as_sts(creds), **extra)
    region = lab.topology["regions"][0]
    created = mesh.create_service_mesh(mesh_models.CreateServiceMeshRequest(
        region_id=region["id"], vpc_id=region["vpc_id"], name=f"sts-{signature_algorithm or 'acs3'}",
        v_switches=json.dumps(region["vswitches"]))).body.service_mesh_id
    detail = mesh.describe_service_mesh_detail(mesh_models.DescribeServiceMeshDetailRequest(
        service_mesh_id=created)).body
    assert detail.service_mesh.service_mesh_info.service_mesh_id == created
    listed = dns_client(lab, **_as_sts(creds), **extra).list_cloud_gtm_addresses(
        dns_models.ListCloudGtmAddressesRequest(page_number=1, page_size=5)).body
    assert listed.page_size == 5


@pytest.mark.parametrize("signature_algorithm", [None, "v2"])
def test_expired_token_is_refused(lab, signature_algorithm):
    extra = {"signature_algorithm": signature_algorithm} if signature_algorithm else {}
    creds = _issue(lab, 1)  # lab-only duration; the real minimum is 900 s
    client = mesh_client(lab, **_as_sts(creds), **extra)
    time.sleep(1.2)
    _assert_error(_fail(lambda: _describe(client)), "InvalidSecurityToken.Expired")


@pytest.mark.parametrize("signature_algorithm", [None, "v2"])
def test_wrong_or_missing_token_is_refused(lab, signature_algorithm):
    extra = {"signature_algorithm": signature_algorithm} if signature_algorithm else {}
    creds, other = _issue(lab), _issue(lab)
    cases = [
        (other["SecurityToken"], "InvalidSecurityToken.MismatchWithAccessKey"),  # a live token, another key
        ("CAIS" + "not-base64!", "InvalidSecurityToken.Malformed"),
        (None, "MissingSecurityToken"),
    ]
    for token, code in cases:
        client = mesh_client(lab, **_as_sts(creds, token=token), **extra)
        _assert_error(_fail(lambda client=client: _describe(client)), code)
    # The same key with its own token still works: the refusals above were about the token alone.
    assert _describe(mesh_client(lab, **_as_sts(creds), **extra)).body.request_id


def test_wrong_secret_with_a_valid_token_is_a_signature_mismatch(lab):
    creds = _issue(lab)
    client = mesh_client(lab, access_key_id=creds["AccessKeyId"], access_key_secret="not-the-secret",
                         security_token=creds["SecurityToken"])
    _assert_error(_fail(lambda: _describe(client)), "SignatureDoesNotMatch")


def test_unknown_sts_key_is_not_found(lab):
    creds = _issue(lab)
    client = mesh_client(lab, **{**_as_sts(creds), "access_key_id": "STS.NotIssuedByThisLab000000000"})
    _assert_error(_fail(lambda: _describe(client)), "InvalidAccessKeyId.NotFound", status=404)


def test_token_header_must_be_covered_by_the_acs3_signature(lab):
    creds = _issue(lab)
    headers = {
        "host": lab.endpoint, "x-acs-version": "2020-01-11", "x-acs-action": "DescribeServiceMeshes",
        "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "x-acs-signature-nonce": uuid.uuid4().hex,
        "accept": "application/json", "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-acs-accesskey-id": creds["AccessKeyId"],
    }
    request = SimpleNamespace(pathname="/", method="POST", query={}, headers=dict(headers))
    # Signed by tea-openapi's own signer, then the token is added outside the signature.
    headers["Authorization"] = Utils.get_authorization(request, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"],
                                                       creds["AccessKeyId"], creds["AccessKeySecret"])
    headers["x-acs-security-token"] = creds["SecurityToken"]
    status, body = send({"url": f"http://{lab.endpoint}/", "headers": headers, "body": b""})
    assert status == 400 and body["Code"] == "IncompleteSignature"


def test_issued_credentials_survive_a_restart(lab):
    creds, short, issued = _issue(lab), _issue(lab, 2), time.time()
    lab.restart()
    assert _describe(mesh_client(lab, **_as_sts(creds))).body.request_id
    time.sleep(max(0.0, issued + 2.2 - time.time()))  # the short one expires, across the restart too
    _assert_error(_fail(lambda: _describe(mesh_client(lab, **_as_sts(short)))), "InvalidSecurityToken.Expired")
    assert lab.status()["components"]["cloud"]["sts_live"] >= 1


def test_the_liveness_probe_needs_no_token_and_the_status_route_does(lab):
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(f"http://{lab.endpoint}/healthz", timeout=10) as resp:  # noqa: S310 - loopback
        assert resp.status == 200 and resp.read() == b"ok"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://{lab.endpoint}/__drlab/status", timeout=10)  # noqa: S310 - loopback
    assert info.value.code == 401
