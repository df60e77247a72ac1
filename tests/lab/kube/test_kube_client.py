"""The kubernetes Python client (typed and dynamic) against a running lab."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from kube_support import Raw, available, deployment, wait_for
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError, UnprocessibleEntityError


def _ns(api_client, name: str) -> None:
    core = k8s.CoreV1Api(api_client)
    try:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    except ApiException as exc:
        assert exc.status == 409


def test_version_and_discovery(api_client, raw):
    info = k8s.VersionApi(api_client).get_code()  # the typed model checks every VersionInfo field
    assert info.major == "1" and info.git_version.startswith("v1.")
    groups = k8s.ApisApi(api_client).get_api_versions()
    names = {g.name: g for g in groups.groups}
    assert names["apps"].preferred_version.group_version == "apps/v1"
    assert names["autoscaling"].preferred_version.version == "v2"
    assert "networking.istio.io" not in names  # Istio kinds live in the mesh API, not the cluster's
    status, resources = raw.request("GET", "/apis/apps/v1")
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["deployments"]["shortNames"] == ["deploy"]
    assert by_name["deployments"]["namespaced"] is True and "patch" in by_name["deployments"]["verbs"]
    assert by_name["deployments/scale"]["kind"] == "Scale" and "deployments/status" in by_name
    status, core = raw.request("GET", "/api/v1")
    assert {"ns"} == set(next(r for r in core["resources"] if r["name"] == "namespaces")["shortNames"])


def test_unauthorized_without_or_with_wrong_credentials(raw, cluster_kubeconfig, mesh_kubeconfig):
    refused = [raw.request("GET", "/api/v1/namespaces", token=token) for token in (None, "wrong")]
    # Another server's client certificate is no good here either (on the cloud each cluster has its own CA).
    refused.append(Raw(cluster_kubeconfig, credentials_from=mesh_kubeconfig).request("GET", "/api/v1/namespaces"))
    for status, body in refused:
        assert status == 401
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    assert raw.request("GET", "/api/v1/namespaces")[0] == 200


def test_initial_namespaces(api_client, mesh_dyn):
    names = {n.metadata.name for n in k8s.CoreV1Api(api_client).list_namespace().items}
    assert {"default", "kube-system", "kube-public", "istio-system"} <= names
    mesh_names = {n.metadata.name for n in mesh_dyn.resources.get(api_version="v1", kind="Namespace").get().items}
    assert {"istio-system", "default"} <= mesh_names


def test_typed_create_get_list_replace_delete(api_client):
    apps = k8s.AppsV1Api(api_client)
    _ns(api_client, "typed")
    created = apps.create_namespaced_deployment("typed", deployment("api", replicas=2))
    assert created.metadata.uid and created.metadata.generation == 1
    assert created.metadata.creation_timestamp is not None
    assert not (created.status and created.status.available_replicas)  # Pods take their pull/start delays
    ready = available(apps, "api", "typed", 2)
    assert ready.status.observed_generation == 1
    conditions = {c.type: (c.status, c.reason) for c in ready.status.conditions}
    assert conditions == {"Available": ("True", "MinimumReplicasAvailable"),
                          "Progressing": ("True", "NewReplicaSetAvailable")}
    created = ready
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment("typed", deployment("api"))
    assert exc.value.status == 409 and '"reason":"AlreadyExists"' in exc.value.body
    got = apps.read_namespaced_deployment("api", "typed")
    # The deployment controller annotates the revision after the create, as on a real cluster.
    assert got.metadata.uid == created.metadata.uid
    assert got.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    listed = apps.list_namespaced_deployment("typed")
    assert [d.metadata.name for d in listed.items] == ["api"] and int(listed.metadata.resource_version) >= int(
        created.metadata.resource_version)
    got.spec.template.spec.containers[0].image = "nginx:1.26"
    replaced = apps.replace_namespaced_deployment("api", "typed", got)
    assert replaced.metadata.generation == 2
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    got.spec.replicas = 5  # carries the old resourceVersion: optimistic concurrency refuses it
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("api", "typed", got)
    assert exc.value.status == 409 and '"reason":"Conflict"' in exc.value.body
    status = apps.delete_namespaced_deployment("api", "typed", propagation_policy="Foreground")
    # Foreground deletion answers with the object (marked for deletion), not a Status.
    assert status["kind"] == "Deployment" and status["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in status["metadata"]["finalizers"]
    # The garbage collector removes the ReplicaSets and Pods first, then the Deployment.
    assert _gone(lambda: apps.read_namespaced_deployment("api", "typed"))


def _eventually(check, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _gone(read, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            read()
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        time.sleep(0.2)
    return False


def test_namespace_must_exist_and_names_are_validated(api_client, raw):
    core = k8s.CoreV1Api(api_client)
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("nowhere", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="x")))
    assert exc.value.status == 404 and 'namespaces \\"nowhere\\" not found' in exc.value.body
    status, body = raw.request("POST", "/api/v1/namespaces/default/configmaps",
                               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    for meta in ({"name": ["x"]}, {"name": "x", "labels": {"a": 1}}, {"name": "x", "annotations": "a=b"}):
        status, body = raw.request("POST", "/api/v1/namespaces/default/configmaps",
                                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
        assert status == 400 and body["reason"] == "BadRequest", (meta, body)
        assert "cannot unmarshal" in body["message"]
    bad = deployment("broken")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    status, body = raw.request("POST", "/apis/apps/v1/namespaces/default/deployments", bad)
    assert status == 422
    assert {c["field"] for c in body["details"]["causes"]} == {"spec.template.metadata.labels",
                                                               "spec.template.spec.containers[0].image"}
    status, body = raw.request("POST", "/apis/apps/v1/namespaces/default/deployments",
                               {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "s"},
                                "spec": "not-an-object"})
    assert status == 400 and body["reason"] == "BadRequest"
    status, body = raw.request("POST", "/api/v1/namespaces/default/configmaps", b"{not json")
    assert status == 400


def test_label_and_field_selectors(api_client):
    core = k8s.CoreV1Api(api_client)
    _ns(api_client, "sel")
    for name, labels in (("a", {"tier": "web", "env": "prod"}), ("b", {"tier": "db", "env": "prod"}),
                         ("c", {"tier": "web"})):
        core.create_namespaced_config_map("sel", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name,
                                                                                             labels=labels)))

    def names(**kwargs):
        # kube-root-ca.crt: what every namespace of a cluster holds (root-ca-cert-publisher)
        return sorted(c.metadata.name for c in core.list_namespaced_config_map("sel", **kwargs).items
                      if c.metadata.name != "kube-root-ca.crt")

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier!=web") == ["b"]
    assert names(label_selector="tier in (web,db),env") == ["a", "b"]
    assert names(label_selector="tier notin (db),!env") == ["c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b", label_selector="env=prod") == ["a"]
    all_ns = core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=sel")
    assert len(all_ns.items) == 4  # with kube-root-ca.crt
    page = core.list_namespaced_config_map("sel", limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = core.list_namespaced_config_map("sel", limit=2, _continue=page.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["c", "kube-root-ca.crt"]


def test_patch_types_and_noop(api_client, raw):
    apps = k8s.AppsV1Api(api_client)
    _ns(api_client, "patch")
    apps.create_namespaced_deployment("patch", deployment("web"))
    path = "/apis/apps/v1/namespaces/patch/deployments/web"
    sm = "application/strategic-merge-patch+json"
    # Strategic merge: containers merge on name, env on name; $patch: delete removes one item.
    status, obj = raw.request("PATCH", path, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "env": [{"name": "B", "value": "2"}]},
        {"name": "sidecar", "image": "envoy:1"}]}}}}, sm)
    assert status == 200
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "sidecar"]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert containers[0]["image"] == "nginx:1.25"
    assert obj["metadata"]["generation"] == 2
    status, obj = raw.request("PATCH", path, {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}}, sm)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["main"]
    # Merge patch replaces lists whole.
    status, obj = raw.request("PATCH", path, {"metadata": {"labels": {"team": "x"}}},
                              "application/merge-patch+json")
    assert obj["metadata"]["labels"] == {"app": "web", "team": "x"}
    assert obj["metadata"]["generation"] == 3  # a metadata change does not bump generation
    rv = obj["metadata"]["resourceVersion"]
    # JSON patch.
    status, obj = raw.request("PATCH", path, [{"op": "replace", "path": "/spec/replicas", "value": 3},
                                              {"op": "test", "path": "/metadata/labels/team", "value": "x"}],
                              "application/json-patch+json")
    assert status == 200 and obj["spec"]["replicas"] == 3
    assert wait_for(lambda: raw.request("GET", path)[1]["status"].get("availableReplicas") == 3)
    obj = raw.request("GET", path)[1]
    status, body = raw.request("PATCH", path, [{"op": "test", "path": "/spec/replicas", "value": 9}],
                               "application/json-patch+json")
    assert status == 422
    rv = obj["metadata"]["resourceVersion"]
    # A no-op patch changes nothing at all.
    status, same = raw.request("PATCH", path, {"spec": {"replicas": 3}}, sm)
    assert same["metadata"]["resourceVersion"] == rv and same == obj
    # A stale resourceVersion in a patch is a precondition.
    status, body = raw.request("PATCH", path, {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 4}},
                               "application/merge-patch+json")
    assert status == 409 and body["reason"] == "Conflict"
    status, body = raw.request("PATCH", path, {"spec": {}}, "application/x-unknown")
    assert status == 415


def test_dry_run_changes_nothing(api_client, raw):
    core = k8s.CoreV1Api(api_client)
    status, body = raw.request("POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
                               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"},
                                "data": {"k": "v"}})
    assert status == 201 and body["data"] == {"k": "v"}
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("dry", "default")
    core.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="dry"),
                                                                  data={"k": "v"}))
    status, body = raw.request("PATCH", "/api/v1/namespaces/default/configmaps/dry?dryRun=All",
                               {"data": {"k": "changed"}}, "application/merge-patch+json")
    assert body["data"] == {"k": "changed"}
    assert core.read_namespaced_config_map("dry", "default").data == {"k": "v"}
    status, _ = raw.request("DELETE", "/api/v1/namespaces/default/configmaps/dry?dryRun=All")
    assert status == 200
    assert core.read_namespaced_config_map("dry", "default").data == {"k": "v"}
    status, body = raw.request("DELETE", "/api/v1/namespaces/default/configmaps/dry?dryRun=Some")
    assert status == 400
    status, body = raw.request("DELETE", "/api/v1/namespaces/default/configmaps/dry")
    assert status == 200 and body["kind"] == "Status" and body["status"] == "Success"


def test_server_side_apply(dyn):
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": "default"},
                "data": {"a": "1", "b": "2"}}
    first = cms.server_side_apply(body=manifest, name="ssa", namespace="default", field_manager="alice")
    assert first.to_dict()["data"] == {"a": "1", "b": "2"}
    assert [m["manager"] for m in first.to_dict()["metadata"]["managedFields"]] == ["alice"]
    again = cms.server_side_apply(body=manifest, name="ssa", namespace="default", field_manager="alice")
    assert again.metadata.resourceVersion == first.metadata.resourceVersion  # nothing changed
    with pytest.raises(ConflictError) as exc:
        cms.server_side_apply(body={**manifest, "data": {"a": "bob"}}, name="ssa", namespace="default",
                              field_manager="bob")
    assert "FieldManagerConflict" in str(exc.value.body)
    forced = cms.server_side_apply(body={**manifest, "data": {"a": "bob"}}, name="ssa", namespace="default",
                                   field_manager="bob", force_conflicts=True)
    assert forced.to_dict()["data"] == {"a": "bob", "b": "2"}
    # alice stops applying "b": it is removed because nobody else owns it.
    dropped = cms.server_side_apply(body={**manifest, "data": {"a": "bob"}}, name="ssa", namespace="default",
                                    field_manager="alice")
    assert dropped.to_dict()["data"] == {"a": "bob"}


def test_status_and_scale_subresources(api_client, raw):
    apps = k8s.AppsV1Api(api_client)
    _ns(api_client, "sub")
    apps.create_namespaced_deployment("sub", deployment("s"))
    scale = apps.read_namespaced_deployment_scale("s", "sub")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=s"
    apps.patch_namespaced_deployment_scale("s", "sub", {"spec": {"replicas": 4}})
    dep = available(apps, "s", "sub", 4)
    assert dep.spec.replicas == 4 and dep.status.ready_replicas == 4 and dep.metadata.generation == 2
    status, body = raw.request("PATCH", "/apis/apps/v1/namespaces/sub/deployments/s/status",
                               {"status": {"readyReplicas": 1}, "spec": {"replicas": 9}},
                               "application/merge-patch+json")
    assert status == 200 and body["status"]["readyReplicas"] == 1 and body["spec"]["replicas"] == 4
    assert body["metadata"]["generation"] == 2  # status writes never bump generation
    # Status in a main-resource write is ignored; the lab's deployment controller reconciles it from spec.
    status, body = raw.request("PATCH", "/apis/apps/v1/namespaces/sub/deployments/s",
                               {"status": {"readyReplicas": 0}}, "application/merge-patch+json")
    assert body["status"]["readyReplicas"] == 4


def test_replicas_zero_still_available(api_client):
    apps = k8s.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", deployment("zero", replicas=0))
    dep = wait_for(lambda: (lambda d: d if d.status and d.status.conditions else None)(
        apps.read_namespaced_deployment("zero", "default")))
    assert dep.status.available_replicas is None and dep.status.replicas is None
    assert {c.type: c.status for c in dep.status.conditions}["Available"] == "True"


def test_crd_becomes_discoverable_and_servable(dyn, raw):
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body={
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "prometheusrules.monitoring.coreos.com"},
        "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                 "names": {"kind": "PrometheusRule", "plural": "prometheusrules", "singular": "prometheusrule",
                           "shortNames": ["promrule"], "listKind": "PrometheusRuleList"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]}})
    crd = crds.get(name="prometheusrules.monitoring.coreos.com")
    assert {c["type"]: c["status"] for c in crd.status.conditions}["Established"] == "True"
    rules = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="PrometheusRule")
    created = rules.create(namespace="default", body={
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]}})
    assert created.spec.groups[0].name == "g"
    status, body = raw.request("PATCH", "/apis/monitoring.coreos.com/v1/namespaces/default/prometheusrules/r",
                               {"spec": {}}, "application/strategic-merge-patch+json")
    assert status == 415  # as the real server: no strategic merge for custom resources
    patched = rules.patch(name="r", namespace="default", body={"metadata": {"labels": {"x": "y"}}},
                          content_type="application/merge-patch+json")
    assert patched.to_dict()["metadata"]["labels"] == {"x": "y"}
    crds.delete(name="prometheusrules.monitoring.coreos.com")
    status, _ = raw.request("GET", "/apis/monitoring.coreos.com/v1/namespaces/default/prometheusrules/r")
    assert status == 404


def test_mesh_serves_istio_and_asm_kinds(mesh_dyn, mesh_raw):
    for api_version in ("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1"):
        for kind in ("Gateway", "VirtualService", "DestinationRule", "ServiceEntry"):
            assert mesh_dyn.resources.get(api_version=api_version, kind=kind).namespaced
    for api_version in ("istio.alibabacloud.com/v1beta1", "istio.alibabacloud.com/v1"):
        for kind in ("IstioGateway", "ASMLocalRateLimiter", "ASMGlobalRateLimiter"):
            assert mesh_dyn.resources.get(api_version=api_version, kind=kind)
    gateways = mesh_dyn.resources.get(api_version="networking.istio.io/v1beta1", kind="Gateway")
    gateways.create(namespace="istio-system", body={
        "apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway", "metadata": {"name": "gw"},
        "spec": {"selector": {"istio": "ingressgateway"},
                 "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}})
    # Same object in another served version, as Istio's conversion-free CRDs do.
    v1 = mesh_dyn.resources.get(api_version="networking.istio.io/v1", kind="Gateway").get(name="gw",
                                                                                          namespace="istio-system")
    assert v1.apiVersion == "networking.istio.io/v1" and v1.spec.servers[0].port.number == 80
    status, body = mesh_raw.request("GET", "/apis/networking.istio.io")
    assert body["preferredVersion"]["version"] == "v1"


def test_generation_and_invalid_on_update(dyn):
    deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    dep = deps.create(namespace="default", body=deployment("gen"))
    relabeled = deps.patch(name="gen", namespace="default", body={"metadata": {"annotations": {"a": "b"}}},
                           content_type="application/merge-patch+json")
    assert relabeled.metadata.generation == dep.metadata.generation
    with pytest.raises(UnprocessibleEntityError):
        deps.patch(name="gen", namespace="default", body={"spec": {"selector": {"matchLabels": {"app": "x"}}}},
                   content_type="application/merge-patch+json")
    with pytest.raises(NotFoundError):
        deps.get(name="missing", namespace="default")


def test_namespace_deletion_removes_its_objects(api_client):
    core = k8s.CoreV1Api(api_client)
    _ns(api_client, "doomed")
    core.create_namespaced_config_map("doomed", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c")))
    k8s.AppsV1Api(api_client).create_namespaced_deployment("doomed", deployment("d"))
    ns = core.delete_namespace("doomed")
    assert ns["status"]["phase"] == "Terminating"  # typed delete returns the raw Namespace
    deadline = time.time() + 10
    while time.time() < deadline:
        if "doomed" not in {n.metadata.name for n in core.list_namespace().items}:
            break
        time.sleep(0.1)
    else:
        pytest.fail("namespace never went away")
    assert core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=doomed").items == []
    assert k8s.AppsV1Api(api_client).list_deployment_for_all_namespaces(
        field_selector="metadata.namespace=doomed").items == []
    with pytest.raises(ApiException) as exc:
        core.delete_namespace("kube-system")
    assert exc.value.status == 403


def test_watch_streams_events_from_a_resource_version(api_client):
    core = k8s.CoreV1Api(api_client)
    _ns(api_client, "watched")
    start = core.list_namespaced_config_map("watched").metadata.resource_version
    seen: list[tuple[str, str, str]] = []

    def consume():
        stream = watch.Watch().stream(core.list_namespaced_config_map, "watched", resource_version=start,
                                      timeout_seconds=3)
        for event in stream:
            seen.append((event["type"], event["object"].metadata.name, event["object"].metadata.resource_version))
            if event["type"] == "DELETED":
                break

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.3)
    core.create_namespaced_config_map("watched", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="w"),
                                                                  data={"a": "1"}))
    core.patch_namespaced_config_map("w", "watched", {"data": {"a": "1"}})  # a no-op: no event
    core.patch_namespaced_config_map("w", "watched", {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w", "watched")
    thread.join(10)
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    rvs = [int(rv) for _, _, rv in seen]
    assert rvs == sorted(rvs) and rvs[0] > int(start)
    # Resuming from the first event's RV replays what followed.
    replay = [e["type"] for e in watch.Watch().stream(core.list_namespaced_config_map, "watched",
                                                      resource_version=str(rvs[0]), timeout_seconds=1)]
    assert replay == ["MODIFIED", "DELETED"]


def test_watch_too_old_resource_version_is_expired(raw):
    status, body = raw.request("GET", "/api/v1/namespaces?watch=true&resourceVersion=0&timeoutSeconds=1")
    assert status == 200
    events = [json.loads(line) for line in body.splitlines()]
    assert {e["type"] for e in events} == {"ADDED"} and "default" in {e["object"]["metadata"]["name"] for e in events}
    # A resourceVersion older than the watch history: one in-stream ERROR event with a 410 Expired Status.
    status, body = raw.request("GET", "/api/v1/namespaces?watch=true&resourceVersion=-5&timeoutSeconds=1")
    assert status == 200
    assert body["type"] == "ERROR" and body["object"]["code"] == 410 and body["object"]["reason"] == "Expired"


def test_finalizers_hold_deletion_until_removed(raw):
    base = "/api/v1/namespaces/default/configmaps"
    status, _ = raw.request("POST", base, {"apiVersion": "v1", "kind": "ConfigMap",
                                           "metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    assert status == 201
    status, obj = raw.request("DELETE", f"{base}/held")
    assert status == 200 and obj["metadata"]["deletionTimestamp"]  # still there, marked for deletion
    status, obj = raw.request("GET", f"{base}/held")
    assert status == 200 and obj["metadata"]["finalizers"] == ["example.com/hold"]
    status, _ = raw.request("PATCH", f"{base}/held", {"metadata": {"finalizers": None}},
                            "application/merge-patch+json")
    assert status == 200
    assert raw.request("GET", f"{base}/held")[0] == 404


def test_bad_query_parameters_are_400_status(raw):
    for query in ("limit=abc", "labelSelector=a%20in%20b", "fieldSelector=spec.foo%3Dx", "watch=1&timeoutSeconds=x"):
        status, body = raw.request("GET", f"/api/v1/namespaces/default/configmaps?{query}")
        assert status == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest", query
    status, body = raw.request("GET", "/apis/nosuch.example.com/v1/things")
    assert status == 404 and body["kind"] == "Status"


def test_concurrent_writers_lose_no_update(raw, api_client):
    """Optimistic concurrency under parallel writers: every increment lands exactly once."""
    core = k8s.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="counter"),
                                                                  data={"n": "0"}))
    conflicts = []

    def bump(times: int) -> None:
        done = 0
        while done < times:
            status, obj = raw.request("GET", "/api/v1/namespaces/default/configmaps/counter")
            obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
            status, _ = raw.request("PUT", "/api/v1/namespaces/default/configmaps/counter", obj)
            if status == 409:
                conflicts.append(1)
                continue
            assert status == 200
            done += 1

    threads = [threading.Thread(target=bump, args=(10,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert core.read_namespaced_config_map("counter", "default").data["n"] == "60"


def test_removed_server_is_gone(lab):
    reply = lab.admin("kube/servers", {"id": "c0shortlived", "kind": "mesh"})
    mesh = Raw(reply["kubeconfig"])
    assert mesh.request("GET", "/api/v1/namespaces/istio-system")[0] == 200
    assert lab.admin("kube/servers/delete", {"id": "c0shortlived"}) == {"removed": True}
    status, body = mesh.request("GET", "/api/v1/namespaces/istio-system")
    assert status == 404 and body["kind"] == "Status"
    assert not os.path.exists(reply["kubeconfig"])
    assert "c0shortlived" not in lab.admin("kube/servers")


def test_deployments_get_replicasets_and_pods(api_client):
    core, apps = k8s.CoreV1Api(api_client), k8s.AppsV1Api(api_client)
    _ns(api_client, "pods")
    dep = apps.create_namespaced_deployment("pods", deployment("shop", replicas=2))

    def pods():
        items = core.list_namespaced_pod("pods", label_selector="app=shop").items
        return sorted(items, key=lambda p: p.metadata.name)

    available(apps, "shop", "pods", 2)
    first = pods()
    assert len(first) == 2
    for pod in first:
        assert pod.status.phase == "Running" and pod.status.container_statuses[0].ready
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        rs = apps.read_namespaced_replica_set(pod.metadata.owner_references[0].name, "pods")
        assert rs.metadata.owner_references[0].uid == dep.metadata.uid
        assert rs.status.ready_replicas == 2
    apps.patch_namespaced_deployment_scale("shop", "pods", {"spec": {"replicas": 3}})
    assert len(pods()) == 3
    available(apps, "shop", "pods", 3)
    # A rolling update keeps the old Pods until new ones are Ready: to an image that cannot be pulled, never.
    apps.patch_namespaced_deployment("shop", "pods", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:no-such-tag"}]}}}})
    wait_for(lambda: any((p.status.container_statuses or [None])[0] and p.status.container_statuses[0].state.waiting
                         and p.status.container_statuses[0].state.waiting.reason == "ErrImagePull" for p in pods()))
    assert sum(p.status.phase == "Running" and p.spec.containers[0].image == "nginx:1.25" for p in pods()) == 3
    assert {c.type: c.status for c in apps.read_namespaced_deployment("shop", "pods").status.conditions}[
        "Available"] == "True"
    apps.patch_namespaced_deployment("shop", "pods", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.26"}]}}}})
    available(apps, "shop", "pods", 3)
    replica_sets = {rs.metadata.name: rs for rs in apps.list_namespaced_replica_set("pods").items}
    assert len(replica_sets) == 3  # the old revisions stay, scaled to zero
    assert sorted(rs.spec.replicas for rs in replica_sets.values()) == [0, 0, 3]
    # the old Pods are Terminating until their containers exited (graceful termination), then gone
    wait_for(lambda: {p.spec.containers[0].image for p in pods()} == {"nginx:1.26"})
    apps.delete_namespaced_deployment("shop", "pods")  # background propagation: the GC takes the rest
    assert _eventually(lambda: pods() == [] and apps.list_namespaced_replica_set("pods").items == [])
    apps.create_namespaced_deployment("pods", deployment("kept"))
    apps.delete_namespaced_deployment("kept", "pods", propagation_policy="Orphan")
    assert len(apps.list_namespaced_replica_set("pods").items) == 1


def test_secret_data_must_be_base64(raw, api_client):
    status, body = raw.request("POST", "/api/v1/namespaces/default/secrets",
                               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"},
                                "data": {"k": "not base64!"}})
    assert status == 400 and "illegal base64" in body["message"]
    created = k8s.CoreV1Api(api_client).create_namespaced_secret("default", k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="good"), string_data={"k": "v"}))
    assert created.data == {"k": "dg=="} and created.type == "Opaque" and not created.string_data


def test_external_deployment_status(lab, api_client):
    """A component that owns a Deployment's readiness (the data plane does for gateways) sees it stick."""
    apps, core = k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client)
    cluster_id = lab.topology["regions"][0]["clusters"][0]["id"]
    apps.create_namespaced_deployment("default", deployment("gw", replicas=2))
    reply = lab.admin("kube/deployment-status", {"server": cluster_id, "namespace": "default", "name": "gw",
                                                 "status": {"readyReplicas": 0, "availableReplicas": 0,
                                                            "unavailableReplicas": 2}})
    assert reply["status"]["readyReplicas"] == 0
    apps.patch_namespaced_deployment("gw", "default", {"metadata": {"labels": {"touched": "yes"}}})
    dep = apps.read_namespaced_deployment("gw", "default")
    assert not dep.status.ready_replicas and dep.status.unavailable_replicas == 2  # the lab did not overwrite it
    pods = core.list_namespaced_pod("default", label_selector="app=gw").items
    assert len(pods) == 2 and not any(p.status.container_statuses[0].ready for p in pods)
    lab.admin("kube/deployment-status", {"server": cluster_id, "namespace": "default", "name": "gw",
                                         "external": False})
    apps.patch_namespaced_deployment("gw", "default", {"spec": {"replicas": 3}})
    dep = available(apps, "gw", "default", 3)
    assert dep.status.ready_replicas == 3 and dep.status.available_replicas == 3


