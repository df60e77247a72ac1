"""What kube-controller-manager and the kubelet would do under a Deployment, with their timing.

A Deployment gets a ReplicaSet per pod template and the ReplicaSet its Pods (owner references,
so deleting the Deployment takes them along).  Pods take time: each image is pulled once per
cluster (the lab has one node per cluster) and each container takes a while to start, so a
Deployment is Available only once its Pods are Ready, and waits, readiness and restore times are
exercised as on ACK.  What a real cluster refuses, the lab refuses too:

- an image the lab's registry does not hold (``workloads.registry`` in the lab config) is never
  pulled: its Pod stays Pending with ``ErrImagePull`` then ``ImagePullBackOff``
  (https://kubernetes.io/docs/concepts/containers/images/#imagepullbackoff, the waiting reasons
  of https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-state-waiting);
- a Pod naming a ServiceAccount that does not exist is refused by the ServiceAccount admission
  plugin (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/
  #serviceaccount-admission-controller), so the ReplicaSet reports ``ReplicaFailure``/
  ``FailedCreate`` and a ``FailedCreate`` Warning event, and retries until it appears;
- a Deployment that makes no progress for ``progressDeadlineSeconds`` gets ``Progressing``
  False ``ProgressDeadlineExceeded``; a paused one ``Progressing`` Unknown ``DeploymentPaused``
  and no new rollout (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
  #deployment-status; the reason strings are the constants of kubernetes
  pkg/controller/deployment/util/deployment_util.go, the rules those of
  pkg/controller/deployment/progress.go and sync.go calculateStatus).

Rolling updates keep the old ReplicaSet's Pods until the new ones are Ready (availability holds
through a rollout); Recreate drops them first.  When another component owns a Deployment's status
(``set_external_status``), no timing applies: the first ``status.readyReplicas`` Pods are Ready.
Timelines live in the server's state (``kubelet``), so a restarted lab resumes them.
"""

from __future__ import annotations

import calendar
import fnmatch
import hashlib
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .fields import now_rfc3339
from .kinds import template_hash

if TYPE_CHECKING:
    from .server import KubeServer

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the suffix alphabet of generated names
MANAGER = "kube-controller-manager"
CREATE_RETRY = 2.0  # seconds between a ReplicaSet's attempts to create a refused Pod
# The image pulled for a reference naming no longer-existing images resolves in about this long.
MISSING_RESOLVE = 1.0

# Deployment condition reasons (kubernetes pkg/controller/deployment/util/deployment_util.go).
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
FAILED_CREATE = "FailedCreate"


# -- the lab's registry and timings -------------------------------------------------------
def normalise_image(ref: str) -> str:
    """``nginx`` -> ``docker.io/library/nginx:latest``, as containerd resolves a reference."""
    name, _, digest = ref.partition("@")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name if rest else 'library/' + name}"
    elif first == "docker.io" and "/" not in rest:
        name = f"docker.io/library/{rest}"
    if not digest and ":" not in name.rsplit("/", 1)[1]:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def _split(ref: str) -> tuple[str, str]:
    if "@" in ref:
        return ref.split("@", 1)[0], "@"
    repo, _, tag = ref.rpartition(":")
    return repo, tag


@dataclass
class WorkloadSettings:
    """The ``workloads`` section of the lab config (lab/drlab/config.py documents each key)."""

    pull_seconds: float = 4.0
    start_seconds: float = 2.0
    backoff_seconds: float = 10.0
    # Seconds a container takes to exit on SIGTERM (it has a handler); PID 1 without one ignores it.
    stop_seconds: float = 1.0
    registry: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_topology(cls, topology: dict[str, Any]) -> WorkloadSettings:
        section = topology.get("workloads") or {}
        return cls(pull_seconds=float(section.get("image_pull_seconds", cls.pull_seconds)),
                   start_seconds=float(section.get("container_start_seconds", cls.start_seconds)),
                   backoff_seconds=float(section.get("image_pull_backoff_seconds", cls.backoff_seconds)),
                   stop_seconds=float(section.get("container_stop_seconds", cls.stop_seconds)),
                   registry=list(section.get("registry") or []), images=list(section.get("images") or []))

    def exists(self, image: str) -> bool:
        """Whether the registry holds this (normalised) reference: repository and tag match a pattern.

        A digest reference matches any tag pattern of its repository (the lab cannot know digests).
        """
        repo, tag = _split(image)
        for pattern in self.registry:
            pat_repo, pat_tag = _split(normalise_image(pattern))
            if fnmatch.fnmatchcase(repo, pat_repo) and (tag == "@" or fnmatch.fnmatchcase(tag, pat_tag)):
                return True
        return False

    def _override(self, image: str, key: str, default: float) -> float:
        for entry in self.images:
            if fnmatch.fnmatchcase(image, normalise_image(str(entry.get("match", "")))) and key in entry:
                return float(entry[key])
        return default

    def pull(self, image: str) -> float:
        return self._override(image, "pull_seconds", self.pull_seconds)

    def start(self, image: str) -> float:
        return self._override(image, "start_seconds", self.start_seconds)


