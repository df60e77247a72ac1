"""drill.yml given bad inputs (issue 14, item 2): it refuses them before anything runs, with the bound it
broke, and never breaks a region without a running load.

One lab converged with site.yml for the module.  The input cases each run drill.yml to its validation (a few
seconds each) and check the message, the untouched gateway Deployment of every region and zero cloud write
calls.  The last case kills the background load after it started: the drill must abort before its fault,
leave the gateway in place and have nothing to roll back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import drill_support as ds
import pytest
import yaml

from drlab.testing import LabHandle

pytestmark = pytest.mark.timeout(900)

# The bounds the role applies: its copy of plugins/module_utils/drill/limits.py (kept equal by the unit test
# test_limits.py; this suite runs without the collection on sys.path).
with open(os.path.join(ds.ROOT, "roles", "dr_drill", "vars", "main.yml"), encoding="utf-8") as _handle:
    LIMITS = yaml.safe_load(_handle)["dr_drill__limits"]
MAX_QPS = LIMITS["max_qps"]
MAX_DURATION = LIMITS["max_duration"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    handle = LabHandle(directory=str(tmp_path_factory.mktemp("drill-bad-lab")), topology=ds.lab_topology(resync=0))
    handle.up()
    try:
        rc, out = ds.run(handle, "site.yml", os.path.join(handle.dir, "site.log"), timeout=600)
        assert rc == 0, out[-4000:]
        yield handle
    finally:
        handle.down()


def writes(lab) -> dict[str, int]:
    calls = lab.admin("calls")
    return {action: entry["count"] for action, entry in calls["actions"].items() if entry["kind"] == "write"}


def assert_nothing_broken(lab) -> None:
    for region in ds.regions(lab):
        assert ds.deployment_exists(region), f"gateway Deployment gone in {region['id']}"


CASES = {
    "duration far beyond drill_load's cap": (
        {"dr_drill_duration": 1000000000}, [f"duration 1-{MAX_DURATION} s (got 1000000000)"]),
    "duration just above the cap": ({"dr_drill_duration": MAX_DURATION + 1}, [f"duration 1-{MAX_DURATION} s"]),
    "qps too high": ({"dr_drill_qps": MAX_QPS + 1}, [f"qps must be 1-{MAX_QPS} (got {MAX_QPS + 1})"]),
    "qps zero": ({"dr_drill_qps": 0}, [f"qps must be 1-{MAX_QPS} (got 0)"]),
    "fault delay beyond the duration": (
        {"dr_drill_duration": 30, "dr_drill_fault_delay": 45}, ["fault_delay 45 < duration 30"]),
    "warm-up rate too high": ({"dr_drill_warmup_qps": MAX_QPS * 2}, [f"(0-{MAX_QPS})"]),
    "dns watch interval too long": ({"dr_drill_dns_watch_interval": 5}, ["dns_watch_interval 0-1.0 s (got 5)"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_refused_before_anything_runs(lab, tmp_path, case):
    values, messages = CASES[case]
    lab.admin("calls/reset", {})
    rc, out = ds.run(lab, "drill.yml", str(tmp_path / "drill.log"),
                     *ds.extra_vars(dr_drill_report_dir=str(tmp_path / "reports"), **values), timeout=180)
    assert rc != 0, out[-3000:]
    flat = " ".join(out.split())
    for message in messages:
        assert message in flat, (message, out[-3000:])
    assert "Nothing was run" in flat or "nothing was run" in flat, out[-3000:]
    assert "Steady state before" not in out, out[-3000:]  # stopped at validation, nothing loaded
    assert writes(lab) == {}
    assert not (tmp_path / "reports" / "pending-rollback.json").exists()
    assert_nothing_broken(lab)


def _load_processes(marker: str) -> list[int]:
    """The drill's background load: the drill_load module processes started from this test's playbook (found by
    a marker in their environment, inherited through Ansible's async daemon), not the synchronous warm-up."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if b"drill_load" in cmdline and marker.encode() in environ:
            found.append(int(pid))
    return found


def test_load_that_dies_before_the_fault_aborts_the_drill_with_nothing_broken(lab, tmp_path):
    reports = tmp_path / "reports"
    run_id = "dies-" + uuid.uuid4().hex[:6]
    marker = "DRILL_BAD_INPUT_TEST=" + run_id
    log = str(tmp_path / "drill.log")
    env = dict(ds.env(lab), DRILL_BAD_INPUT_TEST=run_id)
    lab.admin("calls/reset", {})
    out = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(  # noqa: S603
        ds.playbook(lab, "drill.yml", log, *ds.extra_vars(
            dr_drill_report_dir=str(reports), dr_drill_run_id=run_id, dr_drill_duration=40, dr_drill_fault_delay=12,
            dr_drill_qps=10, dr_drill_warmup_seconds=2, dr_drill_recover_timeout=30)),
        env=env, cwd=ds.ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        progress = reports / f"{run_id}-progress.json"
        deadline = time.monotonic() + 120
        while not progress.exists():
            assert proc.poll() is None, open(log, encoding="utf-8").read()[-3000:]
            assert time.monotonic() < deadline, "the background load never wrote its progress"
            time.sleep(0.2)
        killed = _load_processes(marker)
        assert killed, "no load process found"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        rc = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        out.close()
    text = open(log, encoding="utf-8").read()
    flat = " ".join(text.split())
    assert rc != 0, text[-3000:]
    # Killed with its async wrapper, the job file never says finished: the stale progress file tells.
    assert "ABORT: the load is not running (it is gone: its progress file" in flat, text[-3000:]
    assert "the fault was not injected and nothing was broken" in flat, text[-3000:]
    assert "Fault: delete the gateway Deployment" not in text.split("ABORT: the load is not running")[0]
    assert "The gateway workload before the rollback acts" not in text, text[-3000:]  # nothing to restore
    assert f"Drill {run_id}: FAIL - no load results" in flat, text[-3000:]
    assert not (reports / "pending-rollback.json").exists()
    assert not (reports / f"{run_id}-state.json").exists()  # no fault time: no fault sent
    assert writes(lab) == {}
    assert_nothing_broken(lab)
    # The lab's GTM answers with one address (weighted): look at each gateway itself.
    assert {r["address"]: ds.serves(r["address"]) for r in ds.regions(lab)} == {
        r["address"]: r["cluster"] for r in ds.regions(lab)}
