"""Kubeconfigs as ACK/ASM hand them out: client certificates from the lab CA, bearer tokens as an option."""

from __future__ import annotations

import base64
import os
import shutil
import stat

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
from kube_support import Raw

from drlab.testing import LabHandle


def _cluster_kubeconfig(lab: LabHandle) -> str:
    return os.path.join(lab.dir, "kubeconfig", "cluster-1.yaml")


def test_client_certificate_kubeconfig(lab):
    path = _cluster_kubeconfig(lab)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # client-key-data inside
    user = yaml.safe_load(open(path, encoding="utf-8"))["users"][0]["user"]
    assert set(user) == {"client-certificate-data", "client-key-data"}
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    ca = x509.load_pem_x509_certificate(open(os.path.join(lab.dir, "kubeconfig", "ca.crt"), "rb").read())
    assert cert.issuer == ca.subject
    # The x509 authenticator's mapping: CN is the user name, each O a group.
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == lab.topology["account_id"]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    raw = Raw(path)
    assert raw.token is None and raw.request("GET", "/api/v1/namespaces")[0] == 200
    assert raw.request("GET", "/api/v1/namespaces", token=None)[0] == 401  # the same request without it


@pytest.fixture(scope="module")
def token_lab():
    handle = LabHandle(topology={"kube": {"kubeconfig_auth": "token"}, "timing": {"gateway_resync": 0}}).up()
    yield handle
    handle.down()
    shutil.rmtree(handle.dir, ignore_errors=True)


def test_token_kubeconfig_option(token_lab):
    path = _cluster_kubeconfig(token_lab)
    user = yaml.safe_load(open(path, encoding="utf-8"))["users"][0]["user"]
    assert set(user) == {"token"}
    raw = Raw(path)
    assert raw.request("GET", "/api/v1/namespaces")[0] == 200
    assert raw.request("GET", "/api/v1/namespaces", token="wrong")[0] == 401
