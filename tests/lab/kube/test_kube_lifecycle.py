"""The lab apiserver's lifecycle rules, each as the Kubernetes API documents it (sources in the
docstrings of drlab/kube/lifecycle.py, standard.py, subresources.py and controllers.py)."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import time
import urllib.request

import pytest
from kube_support import deployment


def _eventually(check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    return check()


def _ns(raw, name: str) -> None:
    status, _ = raw.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status in (201, 409)


def _cm(name: str, **extra) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}, **extra}


def test_resource_version_rules(raw, mesh_raw):
    _ns(raw, "rv")
    status, body = raw.request("POST", "/api/v1/namespaces/rv/configmaps",
                               _cm("c1", metadata={"name": "c1", "resourceVersion": "12"}))
    assert status == 500 and body["message"] == "resourceVersion should not be set on objects to be created"
    status, created = raw.request("POST", "/api/v1/namespaces/rv/configmaps", _cm("c1"))
    assert status == 201
    # Built-in kinds allow an unconditional update (no resourceVersion); a stale one is a 409 Conflict.
    status, _ = raw.request("PUT", "/api/v1/namespaces/rv/configmaps/c1", _cm("c1", data={"a": "2"}))
    assert status == 200
    stale = _cm("c1", metadata={"name": "c1", "resourceVersion": created["metadata"]["resourceVersion"]})
    status, body = raw.request("PUT", "/api/v1/namespaces/rv/configmaps/c1", stale)
    assert status == 409 and body["reason"] == "Conflict"
    # Custom resources do not: PUT without a resourceVersion is 422.
    path = "/apis/networking.istio.io/v1/namespaces/default/virtualservices"
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "rv"},
          "spec": {"hosts": ["a"], "http": [{"route": [{"destination": {"host": "a"}}]}]}}
    assert mesh_raw.request("POST", path, vs)[0] == 201
    status, body = mesh_raw.request("PUT", f"{path}/rv", vs)
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    assert "must be specified for an update" in body["message"]


def test_immutable_configmaps_secrets_and_fields(raw):
    _ns(raw, "immut")
    base = "/api/v1/namespaces/immut"
    assert raw.request("POST", f"{base}/configmaps", _cm("frozen", immutable=True))[0] == 201
    status, body = raw.request("PUT", f"{base}/configmaps/frozen", _cm("frozen", immutable=True, data={"a": "2"}))
    assert status == 422 and "field is immutable when `immutable` is set" in body["message"]
    status, body = raw.request("PUT", f"{base}/configmaps/frozen", _cm("frozen", immutable=False))
    assert status == 422 and body["details"]["causes"][0]["field"] == "immutable"
    # Labels stay editable; the object can still be deleted.
    status, _ = raw.request("PUT", f"{base}/configmaps/frozen", _cm("frozen", immutable=True, metadata={
        "name": "frozen", "labels": {"x": "y"}}))
    assert status == 200
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
              "stringData": {"k": "v"}}
    assert raw.request("POST", f"{base}/secrets", secret)[0] == 201
    status, body = raw.request("PUT", f"{base}/secrets/s", dict(secret, type="kubernetes.io/tls"))
    assert status == 422 and body["details"]["causes"][0]["field"] == "type"
    dep = deployment("sel")
    assert raw.request("POST", "/apis/apps/v1/namespaces/immut/deployments", dep)[0] == 201
    changed = json.loads(json.dumps(dep))
    changed["spec"]["selector"]["matchLabels"]["tier"] = "x"
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    status, body = raw.request("PUT", "/apis/apps/v1/namespaces/immut/deployments/sel", changed)
    assert status == 422 and "field is immutable" in body["message"]


def test_object_finalizers_hold_deletion(raw):
    _ns(raw, "fin")
    path = "/api/v1/namespaces/fin/configmaps"
    assert raw.request("POST", path, _cm("held", metadata={"name": "held", "finalizers": ["example.com/x"]}))[0] == 201
    status, body = raw.request("DELETE", f"{path}/held")
    assert status == 200 and body["metadata"]["deletionTimestamp"]
    status, body = raw.request("GET", f"{path}/held")
    assert status == 200 and body["metadata"]["finalizers"] == ["example.com/x"]
    status, body = raw.request("PATCH", f"{path}/held", {"metadata": {"finalizers": ["example.com/x", "new/y"]}},
                               content_type="application/merge-patch+json")
    assert status == 422 and "no new finalizers can be added" in body["message"]
    status, _ = raw.request("PATCH", f"{path}/held", {"metadata": {"finalizers": None}},
                            content_type="application/merge-patch+json")
    assert status == 200
    assert raw.request("GET", f"{path}/held")[0] == 404


def test_namespace_terminates_after_content_and_finalizers(raw):
    _ns(raw, "nsfin")
    cm = _cm("held", metadata={"name": "held", "finalizers": ["example.com/x"]})
    assert raw.request("POST", "/api/v1/namespaces/nsfin/configmaps", cm)[0] == 201
    assert raw.request("POST", "/api/v1/namespaces/nsfin/configmaps", _cm("free"))[0] == 201
    status, body = raw.request("DELETE", "/api/v1/namespaces/nsfin")
    assert status == 200 and body["status"]["phase"] == "Terminating"

    def conditions():
        ns = raw.request("GET", "/api/v1/namespaces/nsfin")[1]
        return {c["type"] for c in (ns.get("status") or {}).get("conditions") or []} >= {
            "NamespaceContentRemaining", "NamespaceFinalizersRemaining"} and ns
    ns = _eventually(conditions)
    assert ns and ns["status"]["phase"] == "Terminating"
    assert raw.request("GET", "/api/v1/namespaces/nsfin/configmaps/free")[0] == 404
    status, body = raw.request("POST", "/api/v1/namespaces/nsfin/configmaps", _cm("late"))
    assert status == 403 and "because it is being terminated" in body["message"]
    assert raw.request("PATCH", "/api/v1/namespaces/nsfin/configmaps/held", {"metadata": {"finalizers": None}},
                       content_type="application/merge-patch+json")[0] == 200
    assert _eventually(lambda: raw.request("GET", "/api/v1/namespaces/nsfin")[0] == 404)

    # A spec.finalizers entry of someone else's keeps the namespace until namespaces/finalize drops it.
    body = {"metadata": {"name": "nsspec"}, "spec": {"finalizers": ["kubernetes", "example.com/y"]}}
    assert raw.request("POST", "/api/v1/namespaces", body)[0] == 201
    raw.request("DELETE", "/api/v1/namespaces/nsspec")
    ns = _eventually(lambda: (raw.request("GET", "/api/v1/namespaces/nsspec")[1].get("spec") or {}).get(
        "finalizers") == ["example.com/y"] and raw.request("GET", "/api/v1/namespaces/nsspec")[1])
    assert ns and ns["status"]["phase"] == "Terminating"
    ns["spec"]["finalizers"] = []
    assert raw.request("PUT", "/api/v1/namespaces/nsspec/finalize", ns)[0] == 200
    assert _eventually(lambda: raw.request("GET", "/api/v1/namespaces/nsspec")[0] == 404)


def _owned_cm(name: str, owner: dict, finalizers=None) -> dict:
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}
    meta = {"name": name, "ownerReferences": [ref]}
    if finalizers:
        meta["finalizers"] = finalizers
    return _cm(name, metadata=meta)


def test_propagation_policies(raw):
    _ns(raw, "prop")
    path = "/api/v1/namespaces/prop/configmaps"
    # Foreground: the owner waits, marked, until its blocking dependents are gone.
    owner = raw.request("POST", path, _cm("owner"))[1]
    assert raw.request("POST", path, _owned_cm("dep", owner, ["example.com/hold"]))[0] == 201
    status, body = raw.request("DELETE", f"{path}/owner?propagationPolicy=Foreground")
    assert status == 200 and "foregroundDeletion" in body["metadata"]["finalizers"]
    dep = _eventually(lambda: raw.request("GET", f"{path}/dep")[1]["metadata"].get("deletionTimestamp")
                      and raw.request("GET", f"{path}/dep")[1])
    assert dep
    time.sleep(0.5)
    status, body = raw.request("GET", f"{path}/owner")
    assert status == 200 and body["metadata"]["deletionTimestamp"]
    raw.request("PATCH", f"{path}/dep", {"metadata": {"finalizers": None}}, content_type="application/merge-patch+json")
    assert _eventually(lambda: raw.request("GET", f"{path}/owner")[0] == 404)
    # Orphan: the dependents stay, without the ownerReference.
    owner = raw.request("POST", path, _cm("owner2"))[1]
    assert raw.request("POST", path, _owned_cm("kid", owner))[0] == 201
    status, body = raw.request("DELETE", f"{path}/owner2", {"propagationPolicy": "Orphan"})
    assert status == 200 and "orphan" in body["metadata"]["finalizers"]
    assert _eventually(lambda: raw.request("GET", f"{path}/owner2")[0] == 404)
    kid = raw.request("GET", f"{path}/kid")[1]
    assert "ownerReferences" not in kid["metadata"]
    # Background: the owner goes now, the collector takes the dependents after.
    owner = raw.request("POST", path, _cm("owner3"))[1]
    assert raw.request("POST", path, _owned_cm("kid3", owner))[0] == 201
    status, body = raw.request("DELETE", f"{path}/owner3?propagationPolicy=Background")
    assert status == 200 and body["kind"] == "Status"
    assert raw.request("GET", f"{path}/owner3")[0] == 404
    assert _eventually(lambda: raw.request("GET", f"{path}/kid3")[0] == 404)


def test_deployment_revision_and_controller_events(raw):
    _ns(raw, "revs")
    base = "/apis/apps/v1/namespaces/revs/deployments"
    assert raw.request("POST", base, deployment("web", replicas=2))[0] == 201
    dep = raw.request("GET", f"{base}/web")[1]
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}}}
    assert raw.request("PATCH", f"{base}/web", patch, content_type="application/strategic-merge-patch+json")[0] == 200
    dep = raw.request("GET", f"{base}/web")[1]
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    replica_sets = raw.request("GET", "/apis/apps/v1/namespaces/revs/replicasets")[1]["items"]
    first = next(rs["metadata"]["name"] for rs in replica_sets
                 if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1")
    # The old revision is scaled down to 0 once the new Pods are Ready (they take their pull and start
    # delays): in one step (2 to 0) when both become Ready together, in two (2 to 1, 1 to 0) otherwise.
    old_gone = f"Scaled down replica set {first} from "
    assert _eventually(lambda: any(e["message"].startswith(old_gone) and e["message"].endswith(" to 0")
                                   for e in raw.request("GET", "/api/v1/namespaces/revs/events")[1]["items"]
                                   if e["reason"] == "ScalingReplicaSet"), 90), "the old revision never went to 0"
    events = raw.request("GET", "/api/v1/namespaces/revs/events")[1]["items"]
    reasons = {(e["involvedObject"]["kind"], e["reason"]) for e in events}
    assert {("Deployment", "ScalingReplicaSet"), ("ReplicaSet", "SuccessfulCreate"), ("Pod", "Scheduled")} <= reasons
    scaled = [e for e in events if e["reason"] == "ScalingReplicaSet"]
    assert {e["source"]["component"] for e in scaled} == {"deployment-controller"}
    assert any(e["message"].startswith("Scaled up replica set web-") for e in scaled)
    # The same Events through events.k8s.io/v1, in that API's shape.
    new = raw.request("GET", "/apis/events.k8s.io/v1/namespaces/revs/events")[1]["items"]
    assert len(new) == len(events) and all("regarding" in e and "note" in e for e in new)
    assert raw.request("GET", "/apis/events.k8s.io/v1/namespaces/revs/events?fieldSelector=reason%3DScheduled")[0] \
        in (200, 400)


def test_pagination_is_a_snapshot_and_expires(raw):
    _ns(raw, "pages")
    for index in range(5):
        assert raw.request("POST", "/api/v1/namespaces/pages/configmaps", _cm(f"c{index}"))[0] == 201
    status, first = raw.request("GET", "/api/v1/namespaces/pages/configmaps?limit=2")
    # 5 ConfigMaps of the test and kube-root-ca.crt, which every namespace of a cluster holds
    assert status == 200 and first["metadata"]["remainingItemCount"] == 4
    snapshot_rv = first["metadata"]["resourceVersion"]
    raw.request("DELETE", "/api/v1/namespaces/pages/configmaps/c3")
    raw.request("POST", "/api/v1/namespaces/pages/configmaps", _cm("c9"))
    names = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        status, page = raw.request("GET", f"/api/v1/namespaces/pages/configmaps?limit=2&continue={token}")
        assert status == 200 and page["metadata"]["resourceVersion"] == snapshot_rv
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == ["c0", "c1", "c2", "c3", "c4", "kube-root-ca.crt"]  # the list as of the first page
    gone = base64.urlsafe_b64encode(json.dumps({"rv": snapshot_rv, "start": 2, "snapshot": 999999}).encode())
    status, body = raw.request("GET", f"/api/v1/namespaces/pages/configmaps?limit=2&continue={gone.decode()}")
    assert status == 410 and body["reason"] == "Expired"


def test_standard_kinds_and_discovery(raw):
    groups = {g["name"] for g in raw.request("GET", "/apis")[1]["groups"]}
    assert {"batch", "networking.k8s.io", "rbac.authorization.k8s.io", "policy", "discovery.k8s.io",
            "coordination.k8s.io", "authorization.k8s.io", "events.k8s.io"} <= groups
    core = {r["name"] for r in raw.request("GET", "/api/v1")[1]["resources"]}
    assert {"nodes", "persistentvolumeclaims", "pods/log", "pods/exec", "pods/attach", "pods/eviction",
            "namespaces/finalize"} <= core
    apps = {r["name"] for r in raw.request("GET", "/apis/apps/v1")[1]["resources"]}
    assert {"statefulsets", "daemonsets", "statefulsets/scale"} <= apps
    nodes = raw.request("GET", "/api/v1/nodes")[1]["items"]
    assert len(nodes) == 1 and nodes[0]["status"]["conditions"][0]["type"] == "Ready"
    _ns(raw, "kinds")
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}}
    status, body = raw.request("POST", "/apis/apps/v1/namespaces/kinds/statefulsets", sts)
    assert status == 201
    body = raw.request("GET", "/apis/apps/v1/namespaces/kinds/statefulsets/db")[1]
    assert body["status"]["readyReplicas"] == 2
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "x", "image": "busybox:1"}]}}}}
    assert raw.request("POST", "/apis/batch/v1/namespaces/kinds/jobs", job)[0] == 201
    job = raw.request("GET", "/apis/batch/v1/namespaces/kinds/jobs/once")[1]
    assert job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == job["metadata"]["uid"]
    assert job["status"]["active"] == 1  # its Pod runs; nothing says when its command would exit
    pods = raw.request("GET", "/api/v1/namespaces/kinds/pods?labelSelector=job-name%3Donce")[1]["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"]
    for path, obj in (("/apis/networking.k8s.io/v1/namespaces/kinds/networkpolicies",
                       {"metadata": {"name": "deny"}, "spec": {"podSelector": {}}}),
                      ("/apis/policy/v1/namespaces/kinds/poddisruptionbudgets",
                       {"metadata": {"name": "pdb"}, "spec": {"minAvailable": 5, "selector": {
                           "matchLabels": {"app": "web"}}}}),
                      ("/apis/coordination.k8s.io/v1/namespaces/kinds/leases", {"metadata": {"name": "l"}}),
                      ("/apis/rbac.authorization.k8s.io/v1/namespaces/kinds/roles",
                       {"metadata": {"name": "r"}, "rules": []})):
        assert raw.request("POST", path, obj)[0] == 201, path
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "create", "resource": "namespaces"}}}
    status, body = raw.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
    assert status == 201 and body["status"]["allowed"] is True
    assert raw.request("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")[0] == 405


def test_pod_subresources(raw):
    _ns(raw, "podsub")
    assert raw.request("POST", "/apis/apps/v1/namespaces/podsub/deployments", deployment("web", replicas=1))[0] == 201
    pod = raw.request("GET", "/api/v1/namespaces/podsub/pods")[1]["items"][0]
    name = pod["metadata"]["name"]
    status, text = raw.request("GET", f"/api/v1/namespaces/podsub/pods/{name}/log")
    assert status == 200 and "drlab" in text and name in text
    status, body = raw.request("GET", f"/api/v1/namespaces/podsub/pods/{name}/log?container=nope")
    assert status == 400 and "is not valid for pod" in body["message"]
    status, body = raw.request("POST", f"/api/v1/namespaces/podsub/pods/{name}/exec?command=ls&stdout=true")
    assert status == 400 and body["message"] == "Upgrade request required"
    status, body = raw.request("POST", f"/api/v1/namespaces/podsub/pods/{name}/exec?command=ls",
                               headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
    assert status == 500 and "error dialing backend" in body["message"]
    pdb = {"metadata": {"name": "keep"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    assert raw.request("POST", "/apis/policy/v1/namespaces/podsub/poddisruptionbudgets", pdb)[0] == 201
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "podsub"}}
    status, body = raw.request("POST", f"/api/v1/namespaces/podsub/pods/{name}/eviction", eviction)
    assert status == 429 and body["reason"] == "TooManyRequests"
    raw.request("DELETE", "/apis/policy/v1/namespaces/podsub/poddisruptionbudgets/keep")
    status, body = raw.request("POST", f"/api/v1/namespaces/podsub/pods/{name}/eviction", eviction)
    assert status == 201 and body["status"] == "Success"


def test_absolute_paths_through_the_kubeconfig_server_url(raw, cluster_kubeconfig):
    root = raw.url.split("/clusters/")[0]
    req = urllib.request.Request(root + "/api/v1/namespaces")  # noqa: S310 - loopback lab
    req.add_header("Authorization", f"Bearer {raw.token}")
    with urllib.request.urlopen(req, timeout=10, context=raw.ssl) as resp:  # noqa: S310
        assert any(i["metadata"]["name"] == "default" for i in json.loads(resp.read())["items"])
    req = urllib.request.Request(root + "/api/v1/namespaces")  # noqa: S310
    req.add_header("Authorization", "Bearer wrong")
    # without the kubeconfig's client certificate (which alone authenticates, as the union authenticator does)
    anonymous = ssl.create_default_context()
    anonymous.check_hostname, anonymous.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=10, context=anonymous)  # noqa: S310
    assert exc.value.code == 401
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "--kubeconfig", cluster_kubeconfig, "get", "--raw", "/api/v1/namespaces"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        assert json.loads(out)["kind"] == "NamespaceList"


_ = ssl  # the Raw helper's context is used for the unprefixed requests


def _pod(name: str, command=None) -> dict:
    container = {"name": "c", "image": "docker.io/library/busybox:latest"}
    if command:
        container["command"] = command
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}


def test_new_namespaces_get_the_default_service_account_and_the_root_ca(raw):
    _ns(raw, "fresh")
    cm = _eventually(lambda: (lambda r: r[1] if r[0] == 200 else None)(
        raw.request("GET", "/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt")), 10)
    assert cm and "BEGIN CERTIFICATE" in cm["data"]["ca.crt"]
    assert raw.request("GET", "/api/v1/namespaces/fresh/serviceaccounts/default")[0] == 200


def test_a_deleted_pod_terminates_through_its_grace_period(raw):
    """The kubelet stops a Pod: Terminating until its containers exit; `sleep` as PID 1 ignores SIGTERM
    and lasts the whole grace period, a program with a handler exits soon; gracePeriodSeconds=0 is at once."""
    _ns(raw, "grace")
    for name, command in (("sleeper", ["sleep", "600"]), ("server", None), ("forced", ["sleep", "600"])):
        assert raw.request("POST", "/api/v1/namespaces/grace/pods", _pod(name, command))[0] == 201
    status, body = raw.request("DELETE", "/api/v1/namespaces/grace/pods/sleeper", {"gracePeriodSeconds": 3})
    assert status == 200 and body["metadata"]["deletionGracePeriodSeconds"] == 3
    assert raw.request("DELETE", "/api/v1/namespaces/grace/pods/server")[0] == 200
    assert raw.request("DELETE", "/api/v1/namespaces/grace/pods/forced", {"gracePeriodSeconds": 0})[0] == 200
    assert raw.request("GET", "/api/v1/namespaces/grace/pods/forced")[0] == 404
    status, sleeper = raw.request("GET", "/api/v1/namespaces/grace/pods/sleeper")
    assert status == 200 and sleeper["metadata"]["deletionTimestamp"]  # still there, Terminating
    assert _eventually(lambda: raw.request("GET", "/api/v1/namespaces/grace/pods/server")[0] == 404, 15)
    assert _eventually(lambda: raw.request("GET", "/api/v1/namespaces/grace/pods/sleeper")[0] == 404, 20)
