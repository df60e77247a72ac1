"""Bad variables stop site.yml in its preflight play, before any cloud API call or Kubernetes change."""

from __future__ import annotations

import json

import pytest
import site_support as site

from drlab.testing import LabHandle

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize(("extra", "expected"), [
    ({"dr_gateway_max_replicas": "lots"}, "argument 'gateway_max_replicas' is of type str"),
    ({"dr_gtm_monitor": {"name": "http-check"}}, "missing required arguments: evaluation_count"),
    ({"dr_locality_failover": "maybe"}, "mesh_locality_failover"),
    ({"bookinfo_services": [{"name": "web", "versions": ["v1"]}]}, "bookinfo_services"),
])
def test_bad_variables_fail_before_anything_changes(tmp_path, extra, expected):
    lab = LabHandle(topology=site.topology()).up()
    try:
        inv = site.inventory(tmp_path)
        rc, report = site.run(lab, inv, "site.yml", "-e", json.dumps(extra))
        calls = lab.admin("calls")
    finally:
        lab.down()
    assert rc != 0
    failed = [result for play in report["plays"] for task in play["tasks"]
              for result in task["hosts"].values() if result.get("failed")]
    failed += [item for result in failed for item in result.get("results") or [] if item.get("failed")]
    errors = [" ".join(result.get("argument_errors") or [str(result.get("msg"))]) for result in failed]
    assert any(expected in e for e in errors), errors
    assert calls["total"] == 0, calls
    # Only the preflight play ran tasks: no role touched a cluster or a mesh.
    assert report["plays"][0]["play"]["name"].startswith("Preflight")
    ran = [(p["play"]["name"], t["task"]["name"]) for p in report["plays"][1:] for t in p["tasks"]]
    assert ran == [], ran
