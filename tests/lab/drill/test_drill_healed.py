"""Who healed (issue 15 item 3): with ASM's own gateway resync on (as on a real mesh, about 20 s after the
fault), the region serves again before the drill's rollback acts, and the report says so; the rollback
step says it had nothing to do.  One lab, one failure drill (about 4 minutes with the converge)."""

from __future__ import annotations

import os

import drill_support as ds
import pytest

from drlab.testing import LabHandle

pytestmark = pytest.mark.timeout(900)

TARGET = "cn-hangzhou"
RESYNC = 12  # seconds after the fault; the load runs 45 s with the fault at 12 s: the resync falls inside


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    handle = LabHandle(directory=str(tmp_path_factory.mktemp("drill-healed-lab")), topology=ds.lab_topology(RESYNC))
    handle.up()
    try:
        # round_robin: every answer holds every available address (what both_regions_serve checks at the end).
        rc, out = ds.run(handle, "site.yml", os.path.join(handle.dir, "site.log"),
                         *ds.extra_vars(dr_ratelimit_quota=300, dr_gtm_lb_strategy="round_robin"), timeout=600)
        assert rc == 0, out[-4000:]
        yield handle
    finally:
        handle.down()


def test_the_report_says_asm_healed_the_region_before_the_rollback(lab, tmp_path):
    reports = str(tmp_path / "reports")
    rc, out = ds.run(lab, "drill.yml", str(tmp_path / "drill.log"), *ds.extra_vars(
        dr_drill_target_region=TARGET, dr_drill_qps=50, dr_drill_duration=45, dr_drill_fault_delay=10,
        dr_drill_report_dir=reports, dr_drill_run_id="drill-healed"), timeout=400)
    assert rc == 0, out[-6000:]
    journal = ds.journal(reports, "drill-healed")
    summary = journal["run"]["analysis"]
    target = next(r for r in ds.regions(lab) if r["id"] == TARGET)
    resynced = [e for e in ds.lab_events(lab) if e["kind"] == "gateway_resynced"
                and e["time"] > journal["run"]["start_epoch"]]
    assert resynced, "the lab's ASM resync did not run during the drill"
    # The region served again (direct probe) before the rollback acted, and the report says who healed.
    assert summary["t_region_back"] is not None and summary["region_back_source"] == "direct probe", summary
    assert summary["t_region_back"] < summary["rollback_started"], summary
    assert summary["healed_by"] == "before the rollback acted (ASM resync or an operator)"
    with open(os.path.join(reports, "drill-healed-report.md"), encoding="utf-8") as handle:
        md = handle.read()
    assert f"Who healed: {target['address']} served again at" in md
    # The rollback step says what it did: nothing, the gateway was already back.
    restore = journal["rollbacks"][0]
    assert restore["status"] == "succeeded" and restore["detail"].startswith("nothing to do"), journal["rollbacks"]
    ds.both_regions_serve(lab)
