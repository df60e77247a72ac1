"""site.yml where the cloud's answers cannot be trusted to arrive, or another run races it.

Two promises of every create the collection makes (issue: cloud-contract, safe retries):
- a create whose reply was lost is re-read and adopted, never blindly repeated: with the reply of
  every create and add dropped once (the lab carries the write out, then closes the connection),
  site.yml converges and nothing exists twice;
- two site.yml runs started together on a fresh lab both succeed and leave one of everything: what
  one run creates first, the other finds ("already exists" is success for what it meant to create).
"Nothing twice" is checked three ways: the info modules list one mesh per region and one address
per region, each mesh holds each cluster once, and a re-run reports 0 changed (the modules fail on
duplicate names).
"""

from __future__ import annotations

import subprocess

import pytest
import site_support as site

pytestmark = pytest.mark.timeout(1200)

# Every create and add site.yml makes, with how many times each happens on two regions.
CREATES = {"CreateServiceMesh": 2, "AddClusterIntoServiceMesh": 4, "CreateCloudGtmMonitorTemplate": 1,
           "CreateCloudGtmAddress": 2, "CreateCloudGtmAddressPool": 1, "CreateCloudGtmInstanceConfig": 1}


def assert_one_of_everything(lab, inv):
    rc, again = site.run(lab, inv, "site.yml")
    assert rc == 0, site.failed_tasks(again)
    assert site.totals(again)["changed"] == 0, site.changed_tasks(again)
    rc, seen = site.run(lab, inv, "tests/lab/site/inspect.yml")
    assert rc == 0, site.failed_tasks(seen)
    inspect = seen["global_custom_stats"]["inspect"]
    assert sorted(inspect["meshes"]) == ["mesh-1", "mesh-2"]
    for name, clusters in inspect["mesh_clusters"].items():
        ids = [c["id"] if isinstance(c, dict) else c for c in clusters]
        assert len(ids) == len(set(ids)) == 2, f"{name}: {clusters}"
    assert inspect["pools"] == ["meshdr-bookinfo"]
    assert len(inspect["addresses"]) == len(set(inspect["addresses"])) == 2, inspect["addresses"]


def test_every_create_whose_reply_is_lost_converges_once(lab2, tmp_path):
    inv = site.inventory(tmp_path)
    lab2.admin("faults", {"drop_reply_next": sum(CREATES.values()), "drop_reply_actions": sorted(CREATES)})
    rc, report = site.run(lab2, inv, "site.yml")
    assert rc == 0, site.failed_tasks(report) or report
    calls = lab2.admin("calls")["actions"]
    dropped = {a: calls[a]["errors"].get("(reply dropped)", 0) for a in CREATES if a in calls}
    assert sum(dropped.values()) > 0, "no reply was dropped: the test would prove nothing"
    for action in dropped:
        # Each create took effect as often as the site needs it: a lost reply was adopted, never repeated.
        # (Calls the service refused before acting, such as throttling or "busy", do not count.)
        refused = sum(n for code, n in calls[action]["errors"].items() if code != "(reply dropped)")
        assert calls[action]["count"] - refused == CREATES[action], (action, calls[action])
    assert report["global_custom_stats"]["dr_verify"]["passed"]
    lab2.admin("faults", {"drop_reply_next": 0, "drop_reply_actions": []})
    assert_one_of_everything(lab2, inv)


def test_two_site_runs_started_together_both_succeed(lab2, tmp_path):
    inv = site.inventory(tmp_path)
    runs = [subprocess.Popen(site.command(lab2, inv, "site.yml"), env=site.env(lab2), cwd=site.ROOT,  # noqa: S603
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = []
    for run in runs:
        out, err = run.communicate(timeout=900)
        outcomes.append((run.returncode, out, err))
    for rc, out, err in outcomes:
        assert rc == 0, site.failed_tasks(site.parse(out)) or err[-3000:]
    assert_one_of_everything(lab2, inv)
