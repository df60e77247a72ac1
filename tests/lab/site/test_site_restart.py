"""The lab dies (SIGKILL) in the middle of a converge and comes back: a re-run of site.yml converges.

The lab keeps its state on disk, as the cloud keeps its resources when a client dies: whatever the
interrupted run created must be found and reused by the re-run, never created twice.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import site_support as site

pytestmark = pytest.mark.timeout(900)


def wait_for_call(lab, action: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (lab.admin("calls")["actions"].get(action) or {}).get("count"):
            return True
        time.sleep(0.5)
    return False


def test_rerun_converges_after_the_lab_was_killed_mid_converge(lab2, tmp_path):
    inv = site.inventory(tmp_path)
    first = subprocess.Popen(site.command(lab2, inv, "site.yml"), env=site.env(lab2), cwd=site.ROOT,  # noqa: S603
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Mid-converge: the meshes are being created (asm_mesh waits for `running` after this call).
        assert wait_for_call(lab2, "CreateServiceMesh", timeout=300), "the converge never reached the meshes"
        lab2.kill9()
        time.sleep(2)
        lab2.up()
        first_rc = first.wait(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    rc, report = site.run(lab2, inv, "site.yml")
    assert rc == 0, (first_rc, site.failed_tasks(report))
    verify = report["global_custom_stats"]["dr_verify"]
    assert verify["passed"], verify

    rc, seen = site.run(lab2, inv, "tests/lab/site/inspect.yml")
    assert rc == 0, site.failed_tasks(seen)
    assert sorted(seen["global_custom_stats"]["inspect"]["meshes"]) == ["mesh-1", "mesh-2"]

    # The verify play on its own (no gateway role in the run): addresses come from the GTM pool.
    rc, alone = site.run(lab2, inv, "site.yml", "--tags", "verify")
    assert rc == 0, site.failed_tasks(alone)
    assert site.totals(alone)["changed"] == 0, site.changed_tasks(alone)
    assert alone["global_custom_stats"]["dr_verify"]["passed"]
