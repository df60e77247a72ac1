"""A re-run finds drift that a step skipped on the controller's reading would otherwise miss.

cluster_prep reads every region's namespaces once for the play and skips its k8s module where they
already carry ``istio-injection=enabled``; bookinfo reads every region's mesh objects once and skips its
mesh k8s module where the merge patch would change nothing, and in check mode its cluster k8s module where
the strategic merge patch would change nothing (benchmarks/site_converge.py).  Drift in one region must
still be predicted by check mode and put back by the re-run, in that region only, also when the role is
skipped for the host that would have run the shared read.
"""

from __future__ import annotations

import os

import pytest
import site_support as site
from kubernetes import client as k8s
from kubernetes import config as k8s_config

pytestmark = pytest.mark.timeout(900)

NAMESPACES_TASK = ("meshdr.alicloud.cluster_prep : Application namespaces with sidecar injection, "
                   "once the Kubernetes API answers")
MESH_TASK = ("meshdr.alicloud.bookinfo : Bookinfo namespace (sidecar injection on), Gateway, VirtualService "
             "(named productpage route) and DestinationRules into the mesh")
CLUSTER_TASK = "meshdr.alicloud.bookinfo : Bookinfo workloads into the cluster"
NAMESPACE = "bookinfo"  # inventories/lab: dr_bookinfo_namespace
VIRTUAL_SERVICE = dict(group="networking.istio.io", version="v1beta1", namespace=NAMESPACE,
                       plural="virtualservices", name="bookinfo")


def cluster_client(lab, region_id: str) -> k8s.ApiClient:
    region = next(r for r in lab.topology["regions"] if r["id"] == region_id)
    path = os.path.join(lab.dir, "kubeconfig", f"{region['clusters'][0]['id']}.yaml")
    return k8s_config.new_client_from_config(config_file=path)


def cluster_api(lab, region_id: str) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(cluster_client(lab, region_id))


def mesh_api(lab, region_id: str) -> k8s.CustomObjectsApi:
    path = os.path.join(lab.dir, "kubeconfig", f"mesh-{region_id}.yaml")
    return k8s.CustomObjectsApi(k8s_config.new_client_from_config(config_file=path))


def routes(api: k8s.CustomObjectsApi) -> list[str]:
    return [route.get("name") for route in api.get_namespaced_custom_object(**VIRTUAL_SERVICE)["spec"]["http"]]


def drop_all_routes_but_the_first(api: k8s.CustomObjectsApi) -> None:
    http = api.get_namespaced_custom_object(**VIRTUAL_SERVICE)["spec"]["http"]
    api.patch_namespaced_custom_object(**VIRTUAL_SERVICE, body={"spec": {"http": http[:1]}})


def image_of(lab, region_id: str, deployment: str) -> str:
    apps = k8s.AppsV1Api(cluster_client(lab, region_id))
    return apps.read_namespaced_deployment(deployment, NAMESPACE).spec.template.spec.containers[0].image


def set_image(lab, region_id: str, deployment: str, image: str) -> None:
    apps = k8s.AppsV1Api(cluster_client(lab, region_id))
    container = apps.read_namespaced_deployment(deployment, NAMESPACE).spec.template.spec.containers[0].name
    apps.patch_namespaced_deployment(deployment, NAMESPACE, {"spec": {"template": {"spec": {
        "containers": [{"name": container, "image": image}]}}}})


def injection_label(api: k8s.CoreV1Api) -> str | None:
    return (api.read_namespace(NAMESPACE).metadata.labels or {}).get("istio-injection")


def changed_hosts(report, task: str) -> set[str]:
    return {host for host, result in site.task_results(report, task).items() if result.get("changed")}


def repaired_without_the_first_host(lab, inv: str, task: str) -> set[str]:
    """The roles run for every region but the batch's first: ``task`` ran, and changed, in exactly one."""
    rc, partial = site.run(lab, inv, "tests/lab/site/roles_for_all_but_first.yml")
    assert rc == 0, site.failed_tasks(partial)
    ran = {host for host, result in site.task_results(partial, task).items() if not result.get("skipped")}
    assert len(ran) == 1, site.task_results(partial, task)
    assert changed_hosts(partial, task) == ran, site.changed_tasks(partial)
    return ran


