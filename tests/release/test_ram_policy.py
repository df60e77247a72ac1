"""docs/ram-policy.json is derived from the code; these tests keep it so and test the derivation."""

from __future__ import annotations

import json
import os
import sys

import pytest

from . import ram_policy
from .conftest import ROOT, run


def test_policy_doc_matches_code():
    result = run([sys.executable, os.path.join(ROOT, "tests", "release", "ram_policy.py")], cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    policy = json.load(open(os.path.join(ROOT, "docs", "ram-policy.json"), encoding="utf-8"))
    assert policy["Version"] == "1"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Action"] == sorted(statement["Action"])
        assert all(a.split(":", 1)[0] in ("servicemesh", "alidns") for a in statement["Action"])


@pytest.fixture
def known():
    return {product: ram_policy.sdk_actions(product) for product in ram_policy.PRODUCTS}


def scan(tmp_path, known, source):
    path = tmp_path / "mod.py"
    path.write_text(source)
    return ram_policy.scan_file(str(path), known)


def test_literal_and_dynamic_calls(tmp_path, known):
    source = '''
DOCUMENTATION = "uses DeleteServiceMesh in prose only"
def main(module):
    """ListCloudGtmAddressPools in a docstring does not count"""
    module.call('servicemesh', 'DescribeServiceMeshes')
    pages = list_all(lambda action, **kw: module.call('alidns', action, **kw), 'ListCloudGtmAddresses')
    other.call('not-a-product', 'x')
'''
    assert scan(tmp_path, known, source) == {"servicemesh": {"DescribeServiceMeshes"},
                                             "alidns": {"ListCloudGtmAddresses"}}


def test_unknown_action_is_an_error(tmp_path, known):
    with pytest.raises(SystemExit, match="DescribeServiceMesh'"):
        scan(tmp_path, known, "module.call('servicemesh', 'DescribeServiceMesh')\n")


def test_drift_is_detected(tmp_path, monkeypatch):
    monkeypatch.setattr(ram_policy, "POLICY", str(tmp_path / "p.json"))
    monkeypatch.setattr(ram_policy, "TABLE", str(tmp_path / "p.md"))
    assert ram_policy.main(["--write"]) == 0
    assert ram_policy.main([]) == 0
    data = json.loads((tmp_path / "p.json").read_text())
    if data["Statement"]:
        data["Statement"][0]["Action"].append("alidns:DeleteEverything")
    else:
        data["Statement"].append({"Effect": "Allow", "Action": ["alidns:DeleteEverything"], "Resource": "*"})
    (tmp_path / "p.json").write_text(json.dumps(data))
    assert ram_policy.main([]) == 1
