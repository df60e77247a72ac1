"""Two site.yml runs started together on a fresh lab both succeed and leave one of everything.

Every create of the collection races the other run's: a mesh created by the other run is adopted
(NameAlreadyExist / re-read by name), a cluster it attached is re-read as a member, a change refused
because the other run's change keeps the mesh busy is repeated once the mesh is running (issue 13).
"""

from __future__ import annotations

import subprocess

import pytest
import site_support as site

from drlab.testing import LabHandle

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture
def fresh_lab():
    lab = LabHandle(topology=site.topology()).up()
    try:
        yield lab
    finally:
        lab.down()


def test_two_site_runs_started_together_both_converge_on_one_of_everything(fresh_lab, tmp_path):
    inv = site.inventory(tmp_path)
    runs = [subprocess.Popen(site.command(fresh_lab, inv, "site.yml"), env=site.env(fresh_lab),  # noqa: S603
                             cwd=site.ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for _ in range(2)]
    outcomes = []
    try:
        for run in runs:
            out, _ = run.communicate(timeout=900)
            outcomes.append((run.returncode, out))
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
    for rc, out in outcomes:
        report = site.parse(out)
        assert rc == 0, site.failed_tasks(report)

    rc, seen = site.run(fresh_lab, inv, "tests/lab/site/inspect.yml")
    assert rc == 0, site.failed_tasks(seen)
    inspect = seen["global_custom_stats"]["inspect"]
    assert sorted(inspect["meshes"]) == ["mesh-1", "mesh-2"]
    for mesh, clusters in inspect["mesh_clusters"].items():
        ids = [c["id"] for c in clusters]
        assert len(ids) == len(set(ids)), (mesh, ids)  # one attachment per cluster