def _settings(server: KubeServer) -> WorkloadSettings:
    return server.settings.workloads


def _kubelet(server: KubeServer) -> dict[str, Any]:
    """The node's memory: image pull times and each Pod's timeline (persisted with the server)."""
    state = server.store.data.setdefault("kubelet", {})
    state.setdefault("images", {})
    state.setdefault("pods", {})
    return state


def _parse_time(stamp: str | None) -> float:
    try:
        return float(calendar.timegm(time.strptime(stamp or "", "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return 0.0


# -- helpers ------------------------------------------------------------------------------
def owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _event(server: KubeServer, obj: dict[str, Any], kind: str, reason: str, message: str,
           component: str) -> None:
    """A core/v1 Event as the controllers record them; a repeat bumps count and lastTimestamp."""
    ev_rt = server.lookup("", "v1", "events")
    meta = obj["metadata"]
    digest = hashlib.sha256("/".join((meta["uid"], reason, message)).encode()).hexdigest()[:12]
    name = f"{meta['name']}.{digest}"
    now = now_rfc3339()
    existing = server.get_or_none(ev_rt, meta["namespace"], name)
    if existing is not None:
        existing = dict(existing, count=int(existing.get("count") or 1) + 1, lastTimestamp=now)
        server.replace_object(ev_rt, meta["namespace"], name, existing, manager=component)
        return
    server.create_object(ev_rt, meta["namespace"], {
        "metadata": {"name": name},
        "involvedObject": {"kind": obj["kind"], "namespace": meta["namespace"], "name": meta["name"],
                           "uid": meta["uid"], "apiVersion": obj["apiVersion"],
                           "resourceVersion": meta.get("resourceVersion", "")},
        "reason": reason, "message": message, "type": kind, "count": 1,
        "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
        "reportingComponent": component, "reportingInstance": "",
    }, manager=component)


def _max_unavailable(spec: dict[str, Any], replicas: int) -> int:
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return int(replicas * int(value[:-1]) // 100)  # rounded down, as intstr.GetScaledValueFromIntOrPercent
    return int(value)


def _set_condition(conditions: list[dict[str, Any]], ctype: str, status: str, reason: str, message: str,
                   force: bool = False) -> list[dict[str, Any]]:
    """SetDeploymentCondition: same status and reason keep the old entry; otherwise replace and append."""
    current = next((c for c in conditions if c.get("type") == ctype), None)
    if current and current.get("status") == status and current.get("reason") == reason and not force:
        return conditions
    now = now_rfc3339()
    new = {"type": ctype, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message}
    if current and current.get("status") == status:
        new["lastTransitionTime"] = current.get("lastTransitionTime", now)
    return [c for c in conditions if c.get("type") != ctype] + [new]


def _condition(conditions: list[dict[str, Any]], ctype: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


# -- deployment controller ----------------------------------------------------------------
_busy: set[tuple[str, str, str]] = set()


def reconcile_deployment(server: KubeServer, dep: dict[str, Any]) -> None:
    """Bring the Deployment's ReplicaSets, Pods and status to what they are now; schedule the next step."""
    meta = dep["metadata"]
    key = (server.id, meta["namespace"], meta["name"])
    if key in _busy:  # our own status write re-enters through the server's controllers hook
        return
    _busy.add(key)
    try:
        due = _reconcile(server, meta["namespace"], meta["name"])
    finally:
        _busy.discard(key)
    server.settings.schedule_workload(key, due)


def _reconcile(server: KubeServer, namespace: str, name: str) -> float | None:
    dep_rt = server.lookup("apps", "v1", "deployments")
    rs_rt = server.lookup("apps", "v1", "replicasets")
    dep = server.get_or_none(dep_rt, namespace, name)
    if dep is None or dep["metadata"].get("deletionTimestamp"):
        return None
    meta = dep["metadata"]
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    digest = template_hash(dep)
    rs_name = f"{meta['name']}-{digest}"
    replicas = int(spec.get("replicas", 1))
    paused = bool(spec.get("paused"))
    auto = server.auto_status(dep)
    external_ready = min(replicas, (dep.get("status") or {}).get("readyReplicas") or 0)
    owned = [rs for rs in server.list_objects(rs_rt, namespace, shallow=True) if owned_by(rs, meta["uid"])]
    current = next((rs for rs in owned if rs["metadata"]["name"] == rs_name), None)
    old_rs = sorted((rs for rs in owned if rs is not current), key=_revision, reverse=True)
    conditions = list((dep.get("status") or {}).get("conditions") or [])
    created = False
    if current is None and not paused:  # a paused Deployment rolls nothing out (sync.go: no new RS)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), "pod-template-hash": digest}
        selector = dict(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), "pod-template-hash": digest}
        revision = 1 + max([_revision(rs) for rs in owned] or [0])
        current = server.create_object(rs_rt, namespace, {
            "metadata": {"name": rs_name, "labels": labels, "ownerReferences": [owner_ref(dep)],
                         "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                         "deployment.kubernetes.io/desired-replicas": str(replicas)}},
            "spec": {"replicas": replicas, "selector": selector,
                     "template": {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}}},
        }, manager=MANAGER)
        created = True
    dues: list[float] = []
    new_count = new_ready = 0
    failure = None
    if current is not None:
        new_count, new_ready, due, failure = _scale(server, current, replicas, auto, external_ready)
        dues += [due] if due else []
    # Old ReplicaSets keep serving until the new Pods are Ready (RollingUpdate), or go at once (Recreate).
    if current is None:  # paused before its new template rolled out: the old ReplicaSets stay as they are
        keep = sum(int((rs.get("spec") or {}).get("replicas") or 0) for rs in old_rs)
    elif (spec.get("strategy") or {}).get("type") == "Recreate":
        keep = 0
    else:
        keep = max(0, replicas - new_ready)
    old_count = old_ready = old_desired = 0
    for rs in old_rs:
        target = min(int((rs.get("spec") or {}).get("replicas") or 0), keep)
        keep -= target
        count, ready, due, _ = _scale(server, rs, target, auto, 0 if not auto else None)
        old_count, old_ready, old_desired = old_count + count, old_ready + ready, old_desired + target
        dues += [due] if due else []
    if not auto:
        return min(dues) if dues else None
    # -- status, as sync.go calculateStatus and progress.go syncRolloutStatus compute it --------
    old = dep.get("status") or {}
    available = new_ready + old_ready
    counts = {"replicas": new_count + old_count, "updatedReplicas": new_count,
              "readyReplicas": available, "availableReplicas": available,
              "unavailableReplicas": max(0, (replicas if current is not None else 0) + old_desired - available)}
    status: dict[str, Any] = {k: v for k, v in counts.items() if v}
    status["observedGeneration"] = meta.get("generation", 1)
    label = f'ReplicaSet "{rs_name}"'
    if created:
        conditions = _set_condition(conditions, "Progressing", "True", NEW_RS_CREATED,
                                    f'Created new replica set "{rs_name}"')
    elif current is not None and _condition(conditions, "Progressing") is None:
        conditions = _set_condition(conditions, "Progressing", "True", FOUND_NEW_RS,
                                    f'Found new replica set "{rs_name}"')
    if available >= replicas - _max_unavailable(spec, replicas):
        conditions = _set_condition(conditions, "Available", "True", MIN_AVAILABLE,
                                    "Deployment has minimum availability.")
    else:
        conditions = _set_condition(conditions, "Available", "False", MIN_UNAVAILABLE,
                                    "Deployment does not have minimum availability.")
    progressing = _condition(conditions, "Progressing")
    if paused:
        if not progressing or progressing.get("reason") != PAUSED:
            conditions = _set_condition(conditions, "Progressing", "Unknown", PAUSED, "Deployment is paused")
    else:
        if progressing and progressing.get("reason") == PAUSED:
            conditions = _set_condition(conditions, "Progressing", "Unknown", RESUMED, "Deployment is resumed")
        conditions, deadline = _rollout(conditions, spec, replicas, status, old, label)
        dues += [deadline] if deadline else []
    if failure:
        conditions = _set_condition(conditions, "ReplicaFailure", "True", FAILED_CREATE, failure)
    else:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    status["conditions"] = conditions
    if old != status:
        server.patch_status("apps/v1", "Deployment", namespace, name, {**{k: None for k in old}, **status},
                            manager=MANAGER)
    return min(dues) if dues else None


def _rollout(conditions: list[dict[str, Any]], spec: dict[str, Any], replicas: int, status: dict[str, Any],
             old: dict[str, Any], label: str) -> tuple[list[dict[str, Any]], float | None]:
    """progress.go syncRolloutStatus: complete, progressing, or timed out after progressDeadlineSeconds."""
    current = _condition(conditions, "Progressing")
    if status.get("replicas", 0) == status.get("updatedReplicas", 0) and current and \
            current.get("reason") == NEW_RS_AVAILABLE:
        return conditions, None
    complete = (status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
                and status.get("availableReplicas", 0) == replicas)
    moved = (status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
             or status.get("replicas", 0) - status.get("updatedReplicas", 0)
             < old.get("replicas", 0) - old.get("updatedReplicas", 0)
             or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
             or status.get("availableReplicas", 0) > old.get("availableReplicas", 0))
    deadline_seconds = int(spec.get("progressDeadlineSeconds", 600))
    if complete:
        return _set_condition(conditions, "Progressing", "True", NEW_RS_AVAILABLE,
                              f"{label} has successfully progressed."), None
    if moved:
        return _set_condition(conditions, "Progressing", "True", RS_UPDATED, f"{label} is progressing.",
                              force=True), time.time() + deadline_seconds + 1
    if current is None or current.get("reason") == TIMED_OUT:
        return conditions, None
    since = _parse_time(current.get("lastUpdateTime"))
    if time.time() > since + deadline_seconds:
        return _set_condition(conditions, "Progressing", "False", TIMED_OUT,
                              f"{label} has timed out progressing."), None
    return conditions, since + deadline_seconds + 1  # lastUpdateTime has one-second resolution


def _revision(rs: dict[str, Any]) -> int:
    return int((rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))


# -- replicaset controller and kubelet ---------------------------------------------------------
def _missing_service_account(server: KubeServer, namespace: str, template: dict[str, Any]) -> str | None:
    spec = template.get("spec") or {}
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    # The serviceaccount controller creates "default" in every namespace within moments.
    if account == "default":
        return None
    if server.get_or_none(server.lookup("", "v1", "serviceaccounts"), namespace, account) is not None:
        return None
    return account


def _scale(server: KubeServer, rs: dict[str, Any], replicas: int, auto: bool,
           external_ready: int | None) -> tuple[int, int, float | None, str | None]:
    """Scale a ReplicaSet's Pods and bring their status to now: (pods, ready, next due time, failure)."""
    rs_rt = server.lookup("apps", "v1", "replicasets")
    pod_rt = server.lookup("", "v1", "pods")
    meta = rs["metadata"]
    namespace = meta["namespace"]
    if (rs.get("spec") or {}).get("replicas") != replicas:
        rs = dict(rs, spec=dict(rs["spec"], replicas=replicas))
        rs = server.replace_object(rs_rt, namespace, meta["name"], rs, manager=MANAGER)
    kubelet = _kubelet(server)
    pods = [p for p in server.list_objects(pod_rt, namespace, shallow=True)
            if owned_by(p, meta["uid"]) and not p["metadata"].get("deletionTimestamp")]
    # Surplus Pods go not-Ready first, then the newest (controller.ActivePods ordering, simplified).
    pods.sort(key=lambda p: (not _is_ready(p.get("status") or {}),
                             p["metadata"]["creationTimestamp"] + p["metadata"]["name"]))
    for extra in pods[replicas:]:
        kubelet["pods"].pop(extra["metadata"]["uid"], None)
        server.delete_object(pod_rt, namespace, extra["metadata"]["name"])
    pods = pods[:replicas]
    template = (rs.get("spec") or {}).get("template") or {}
    failure = None
    dues: list[float] = []
    if len(pods) < replicas:
        account = _missing_service_account(server, namespace, template)
        if account is not None:
            failure = (f'pods "{meta["name"]}-" is forbidden: error looking up service account '
                       f'{namespace}/{account}: serviceaccount "{account}" not found')
            _event(server, rs, "Warning", FAILED_CREATE, f"Error creating: {failure}", "replicaset-controller")
            dues.append(time.time() + CREATE_RETRY)
    while failure is None and len(pods) < replicas:
        suffix = "".join(secrets.choice(ALPHABET) for _ in range(5))
        pod_name = f"{meta['name']}-{suffix}"
        if server.get_or_none(pod_rt, namespace, pod_name) is not None:
            continue
        pod = server.create_object(pod_rt, namespace, {
            "metadata": {"name": pod_name, "generateName": f"{meta['name']}-",
                         "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                         "ownerReferences": [owner_ref(rs)]},
            "spec": {**(template.get("spec") or {}), "nodeName": f"drlab-node-{server.id[:8]}"},
        }, manager=MANAGER)
        if auto:
            kubelet["pods"][pod["metadata"]["uid"]] = _timeline(server, pod)
        pods.append(pod)
    ready = 0
    for index, pod in enumerate(pods):
        if auto:
            is_ready, due = _kubelet_status(server, pod)
            dues += [due] if due else []
        else:
            is_ready = index < (external_ready or 0)
            _pod_status(server, pod, is_ready)
        ready += int(is_ready)
    counts = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
              "availableReplicas": ready}
    # Zero counts are omitted, except replicas, which ReplicaSetStatus always carries.
    status: dict[str, Any] = {k: v for k, v in counts.items() if v or k == "replicas"}
    status["observedGeneration"] = rs["metadata"].get("generation", 1)
    old = rs.get("status") or {}
    if failure:  # replica_set_utils.go calculateStatus: ReplicaFailure with the create error
        before = next((c for c in old.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
        status["conditions"] = [before or {"type": "ReplicaFailure", "status": "True", "reason": FAILED_CREATE,
                                           "message": failure, "lastTransitionTime": now_rfc3339()}]
    if old != status:
        server.patch_status("apps/v1", "ReplicaSet", namespace, meta["name"],
                            {**{k: None for k in old}, **status}, manager=MANAGER)
    return len(pods), ready, (min(dues) if dues else None), failure


def _timeline(server: KubeServer, pod: dict[str, Any]) -> dict[str, Any]:
    """When this Pod's images are pulled (serially, as the kubelet does by default) and it is Ready."""
    settings = _settings(server)
    images = _kubelet(server)["images"]
    now = time.time()
    at = now
    spec = pod.get("spec") or {}
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    start = 0.0
    for container in containers:
        image = normalise_image(str(container.get("image") or ""))
        if not settings.exists(image):
            return {"created": now, "failed": container.get("image") or "", "container": container.get("name"),
                    "fail_at": at + min(MISSING_RESOLVE, settings.pull(image))}
        pulled = images.get(image)
        if pulled is not None and container.get("imagePullPolicy") != "Always":
            at = max(at, pulled)  # present on the node, or being pulled for another Pod
        else:
            at += settings.pull(image)
            images[image] = at
        start = max(start, settings.start(image))
    return {"created": now, "ready_at": at + start}


def _kubelet_status(server: KubeServer, pod: dict[str, Any]) -> tuple[bool, float | None]:
    """Write the Pod's status for now from its timeline; (ready, next transition time)."""
    settings = _settings(server)
    record = _kubelet(server)["pods"].get(pod["metadata"]["uid"])
    now = time.time()
    if record is None:  # a Pod from before timelines existed: it has been up for long
        _pod_status(server, pod, True)
        return True, None
    if "failed" in record:
        fail_at = record["fail_at"]
        backoff_at = fail_at + settings.backoff_seconds
        if now < fail_at:
            _pending(server, pod, None, record)
            return False, fail_at
        reason = "ErrImagePull" if now < backoff_at else "ImagePullBackOff"
        _pending(server, pod, reason, record)
        return False, backoff_at if now < backoff_at else None
    if now < record["ready_at"]:
        _pending(server, pod, None, record)
        return False, record["ready_at"]
    _pod_status(server, pod, True)
    return True, None


def _pending(server: KubeServer, pod: dict[str, Any], reason: str | None, record: dict[str, Any]) -> None:
    """Pending: containers being created, or an image that cannot be pulled."""
    old = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    waiting = {c.get("name"): {"reason": "ContainerCreating"} for c in containers}
    if reason:
        image = record["failed"]
        ref = normalise_image(image)
        message = (f'Back-off pulling image "{image}"' if reason == "ImagePullBackOff" else
                   f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to '
                   f'resolve reference "{ref}": {ref}: not found')
        waiting[record["container"]] = {"reason": reason, "message": message}
    current = [((s.get("state") or {}).get("waiting") or {}).get("reason") for s in old.get("containerStatuses") or []]
    if old.get("phase") == "Pending" and current == [waiting.get(c.get("name"), {}).get("reason")
                                                     for c in containers]:
        return
    if reason == "ErrImagePull":
        _event(server, pod, "Warning", "Failed", f'Failed to pull image "{record["failed"]}": {message}', "kubelet")
    elif reason == "ImagePullBackOff":
        _event(server, pod, "Normal", "BackOff", message, "kubelet")
    now = now_rfc3339()
    started = old.get("startTime") or now
    names = ", ".join(c.get("name") or "" for c in containers)
    status = {
        "phase": "Pending",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
            {"type": "Ready", "status": "False", "lastTransitionTime": started, "reason": "ContainersNotReady",
             "message": f"containers with unready status: [{names}]"},
            {"type": "ContainersReady", "status": "False", "lastTransitionTime": started,
             "reason": "ContainersNotReady", "message": f"containers with unready status: [{names}]"},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
        ],
        "hostIP": "10.0.0.10", "startTime": started, "qosClass": "BestEffort",
        "containerStatuses": [
            {"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": False, "started": False,
             "restartCount": 0, "state": {"waiting": waiting[c.get("name")]}} for c in containers
        ],
    }
    server.patch_status("v1", "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"],
                        {**{k: None for k in old}, **status}, manager="kubelet")


def _pod_status(server: KubeServer, pod: dict[str, Any], ready: bool) -> None:
    old = pod.get("status") or {}
    if old.get("phase") == "Running" and _is_ready(old) == ready:
        return
    now = now_rfc3339()
    started = old.get("startTime") or now
    flag = "True" if ready else "False"
    ip = old.get("podIP") or server.allocate("podIP")
    containers = (pod.get("spec") or {}).get("containers") or []
    status = {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
        ],
        "hostIP": "10.0.0.10", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": started, "qosClass": "BestEffort",
        "containerStatuses": [
            {"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": ready, "started": True,
             "restartCount": 0, "state": {"running": {"startedAt": now}}} for c in containers
        ],
    }
    server.patch_status("v1", "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"],
                        {**{k: None for k in old}, **status}, manager="kubelet")


def _is_ready(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def forget_dead_pods(server: KubeServer) -> None:
    """Drop timelines of Pods that no longer exist (deleted with their owners)."""
    pod_rt = server.lookup("", "v1", "pods")
    live = {p["metadata"]["uid"] for p in server.list_objects(pod_rt, None, shallow=True)}
    pods = _kubelet(server)["pods"]
    for uid in [u for u in pods if u not in live]:
        del pods[uid]


# -- endpoints controller -------------------------------------------------------------------
def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:  # a named container port
        for container_port in container.get("ports") or []:
            if container_port.get("name") == target:
                return container_port.get("containerPort")
    return None


def reconcile_endpoints(server: KubeServer, service: dict[str, Any]) -> None:
    """Endpoints of a Service with a selector: its Pods' IPs, ready ones apart from the others."""
    meta = service["metadata"]
    namespace = meta["namespace"]
    ep_rt = server.lookup("", "v1", "endpoints")
    pod_rt = server.lookup("", "v1", "pods")
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector or server.namespace_terminating(namespace):
        return
    pods = [p for p in server.list_objects(pod_rt, namespace, shallow=True)
            if _selects(selector, p["metadata"].get("labels") or {}) and (p.get("status") or {}).get("podIP")
            and not p["metadata"].get("deletionTimestamp")]
    ready, not_ready = [], []
    for pod in sorted(pods, key=lambda p: p["status"]["podIP"]):
        address = {"ip": pod["status"]["podIP"], "nodeName": (pod.get("spec") or {}).get("nodeName", ""),
                   "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                                 "uid": pod["metadata"]["uid"]}}
        (ready if _is_ready(pod.get("status") or {}) else not_ready).append(address)
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints",
                            "metadata": {"name": meta["name"], "namespace": namespace,
                                         "labels": dict(meta.get("labels") or {})}}
    if pods:
        ports = []
        for port in (service.get("spec") or {}).get("ports") or []:
            number = _target_port(port, pods[0])
            if number:
                entry = {"port": number, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
        subset: dict[str, Any] = {"ports": ports}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        body["subsets"] = [subset]
    existing = server.get_or_none(ep_rt, namespace, meta["name"])
    if existing is None:
        server.create_object(ep_rt, namespace, body, manager="kube-controller-manager")
    elif existing.get("subsets") != body.get("subsets") or existing["metadata"].get("labels") != body[
            "metadata"]["labels"]:
        existing = dict(existing, metadata=dict(existing["metadata"], labels=body["metadata"]["labels"]))
        existing.pop("subsets", None)
        if "subsets" in body:
            existing["subsets"] = body["subsets"]
        server.replace_object(ep_rt, namespace, meta["name"], existing, manager="kube-controller-manager")


def pod_changed(server: KubeServer, pod: dict[str, Any]) -> None:
    """A Pod came, went or changed readiness: refresh the Endpoints of the Services selecting it.

    A Pod deleted from under its ReplicaSet is replaced (the ReplicaSet's owner is reconciled soon).
    """
    namespace = pod["metadata"]["namespace"]
    if server.get_or_none(server.lookup("", "v1", "pods"), namespace, pod["metadata"]["name"]) is None:
        _kubelet(server)["pods"].pop(pod["metadata"]["uid"], None)
        rs_rt = server.lookup("apps", "v1", "replicasets")
        for ref in pod["metadata"].get("ownerReferences") or []:
            rs = server.get_or_none(rs_rt, namespace, ref.get("name", "")) if ref.get("kind") == "ReplicaSet" else None
            for owner in ((rs or {}).get("metadata") or {}).get("ownerReferences") or []:
                if owner.get("kind") == "Deployment":
                    server.settings.schedule_workload((server.id, namespace, owner["name"]), time.time())
    svc_rt = server.lookup("", "v1", "services")
    for service in server.list_objects(svc_rt, namespace, shallow=True):
        if _selects((service.get("spec") or {}).get("selector") or {}, pod["metadata"].get("labels") or {}):
            reconcile_endpoints(server, service)


# Programs that, as a container's PID 1, have no SIGTERM handler: the kernel does not apply a signal's
# default action to a PID namespace's init (pid_namespaces(7)), so SIGTERM does nothing and the kubelet
# kills them with SIGKILL when the grace period ends.
_NO_SIGTERM_HANDLER = {"sleep", "sh", "bash", "ash", "tail", "cat"}


def termination_seconds(settings: WorkloadSettings | None, pod: dict[str, Any], grace: float) -> float:
    """How long the kubelet takes to stop a Pod given ``grace`` seconds (terminationGracePeriodSeconds
    or the delete's gracePeriodSeconds): the whole grace when a container ignores SIGTERM, else the
    time its containers take to exit (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
    #pod-termination)."""
    for container in ((pod.get("spec") or {}).get("containers") or []):
        command = list(container.get("command") or [])
        if command and os.path.basename(str(command[0])) in _NO_SIGTERM_HANDLER:
            return grace
    stop = settings.stop_seconds if settings is not None else WorkloadSettings.stop_seconds
    return min(grace, stop)
