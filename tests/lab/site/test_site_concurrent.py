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
    reports = [(rc, site.parse(out)) for rc, out in outcomes]
    failures = [f for _, report in reports for f in site.failed_tasks(report)]

    # The ASM half (issue 13): no mesh, gateway or rate-limiter task failed in either run, and the cloud
    # holds one mesh per region with one attachment per cluster.
    asm_failures = [f for f in failures if not f.startswith("localhost: meshdr.alicloud.gtm")]
    assert asm_failures == [], asm_failures
    meshes = mesh_state(fresh_lab)
    assert sorted(name for name, _ in meshes) == ["mesh-1", "mesh-2"], meshes  # no duplicate mesh
    for name, clusters in meshes:
        assert len(clusters) == len(set(clusters)), (name, clusters)

    if failures and all(f.startswith("localhost: meshdr.alicloud.gtm") for f in failures):
        # Known gap outside the ASM path: concurrent GTM creates (pools) are not yet adopted.
        pytest.xfail(f"GTM half of issue 13: concurrent gtm role runs create duplicate pools: {failures}")
    for rc, report in reports:
        assert rc == 0, site.failed_tasks(report)


def mesh_state(lab) -> list[tuple[str, list[str]]]:
    """(mesh name, member cluster ids) per mesh, read through the real SDK."""
    from alibabacloud_servicemesh20200111 import models as m
    from alibabacloud_servicemesh20200111.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    creds = lab.credentials
    client = Client(open_api_models.Config(access_key_id=creds["access_key_id"],
                                           access_key_secret=creds["access_key_secret"],
                                           endpoint=lab.endpoint, protocol="http"))
    out = []
    for mesh in client.describe_service_meshes(m.DescribeServiceMeshesRequest()).body.service_meshes or []:
        info = mesh.service_mesh_info
        clusters = client.describe_clusters_in_service_mesh(
            m.DescribeClustersInServiceMeshRequest(service_mesh_id=info.service_mesh_id)).body.clusters or []
        out.append((info.name, [c.cluster_id for c in clusters]))
    return out
