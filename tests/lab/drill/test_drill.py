"""drill.yml on a lab converged with site.yml (issue #9 item 5), driven as a user would drive it.

One lab for the module, with ASM's own gateway resync off, so that only the drill's rollback can bring a
broken region back.  Three runs (about 5 minutes with the converge):

1. failure drill, 60 s at 100 requests/s, lab health checks (2 s x 1, timeout 2 s, TTL 5 s), with a
   multi-address client (browser-like) loading the same domain at the same time;
2. a drill killed right after its fault: the region stays broken;
3. the next run, a planned switchover: it first restores what the killed run left, then drains,
   acts, restores and undrains with no client error.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import drill_support as ds
import pytest

from drlab.testing import LabHandle

pytestmark = pytest.mark.timeout(900)

TARGET = "cn-hangzhou"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    handle = LabHandle(directory=str(tmp_path_factory.mktemp("drill-lab")), topology=ds.lab_topology(resync=0))
    handle.up()
    try:
        # The drill loads at 100/s and a failover puts all of it on one gateway: give the local rate limit
        # (the runbook's 100/s per replica) room so 429s on the survivor do not hide the failover figures.
        # GTM answers with every address only with round robin (weight picks one per answer): that is
        # what lets a multi-address client try the other region; single-address clients take the first.
        log = os.path.join(handle.dir, "site.log")
        rc, out = ds.run(handle, "site.yml", log, *ds.extra_vars(dr_ratelimit_quota=300,
                                                                 dr_gtm_lb_strategy="round_robin"), timeout=600)
        assert rc == 0, out[-4000:]
        yield handle
    finally:
        handle.down()


def region(lab, name):
    return next(r for r in ds.regions(lab) if r["id"] == name)


def multi_address_load(lab, records: str, seconds: int) -> subprocess.Popen:
    """A browser-like client (next address on refused) on the same domain, through drill_load ad hoc."""
    topo = lab.topology
    args = {"url": f"http://{ds.DOMAIN}:{ds.HTTP_PORT}/productpage", "qps": 20, "duration": seconds,
            "nameserver": f"{topo['host']}:{topo['ports']['dns']}", "multi_address": True, "records_file": records}
    env = dict(ds.env(lab), ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    return subprocess.Popen(  # noqa: S603
        [os.path.join(ds.BIN, "ansible"), "localhost", "-m", "meshdr.alicloud.drill_load", "-a", json.dumps(args)],
        env=env, cwd=ds.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_failure_drill_passes_fails_over_and_restores(lab, tmp_path):
    reports = str(tmp_path / "reports")
    run_id = "drill-failure"
    log = str(tmp_path / "drill.log")
    drill = ds.start(lab, "drill.yml", log, *ds.extra_vars(
        dr_drill_target_region=TARGET, dr_drill_qps=100, dr_drill_duration=60, dr_drill_fault_delay=20,
        dr_drill_report_dir=reports, dr_drill_run_id=run_id))
    # The browser-like client starts with the drill's load (its progress file appears) and spans the fault.
    wait_for(lambda: os.path.exists(os.path.join(reports, f"{run_id}-progress.json")) or drill.poll() is not None,
             120, "the drill's load to start")
    browser = multi_address_load(lab, str(tmp_path / "multi.json"), seconds=50)
    rc = drill.wait(timeout=400)
    browser_out, _ = browser.communicate(timeout=120)
    with open(log, encoding="utf-8") as handle:
        out = handle.read()
    assert rc == 0, out[-6000:]

    # The play said so: PASS (or INCONCLUSIVE, below), readable report paths, progress while the load ran.
    assert re.search(r"DRILL (PASS|INCONCLUSIVE)", out), out[-3000:]
    progress = [float(m) for m in re.findall(r"msg: \+(\d+\.\d+)s \d+ requests", out)]
    assert progress, out[-3000:]
    for kind, suffix in (("Markdown report", "report.md"), ("PNG timeline", "timeline.png")):
        path = re.search(kind + r":\s+([^'\s]+)", out).group(1)
        assert path == os.path.join(reports, f"{run_id}-{suffix}") and os.path.getsize(path) > 1000

    journal = ds.journal(reports, run_id)
    summary = journal["run"]["analysis"]
    target = region(lab, TARGET)
    print("verdict", journal["verdict"]["overall"], "client", summary["client_health"])
    # PASS, or INCONCLUSIVE on a busy machine: then only for client reasons, never a FAIL blaming the system.
    verdict = journal["verdict"]
    assert verdict["overall"] in ("PASS", "INCONCLUSIVE"), verdict
    # Whatever the client's health, the rollback put the region back and both regions serve.
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded", "succeeded"], journal["rollbacks"]
    assert ds.deployment_exists(target)
    ds.both_regions_serve(lab)
    # The time to detect is the system's, not the drill's: within 0.5 s of the lab's own event log (gateway
    # Envoy stopped -> GTM address unavailable).
    lab_events = ds.lab_events(lab)
    stopped = next(e["time"] for e in lab_events if e["kind"] == "gateway_envoy_stopped"
                   and e.get("address") == region(lab, TARGET)["address"] and e["time"] > journal["run"]["start_epoch"])
    unavailable = next(e["time"] for e in lab_events if e["kind"] == "gtm_address_unavailable"
                       and e.get("address") == region(lab, TARGET)["address"] and e["time"] >= stopped)
    lab_detect = unavailable - stopped
    print(f"time to detect: drill {summary['time_to_detect']} ({summary['detect_source']}), lab {lab_detect:.3f}, "
          f"GTM API poll {summary['time_to_detect_api']}")
    if verdict["overall"] == "INCONCLUSIVE":
        assert summary["client_health"]["healthy"] is False and summary["client_health"]["reasons"], verdict
        assert all(r.startswith(("the client, not the system", "not judged: ")) for r in verdict["reasons"]), verdict
        browser.kill()
        pytest.skip(f"the client was the bottleneck (busy machine): {summary['client_health']['reasons']}")
    # Progress came through every phase of the run: before the fault, after it and before detection, after
    # detection. How far apart two lines are is a figure (the watch interval plus one action, which a busy
    # machine stretches), not a behaviour.
    phases = [("T0 +" in line, "detected +" in line) for line in re.findall(r"msg: (\+\d+\.\d+s \d+ requests.*)", out)]
    assert (False, False) in phases and (True, False) in phases and (True, True) in phases, phases
    assert progress == sorted(progress), progress
    gaps = [b - a for a, b in zip([0.0, *progress], [*progress, 60.0], strict=True)]
    print(f"progress lines: {len(progress)}, longest gap {max(gaps):.1f} s")
    assert summary["detect_source"].startswith("DNS watcher"), summary["detect_source"]
    assert abs(summary["time_to_detect"] - lab_detect) <= 0.5, (summary["time_to_detect"], lab_detect)
    # The timeline reads in time order, each event with the clock that saw it.
    times = [e["t"] for e in journal["run"]["events"]]
    assert times == sorted(times) and all(e.get("source") for e in journal["run"]["events"])
    assert journal["status"] == "completed" and not journal["deviated"]
    assert journal["run"]["aggregates"]["ActualQPS"] >= 95
    # The failover happened: errors after T0, all of them on the failed region's address ...
    assert summary["fault_address"] == target["address"]
    by_address = {a: n for a, n in summary["errors_by_address"].items() if n}
    assert set(by_address) == {target["address"]}, summary["errors_by_address"]
    assert summary["errors_on_other_addresses"] == 0
    # ... within what GTM's health check and the TTL allow: interval x evaluation_count + timeout + TTL + 1 s.
    gtm = ds.gtm_monitor(lab)
    bound = gtm["monitor"]["interval"] * gtm["monitor"]["evaluation_count"] + gtm["monitor"]["timeout"] / 1000 \
        + gtm["ttl"] + 1
    assert summary["error_window"] is not None and 0 <= summary["error_window"] <= bound, (summary, bound)
    assert summary["time_to_detect"] is not None
    # The survivor took the traffic after the failover. "After" starts with the first second whose error rate
    # is back under the recovery threshold (1 %): a last error on the failed address may fall in it, a
    # success there may not.
    after = summary["phases"]["after"]["by_address"]
    survivor = region(lab, "ap-southeast-1")["address"]
    assert set(after) <= {survivor, target["address"]}, after
    assert after.get(target["address"], {}).get("ok", 0) == 0, after
    assert after[survivor]["ok"] >= 0.99 * sum(a["total"] for a in after.values()), after
    # The rollback put the region back; the steady state after held; and it is true from outside too.
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded", "succeeded"], journal["rollbacks"]
    assert journal["steady_states"]["after"]["ok"] is True
    assert ds.deployment_exists(target)
    ds.both_regions_serve(lab)

    # A browser-like client on the same domain never failed: a refused connection, or a GET reset in
    # flight when the gateway was killed, went to the other address of the answer.
    browser_result = json.loads(browser_out[browser_out.index("{"):])
    load = browser_result["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert load["summary"]["requests"] >= 20 * 45, load["summary"]
    with open(str(tmp_path / "multi.json"), encoding="utf-8") as handle:
        browser_records = json.load(handle)
    t0 = journal["run"]["start_epoch"] + summary["t0"]
    failed = [(browser_records["start_epoch"] + r[0] - t0, r[3]) for r in browser_records["records"]
              if r[2] is None or not 200 <= r[2] < 400]
    assert failed == [], failed
    assert any(r[6] > 1 for r in browser_records["records"]), "no request needed the other address"
    print(f"multi-address client: {load['summary']}; failed requests (s after T0, class): {failed}")


def test_interrupted_drill_is_restored_by_the_next_run_a_switchover_without_errors(lab, tmp_path):
    reports = str(tmp_path / "reports")
    target = region(lab, TARGET)
    # A drill stopped right after its fault as a lost host would (its background load too, which would
    # otherwise restore by itself): no rollback ran.
    killed = ds.start(lab, "drill.yml", str(tmp_path / "killed.log"), *ds.extra_vars(
        dr_drill_target_region=TARGET, dr_drill_qps=20, dr_drill_duration=30, dr_drill_fault_delay=3,
        dr_drill_report_dir=reports, dr_drill_run_id="drill-killed"))
    wait_for(lambda: not ds.deployment_exists(target) or killed.poll() is not None, 150, "the fault")
    assert killed.poll() is None, "the drill ended before it could be interrupted"
    ds.lose_the_host(lab, killed)
    # The region stays broken: GTM drops it and nothing brings its gateway back (ASM resync is off here).
    wait_for(lambda: ds.resolve(lab) == [region(lab, "ap-southeast-1")["address"]], 30, "GTM to drop the region")
    time.sleep(3)
    assert not ds.deployment_exists(target) and ds.serves(target["address"]) is None
    assert os.path.exists(os.path.join(reports, "pending-rollback.json"))

    # The next run, a planned switchover of the same region, first restores what the killed run left.
    rc, out = ds.run(lab, "drill.yml", str(tmp_path / "switchover.log"), *ds.extra_vars(
        dr_drill_target_region=TARGET, dr_drill_mode="switchover", dr_drill_qps=100, dr_drill_duration=60,
        dr_drill_fault_delay=5, dr_drill_report_dir=reports, dr_drill_run_id="drill-switchover"), timeout=400)
    assert rc == 0, out[-6000:]
    assert "Drill drill-killed was interrupted after it acted on cn-hangzhou" in out
    journal = ds.journal(reports, "drill-switchover")
    leftover = [r for r in journal["rollbacks"] if r["name"].startswith("leftover of drill-killed")]
    assert leftover and all(r["status"] == "succeeded" for r in leftover), journal["rollbacks"]
    assert journal["steady_states"]["before"]["ok"] is True
    verdict = journal["verdict"]
    if verdict["overall"] == "INCONCLUSIVE":
        # A busy machine: only for client reasons, and the region is back whatever the verdict.
        health = journal["run"]["analysis"]["client_health"]
        assert health["healthy"] is False and health["reasons"], verdict
        assert all(r.startswith(("the client, not the system", "not judged: ")) for r in verdict["reasons"]), verdict
        assert ds.deployment_exists(target)
        ds.both_regions_serve(lab)
        pytest.skip(f"the client was the bottleneck (busy machine): {health['reasons']}")
    assert "DRILL PASS" in out

    # The switchover itself: drained, acted on, restored and undrained during the load, with no client error.
    summary = journal["run"]["analysis"]
    names = [e["name"] for e in journal["run"]["events"]]
    assert {"drain", "fault_sent", "fault_effect", "undrain"} <= set(names), names
    assert summary["requests"] >= 100 * 55 and summary["errors"] == 0, summary["errors_by_class"]
    # While it was drained and down, the survivor took every request; afterwards both regions serve again.
    assert journal["steady_states"]["after"]["ok"] is True and not journal["deviated"]
    assert not os.path.exists(os.path.join(reports, "pending-rollback.json"))
    assert ds.deployment_exists(target)
    ds.both_regions_serve(lab)


def test_sigint_stops_the_load_rolls_back_and_writes_a_partial_report(lab, tmp_path):
    """Ctrl-C (SIGINT to the play's process group) right after the fault: ansible-core runs no `always:`,
    so the load notices its playbook is gone, stops, and starts the drill again in restore mode."""
    reports = str(tmp_path / "reports")
    target = region(lab, TARGET)
    run_id = "drill-interrupted"
    drill = ds.start(lab, "drill.yml", str(tmp_path / "interrupted.log"), *ds.extra_vars(
        dr_drill_target_region=TARGET, dr_drill_qps=20, dr_drill_duration=60, dr_drill_fault_delay=3,
        dr_drill_report_dir=reports, dr_drill_run_id=run_id))
    wait_for(lambda: not ds.deployment_exists(target) or drill.poll() is not None, 150, "the fault")
    assert drill.poll() is None, "the drill ended before it could be interrupted"
    interrupted_at = time.time()
    os.killpg(drill.pid, signal.SIGINT)
    drill.wait(timeout=60)

    # The load stopped by itself within 2 s and wrote its partial results ...
    load_file = os.path.join(reports, f"{run_id}-load.json")
    wait_for(lambda: os.path.exists(load_file), 30, "the partial load results")
    with open(load_file, encoding="utf-8") as handle:
        results = json.load(handle)
    assert results["interrupted"] and "is gone" in results["interrupted"]["reason"], results["interrupted"]
    last_start = results["start_epoch"] + max(r[0] for r in results["records"])
    assert last_start <= interrupted_at + 2, (last_start - interrupted_at)
    # ... and the restore run it started rolled back and wrote the partial report, marked interrupted.
    wait_for(lambda: os.path.exists(os.path.join(reports, f"{run_id}-journal.json")), 300, "the partial report")
    journal = ds.journal(reports, run_id)
    assert journal["status"] == "interrupted" and journal["verdict"]["overall"] == "INCONCLUSIVE", journal["verdict"]
    assert journal["verdict"]["reasons"][0].startswith("drill interrupted"), journal["verdict"]
    assert journal["run"]["analysis"]["t0_sent"] is not None  # the fault time was kept before the API call
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded", "succeeded"], journal["rollbacks"]
    assert "re-created" in journal["rollbacks"][0]["detail"], journal["rollbacks"]
    assert not os.path.exists(os.path.join(reports, "pending-rollback.json"))
    assert ds.deployment_exists(target)
    ds.both_regions_serve(lab)


def test_multi_address_failure_drill_on_a_round_robin_pool_has_no_client_error(lab, tmp_path):
    """Item 5 of issue 15: the drill's own load as browser-like clients (next address of the answer on a refused
    connection or a reset GET), on the pool of this lab (round_robin: GTM answers with every available address,
    AddressLbStrategy of UpdateCloudGtmAddressPoolLbStrategyRequest).  The region fails, nobody sees it."""
    reports = str(tmp_path / "reports")
    run_id = "drill-multi"
    target = region(lab, TARGET)
    rc, out = ds.run(lab, "drill.yml", str(tmp_path / "multi.log"), *ds.extra_vars(
        dr_drill_target_region=TARGET, dr_drill_multi_address=True, dr_drill_qps=50, dr_drill_duration=40,
        dr_drill_fault_delay=12, dr_drill_report_dir=reports, dr_drill_run_id=run_id), timeout=400)
    assert rc == 0, out[-6000:]
    assert "held one address" not in out  # the answers carried both regions: the check let it through
    if "DRILL INCONCLUSIVE" in out and "bottleneck in the steady state before" in out:
        # A busy machine: the client could not measure even the steady state; nothing was broken.
        assert ds.deployment_exists(target)
        pytest.skip("the client was the bottleneck in the steady state before (busy machine)")
    journal = ds.journal(reports, run_id)
    summary = journal["run"]["analysis"]
    assert journal["run"]["options"]["multi_address"] is True
    verdict = journal["verdict"]
    assert verdict["overall"] in ("PASS", "INCONCLUSIVE"), verdict
    assert {r["status"] for r in journal["rollbacks"]} <= {"succeeded", "not needed"}, journal["rollbacks"]
    assert ds.deployment_exists(target)
    ds.both_regions_serve(lab)
    if verdict["overall"] == "INCONCLUSIVE":
        # A busy machine (the load may even have aborted before the fault): only for client reasons.
        assert summary["client_health"]["healthy"] is False and summary["client_health"]["reasons"], verdict
        pytest.skip(f"the client was the bottleneck (busy machine): {summary['client_health']['reasons']}")
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded", "succeeded"], journal["rollbacks"]
    # The fault happened and was seen (the direct probe on the target, the DNS watcher), and no request failed
    # of what a multi-address client survives: a refused connection or a reset.
    assert summary["t0"] is not None and summary["time_to_detect"] is not None, summary
    by_class = summary["errors_by_class"]
    assert by_class.get("refused", 0) == 0 and by_class.get("reset", 0) == 0, by_class
    with open(os.path.join(reports, f"{run_id}-load.json"), encoding="utf-8") as handle:
        records = json.load(handle)["records"]
    assert any(r[6] > 1 for r in records), "no request needed the other address: the fault was not measured"
    assert summary["errors"] == 0, (summary["errors_by_class"], summary["errors_by_address"])
    assert "DRILL PASS" in out