def test_hpa_served_as_v2_and_v1(api_client):
    v2 = k8s.AutoscalingV2Api(api_client)
    v1 = k8s.AutoscalingV1Api(api_client)
    v2.create_namespaced_horizontal_pod_autoscaler("default", {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h2"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                 "minReplicas": 1, "maxReplicas": 5,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 70}}}]}})
    assert v1.read_namespaced_horizontal_pod_autoscaler("h2", "default").spec.target_cpu_utilization_percentage == 70
    v1.create_namespaced_horizontal_pod_autoscaler("default", {
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h1"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                 "maxReplicas": 3, "targetCPUUtilizationPercentage": 55}})
    metric = v2.read_namespaced_horizontal_pod_autoscaler("h1", "default").spec.metrics[0]
    assert metric.resource.name == "cpu" and metric.resource.target.average_utilization == 55


def test_services_get_endpoints_of_their_pods(api_client):
    core, apps = k8s.CoreV1Api(api_client), k8s.AppsV1Api(api_client)
    _ns(api_client, "eps")
    core.create_namespaced_service("eps", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
                                           "spec": {"selector": {"app": "api"},
                                                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    apps.create_namespaced_deployment("eps", deployment("api", replicas=2))
    available(apps, "api", "eps", 2)
    endpoints = core.read_namespaced_endpoints("api", "eps")
    pod_ips = {p.status.pod_ip for p in core.list_namespaced_pod("eps", label_selector="app=api").items}
    assert {a.ip for a in endpoints.subsets[0].addresses} == pod_ips and len(pod_ips) == 2
    assert endpoints.subsets[0].ports[0].port == 8080 and endpoints.subsets[0].ports[0].name == "http"
    apps.patch_namespaced_deployment_scale("api", "eps", {"spec": {"replicas": 3}})
    assert len(core.read_namespaced_endpoints("api", "eps").subsets[0].addresses) == 2  # the new Pod is not Ready
    available(apps, "api", "eps", 3)
    assert len(core.read_namespaced_endpoints("api", "eps").subsets[0].addresses) == 3
    apps.delete_namespaced_deployment("api", "eps")
    assert _eventually(lambda: not core.read_namespaced_endpoints("api", "eps").subsets)
    core.delete_namespaced_service("api", "eps")
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_endpoints("api", "eps")
    assert exc.value.status == 404


def test_watch_list_with_initial_events_end_bookmark(raw):
    status, body = raw.request("GET", "/api/v1/namespaces?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                                      "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    events = [json.loads(line) for line in body.splitlines()]
    assert status == 200 and {e["type"] for e in events[:-1]} == {"ADDED"}
    assert events[-1]["type"] == "BOOKMARK"
    assert events[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= max(
        int(e["object"]["metadata"]["resourceVersion"]) for e in events[:-1])
