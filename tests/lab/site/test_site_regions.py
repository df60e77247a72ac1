"""site.yml on a lab with a third region, under injected cloud API faults.

A third region is one hosts.yml line and one host_vars file: it must join the mesh layout (every mesh
discovers every other region's cluster), the GTM pool and the verify play with no code change.  The
cloud API answers 20 % of calls with throttling and 5 % with a 5xx meanwhile: the converge must have
no failed task and create nothing twice (a re-run reports 0 changed; the modules fail on duplicate
names; the info modules list exactly one mesh per region and one address per region).
"""

from __future__ import annotations

import pytest
import site_support as site

from drlab.testing import LabHandle

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def lab3():
    lab = LabHandle(topology=site.topology(extra=1)).up()
    try:
        yield lab
    finally:
        lab.down()


def test_third_region_joins_under_faults(lab3, tmp_path):
    inv = site.inventory(tmp_path, extra=1)
    faults = lab3.admin("faults", {"throttle_rate": 0.2, "error_rate": 0.05})
    assert faults == {"throttle_rate": 0.2, "error_rate": 0.05, "throttle_next": 0, "error_next": 0,
                      "drop_reply_next": 0, "drop_reply_actions": []}

    rc, report = site.run(lab3, inv, "site.yml")
    assert rc == 0, site.failed_tasks(report) or report
    assert site.totals(report)["failures"] == 0
    calls = lab3.admin("calls")
    injected = sum(sum(a["errors"].values()) for a in calls["actions"].values())
    assert injected > 0, "no fault was injected: the test would prove nothing"

    verify = report["global_custom_stats"]["dr_verify"]
    regions = {r["name"]: r for r in verify["regions"]}
    assert set(regions) == {"cn-hangzhou", "ap-southeast-1", "eu-central-1"}
    assert verify["passed"] and verify["in_cluster_violations"] == 0
    assert all(r["within_tolerance"] and r["ok"] > 0 for r in regions.values()), regions
    assert abs(regions["eu-central-1"]["expected_share"] - 1 / 3) < 0.01

    # Still under faults: nothing to change, nothing duplicated (the modules fail on duplicate names).
    rc, again = site.run(lab3, inv, "site.yml")
    assert rc == 0, site.failed_tasks(again)
    assert site.totals(again)["changed"] == 0, site.changed_tasks(again)

    lab3.admin("faults", {"throttle_rate": 0.0, "error_rate": 0.0})
    rc, seen = site.run(lab3, inv, "tests/lab/site/inspect.yml")
    assert rc == 0, site.failed_tasks(seen)
    inspect = seen["global_custom_stats"]["inspect"]
    assert sorted(inspect["meshes"]) == ["mesh-1", "mesh-2", "mesh-3"]
    for name, clusters in inspect["mesh_clusters"].items():
        assert len(clusters) == 3, f"{name} does not see every region's cluster: {clusters}"
    assert inspect["pools"] == ["meshdr-bookinfo"]
    addresses = [r["address"] for r in lab3.topology["regions"]]
    assert sorted(inspect["addresses"]) == sorted(addresses)
    assert sorted(inspect["serving"]) == sorted(addresses)