def test_a_namespace_that_lost_its_injection_label_is_relabelled_in_its_region_only(lab2, tmp_path):
    inv = site.inventory(tmp_path)
    rc, report = site.run(lab2, inv, "site.yml", "--skip-tags", "verify")
    assert rc == 0, site.failed_tasks(report)

    drifted = cluster_api(lab2, "cn-hangzhou")
    drifted.patch_namespace(NAMESPACE, {"metadata": {"labels": {"istio-injection": None}}})
    assert injection_label(drifted) is None

    rc, check = site.run(lab2, inv, "site.yml", "--skip-tags", "verify", "--check")
    assert rc == 0, site.failed_tasks(check)
    assert changed_hosts(check, NAMESPACES_TASK) == {"cn-hangzhou"}, site.changed_tasks(check)
    assert site.changed_tasks(check) == [c for c in site.changed_tasks(check) if c.startswith("cn-hangzhou: ")]
    assert injection_label(drifted) is None, "check mode wrote"

    rc, again = site.run(lab2, inv, "site.yml", "--skip-tags", "verify")
    assert rc == 0, site.failed_tasks(again)
    assert changed_hosts(again, NAMESPACES_TASK) == {"cn-hangzhou"}, site.changed_tasks(again)
    assert injection_label(drifted) == "enabled"
    assert injection_label(cluster_api(lab2, "ap-southeast-1")) == "enabled"

    rc, last = site.run(lab2, inv, "site.yml", "--skip-tags", "verify")
    assert rc == 0, site.failed_tasks(last)
    assert site.totals(last)["changed"] == 0, site.changed_tasks(last)

    # The roles run for every region but the batch's first: the shared read is skipped for the whole batch
    # (a run_once task's condition is the first host's), and the other region still reads its own cluster.
    apis = {region: cluster_api(lab2, region) for region in ("cn-hangzhou", "ap-southeast-1")}
    for api in apis.values():
        api.patch_namespace(NAMESPACE, {"metadata": {"labels": {"istio-injection": None}}})
    ran = repaired_without_the_first_host(lab2, inv, NAMESPACES_TASK)
    assert {region: injection_label(api) for region, api in apis.items()} == {
        region: "enabled" if region in ran else None for region in apis}


def test_a_virtual_service_edited_by_hand_is_put_back_in_its_mesh_only(lab2, tmp_path):
    inv = site.inventory(tmp_path)
    rc, report = site.run(lab2, inv, "site.yml", "--skip-tags", "verify")
    assert rc == 0, site.failed_tasks(report)
    meshes = {region: mesh_api(lab2, region) for region in ("cn-hangzhou", "ap-southeast-1")}
    declared = routes(meshes["cn-hangzhou"])
    assert len(declared) > 1

    rc, quiet = site.run(lab2, inv, "site.yml", "--skip-tags", "verify")
    assert rc == 0, site.failed_tasks(quiet)
    assert all(result.get("skipped") for result in site.task_results(quiet, MESH_TASK).values()), \
        "a mesh already as declared still started the module"

    drop_all_routes_but_the_first(meshes["ap-southeast-1"])
    rc, check = site.run(lab2, inv, "site.yml", "--skip-tags", "verify", "--check")
    assert rc == 0, site.failed_tasks(check)
    assert changed_hosts(check, MESH_TASK) == {"ap-southeast-1"}, site.changed_tasks(check)
    assert site.changed_tasks(check) == [c for c in site.changed_tasks(check) if c.startswith("ap-southeast-1: ")]
    assert routes(meshes["ap-southeast-1"]) == declared[:1], "check mode wrote"

    rc, again = site.run(lab2, inv, "site.yml", "--skip-tags", "verify")
    assert rc == 0, site.failed_tasks(again)
    assert changed_hosts(again, MESH_TASK) == {"ap-southeast-1"}, site.changed_tasks(again)
    assert {region: routes(api) for region, api in meshes.items()} == {region: declared for region in meshes}

    # The role skipped for the batch's first host: the shared read is skipped for the whole batch, and the
    # other region's module runs and repairs its own mesh.
    for api in meshes.values():
        drop_all_routes_but_the_first(api)
    ran = repaired_without_the_first_host(lab2, inv, MESH_TASK)
    assert {region: routes(api) for region, api in meshes.items()} == {
        region: declared if region in ran else declared[:1] for region in meshes}


def test_check_mode_skips_unchanged_workloads_and_still_predicts_an_image_changed_by_hand(lab2, tmp_path):
    inv = site.inventory(tmp_path)
    rc, report = site.run(lab2, inv, "site.yml", "--skip-tags", "verify")
    assert rc == 0, site.failed_tasks(report)

    rc, quiet = site.run(lab2, inv, "site.yml", "--skip-tags", "verify", "--check")
    assert rc == 0, site.failed_tasks(quiet)
    assert all(result.get("skipped") for result in site.task_results(quiet, CLUSTER_TASK).values()), \
        "check mode started the module for workloads already as declared"
    assert site.totals(quiet)["changed"] == 0, site.changed_tasks(quiet)

    declared = image_of(lab2, "cn-hangzhou", "reviews-v2")
    set_image(lab2, "cn-hangzhou", "reviews-v2", declared + "-hotfix")
    rc, check = site.run(lab2, inv, "site.yml", "--skip-tags", "verify", "--check")
    assert rc == 0, site.failed_tasks(check)
    assert changed_hosts(check, CLUSTER_TASK) == {"cn-hangzhou"}, site.changed_tasks(check)
    assert site.changed_tasks(check) == [c for c in site.changed_tasks(check) if c.startswith("cn-hangzhou: ")]
    assert image_of(lab2, "cn-hangzhou", "reviews-v2") == declared + "-hotfix", "check mode wrote"

    # A real run always starts the module (it waits for the Deployments), and puts the image back.
    rc, again = site.run(lab2, inv, "site.yml", "--skip-tags", "verify")
    assert rc == 0, site.failed_tasks(again)
    assert all(not result.get("skipped") for result in site.task_results(again, CLUSTER_TASK).values())
    assert changed_hosts(again, CLUSTER_TASK) == {"cn-hangzhou"}, site.changed_tasks(again)
    assert image_of(lab2, "cn-hangzhou", "reviews-v2") == declared
