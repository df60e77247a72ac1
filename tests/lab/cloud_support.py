"""Helpers for the cloud API tests: real SDK clients and raw requests signed by the SDK's signer.

Raw requests are signed with tea-openapi's own ``get_authorization`` (not drlab's code),
so a test that tampers with them checks the lab against the real signing rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from alibabacloud_alidns20150109.client import Client as DnsClient
from alibabacloud_servicemesh20200111.client import Client as MeshClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.utils import Utils

from drlab.testing import LabHandle

# The collection's own comparison of answers with the SDK models (module_utils/contract.py; cloud_probe
# runs it against real accounts), importable the way tests/unit/conftest.py makes the checkout importable.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COLLECTIONS = os.path.join(_ROOT, ".build", "collections")
if not os.path.exists(os.path.join(_COLLECTIONS, "ansible_collections", "meshdr", "alicloud")):
    os.makedirs(os.path.join(_COLLECTIONS, "ansible_collections", "meshdr"), exist_ok=True)
    os.symlink(_ROOT, os.path.join(_COLLECTIONS, "ansible_collections", "meshdr", "alicloud"))
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
from ansible.module_utils import basic  # noqa: E402

from ansible_collections.meshdr.alicloud.plugins.module_utils import contract  # noqa: E402

__all__ = ["contract"]


def run_module(module_name: str, lab, api_retries: int = 2, **args) -> dict:
    """The collection module's main() in this process, as Ansible would run it, pointed at ``lab``;
    returns its result (failed or not)."""
    creds = lab.credentials
    common = {"access_key_id": creds["access_key_id"], "access_key_secret": creds["access_key_secret"],
              "servicemesh_endpoint": lab.endpoint, "alidns_endpoint": lab.endpoint, "protocol": "http",
              "region_id": lab.topology["regions"][0]["id"], "api_retries": api_retries}
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": {**common, **args}}).encode()
    basic._ANSIBLE_PROFILE = "legacy"
    module = importlib.import_module("ansible_collections.meshdr.alicloud.plugins.modules." + module_name)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            module.main()
    except SystemExit:
        pass
    finally:
        basic._ANSIBLE_ARGS = None
    return json.loads(out.getvalue())

FAST_TIMING = {"timing": {"mesh_create_delay": 0.6, "mesh_delete_delay": 0.4, "mesh_update_delay": 0.4,
                          "gateway_resync": 0}}


def api_error(call) -> Exception:
    """The SDK exception ``call()`` raises (the test fails if it raises none)."""
    with pytest.raises((ClientException, ServerException)) as info:
        call()
    return info.value


def start_lab(**topology: Any) -> LabHandle:
    return LabHandle(topology={**FAST_TIMING, **topology}).up()


def stop_lab(lab: LabHandle) -> None:
    lab.down()
    shutil.rmtree(lab.dir, ignore_errors=True)


def config(lab: LabHandle, **overrides: Any) -> open_api_models.Config:
    creds = lab.credentials
    values = {"access_key_id": creds["access_key_id"], "access_key_secret": creds["access_key_secret"],
              "endpoint": lab.endpoint, "protocol": "http", **overrides}
    return open_api_models.Config(**values)


def mesh_client(lab: LabHandle, **overrides: Any) -> MeshClient:
    return MeshClient(config(lab, **overrides))


def dns_client(lab: LabHandle, **overrides: Any) -> DnsClient:
    return DnsClient(config(lab, **overrides))


def signed_request(lab: LabHandle, action: str, version: str, query: dict[str, str] | None = None,
                   body: bytes = b"", date: str | None = None, nonce: str | None = None,
                   secret: str | None = None) -> dict[str, Any]:
    """Build an ACS3-signed RPC request the way the SDK does; returns url, headers, body."""
    creds = lab.credentials
    query = query or {}
    headers = {
        "host": lab.endpoint, "x-acs-version": version, "x-acs-action": action,
        "x-acs-date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex, "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    if body:
        headers["content-type"] = "application/x-www-form-urlencoded"
    request = SimpleNamespace(pathname="/", method="POST", query=query, headers=headers)
    headers["Authorization"] = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], creds["access_key_id"],
        secret or creds["access_key_secret"])
    url = f"http://{lab.endpoint}/" + (f"?{urlencode(query)}" if query else "")
    return {"url": url, "headers": headers, "body": body}


def send(req: dict[str, Any], body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """POST a prepared request (optionally with a different body) and return status, JSON."""
    headers = {k: v for k, v in req["headers"].items() if k != "host"}
    http = urllib.request.Request(req["url"], data=req["body"] if body is None else body, method="POST",  # noqa: S310
                                  headers=headers)
    try:
        with urllib.request.urlopen(http, timeout=10) as resp:  # noqa: S310 - loopback lab
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
