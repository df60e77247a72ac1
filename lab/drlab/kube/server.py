"""One Kubernetes API server's storage and semantics (no HTTP here).

Every mutation runs synchronously on the lab's single asyncio loop: read,
compute, save to disk, notify.  No ``await`` happens inside a mutation, so
concurrent requests can never interleave half-way, and the state file is
written before the reply leaves, so ``kill -9`` loses nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from ..store import JsonStore, write_atomic
from . import calls, controllers, kinds, lifecycle, schemas, standard, workloads
from .crds import mesh_crds
from .errors import ApiError, already_exists, bad_request, conflict, invalid, not_found
from .fields import now_rfc3339, record_update, server_side_apply
from .patch import json_patch, merge_patch, strategic_merge
from .resources import BUILTIN_GROUP_VERSIONS, BUILTINS, ResourceType, crd_preferred_versions, resource_types_from_crd
from .selectors import parse_field_selector, parse_label_selector

if TYPE_CHECKING:
    from .settings import KubeSettings

log = logging.getLogger("drlab.kube")

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
NS_KEY = "/namespaces"
HISTORY = 4000  # watch events kept for resuming watches (the real watch cache keeps ~5 min)
PROTECTED_NAMESPACES = {"default", "kube-system", "kube-public"}
INITIAL_NAMESPACES = {"cluster": ["default", "kube-system", "kube-public", "istio-system"],
                      "mesh": ["istio-system", "default"]}
DEFAULT_MANAGER = "drlab"
# Kinds whose registry answers DELETE with the deleted object instead of a Status (ReturnDeletedObject).
RETURN_DELETED = {"Pod", "Service", "ServiceAccount"}
NAMESPACE_FINALIZE_DELAY = 1.0  # seconds a deleted namespace stays Terminating (the real controller takes seconds)

Callback = Callable[[str, dict[str, Any]], None]


def clone(obj: Any) -> Any:
    """Deep copy of JSON data; a JSON round trip runs in C, several times faster than copy.deepcopy."""
    return json.loads(json.dumps(obj))


class KubeStore(JsonStore):
    """JsonStore written compactly: the C JSON encoder is ~10x faster than the indented one, and
    every write saves the whole server synchronously (kill -9 must lose nothing acknowledged)."""

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, separators=(",", ":")))


class Watcher:
    def __init__(self, rt: ResourceType, namespace: str | None, labels, fields):
        self.rt = rt
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: asyncio.Queue = asyncio.Queue()

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels(meta.get("labels") or {}) and self.fields(obj)


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """What metadata.generation tracks: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _refuse_create_rv(rv: Any) -> None:
    """k8s.io/apiserver storage (etcd3 store Create): a set, parseable, non-zero resourceVersion is refused
    with a 500 carrying this message (kubernetes/kubernetes#62836 kept the refusal on purpose)."""
    try:
        number = int(rv or 0)
    except (TypeError, ValueError):
        return  # unparseable versions are ignored by the versioner (kubernetes/kubernetes#113847)
    if number:
        raise ApiError(500, "", "resourceVersion should not be set on objects to be created")


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def strip(obj):
        obj = {k: v for k, v in obj.items() if k not in ("apiVersion",)}
        meta = dict(obj.get("metadata") or {})
        meta.pop("resourceVersion", None)
        obj["metadata"] = meta
        return obj

    return strip(old) == strip(new)


class KubeServer:
    """The objects of one cluster or mesh API, with the in-process API of lab/README.md."""

    def __init__(self, settings: KubeSettings, server_id: str, kind: str, path: str,
                 registry: dict[str, KubeServer] | None = None):
        self.settings = settings
        # the component's live servers (a removed server stops finalizing); alone, a server is its own
        self.registry = registry if registry is not None else {server_id: self}
        self.id = server_id
        self.store = KubeStore(path)
        fresh = not self.store.data
        if fresh:
            self.store.data = {"id": server_id, "kind": kind, "token": secrets.token_urlsafe(32), "rv": 0,
                               "objects": {}, "counters": {}, "external_status": []}
        self.kind: str = self.store.data["kind"]
        self.watchers: list[Watcher] = []
        self.subscribers: list[Callback] = []
        self.history: deque = deque(maxlen=HISTORY)
        self.history_floor = self.store.data["rv"]  # events after this RV are in history
        self._types: list[ResourceType] | None = None
        self.gc = lifecycle.GarbageCollector(self)
        self.snapshots = lifecycle.ListSnapshots()
        if fresh:
            self._seed()

    # -- identity -------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.store.data["token"]

    @property
    def prefix(self) -> str:
        return f"/{'clusters' if self.kind == 'cluster' else 'meshes'}/{self.id}"

    @property
    def url(self) -> str:
        return self.settings.base_url + self.prefix

    @property
    def rv(self) -> int:
        return self.store.data["rv"]

    def _seed(self) -> None:
        ns_rt = self.lookup("", "v1", "namespaces")
        for name in INITIAL_NAMESPACES[self.kind]:
            self.create_object(ns_rt, None, {"metadata": {"name": name}}, manager="drlab-bootstrap")
        if self.kind == "cluster":
            # The apiserver's own Service, which every cluster has in "default".
            self.create_object(self.lookup("", "v1", "services"), "default", {
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]},
            }, manager="drlab-bootstrap")
        if self.kind == "mesh":
            crd_rt = self.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            for crd in mesh_crds():
                self.create_object(crd_rt, None, crd, manager="drlab-bootstrap")
        controllers.ensure_node(self)
        self._save()

    # -- what is served --------------------------------------------------------------
    def types(self) -> list[ResourceType]:
        if self._types is None:
            types = list(BUILTINS)
            for crd in self._bucket(CRD_KEY).values():
                if not (crd.get("metadata") or {}).get("deletionTimestamp"):
                    types.extend(resource_types_from_crd(crd))
            self._types = types
        return self._types

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> served versions, preferred first."""
        groups: dict[str, list[str]] = {g: list(v) for g, v in BUILTIN_GROUP_VERSIONS.items()}
        for crd in self._bucket(CRD_KEY).values():
            group = (crd.get("spec") or {}).get("group", "")
            for version in crd_preferred_versions(crd):
                if version not in groups.setdefault(group, []):
                    groups[group].append(version)
        return groups

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self.types():
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def lookup_kind(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        for rt in self.types():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')

    # -- storage ------------------------------------------------------------------------
    def _bucket(self, key: str) -> dict[str, dict[str, Any]]:
        return self.store.data["objects"].setdefault(key, {})

    @staticmethod
    def _oid(namespace: str | None, name: str) -> str:
        return f"{namespace or ''}/{name}"

    def _stored(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._bucket(rt.key).get(self._oid(namespace if rt.namespaced else None, name))

    @staticmethod
    def render(rt: ResourceType, obj: dict[str, Any], shallow: bool = False) -> dict[str, Any]:
        """The object as served for rt's version; shallow copies are for immediate serialisation only."""
        out = dict(obj) if shallow else clone(obj)
        if shallow and rt.builtin and rt.group == "autoscaling":
            out = clone(obj)  # conversion edits nested fields
        out["apiVersion"] = rt.api_version
        out["kind"] = rt.kind
        return kinds.from_storage(rt, out)

    def allocate(self, what: str) -> Any:
        counters = self.store.data.setdefault("counters", {})
        counters[what] = counters.get(what, 0) + 1
        n = counters[what]
        if what == "clusterIP":
            return f"10.96.{(n // 250) % 250}.{n % 250 + 2}"
        if what == "podIP":
            return f"10.244.{(n // 250) % 250}.{n % 250 + 2}"
        return 30000 + n % 2768

    def namespace_exists(self, namespace: str) -> bool:
        return self._oid(None, namespace) in self._bucket(NS_KEY)

    def namespace_terminating(self, namespace: str) -> bool:
        ns = self._bucket(NS_KEY).get(self._oid(None, namespace))
        return ns is None or bool(ns["metadata"].get("deletionTimestamp"))

    # -- reads ----------------------------------------------------------------------------
    def get_object(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._stored(rt, namespace, name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return self.render(rt, obj)

    def get_or_none(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        obj = self._stored(rt, namespace, name)
        return self.render(rt, obj) if obj is not None else None

    def list_objects(self, rt: ResourceType, namespace: str | None, label_selector: str | None = None,
                     field_selector: str | None = None, shallow: bool = False) -> list[dict[str, Any]]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, rt.kind)
        items = []
        for oid in sorted(self._bucket(rt.key)):
            obj = self._bucket(rt.key)[oid]
            meta = obj["metadata"]
            if namespace is not None and rt.namespaced and meta.get("namespace") != namespace:
                continue
            if labels(meta.get("labels") or {}) and fields(obj):
                items.append(self.render(rt, obj, shallow))
        return items

    # -- writes -----------------------------------------------------------------------------
    def _check_body(self, rt: ResourceType, namespace: str | None, body: Any) -> dict[str, Any]:
        kinds.check_shape(rt, body)
        obj = clone(body)
        if obj.get("kind") not in (None, "", rt.kind) or obj.get("apiVersion") not in (None, "", rt.api_version):
            raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                              f"API version ({rt.api_version})" if obj.get("kind") in (None, rt.kind) else
                              f"{obj.get('kind')} in version \"{rt.version}\" cannot be handled as a {rt.kind}")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        obj = schemas.decode(self, rt, obj)  # prune unknown fields; fieldValidation (drlab.kube.schemas)
        return kinds.to_storage(rt, obj)

    def create_object(self, rt: ResourceType, namespace: str | None, body: Any, *, dry_run: bool = False,
                      manager: str = DEFAULT_MANAGER, applied: bool = False,
                      client: bool = False) -> dict[str, Any]:
        """client: a request from outside the lab, held to every rule the apiserver enforces."""
        obj = self._check_body(rt, namespace, body)
        meta = obj["metadata"]
        if client:
            _refuse_create_rv(meta.get("resourceVersion"))
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if rt.namespaced and not self.namespace_exists(meta["namespace"]):
            raise not_found("namespaces", "", meta["namespace"])
        if rt.namespaced and (self._stored(NS_RT, None, meta["namespace"]) or {}).get("metadata", {}).get(
                "deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{rt.plural} "{meta.get("name")}" is forbidden: unable to create new '
                                             f'content in namespace {meta["namespace"]} because it is being terminated')
        if meta.get("name") and self._stored(rt, meta.get("namespace"), meta["name"]) is not None:
            raise already_exists(rt.plural, rt.group, meta["name"])
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(key, None)
        if not applied:
            meta.pop("managedFields", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        if rt.status:
            obj.pop("status", None)  # status is written through its subresource only
        return self._finish(rt, None, obj, dry_run=dry_run, manager=manager, skip_managed=applied)

    def _finish(self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any], *, dry_run: bool,
                manager: str, subresource: str | None = None, skip_managed: bool = False) -> dict[str, Any]:
        """Default, validate, track generation/status/managed fields, then store and notify."""
        if old is not None:
            meta = new.setdefault("metadata", {})
            for key in ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp",
                        "deletionGracePeriodSeconds"):
                if key in old["metadata"]:
                    meta[key] = old["metadata"][key]
                else:
                    meta.pop(key, None)
            meta["generation"] = old["metadata"].get("generation", 1)
            if subresource == "status":
                status = new.get("status")
                new = clone(old)
                if status is None:
                    new.pop("status", None)
                else:
                    new["status"] = status
            elif rt.status:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
        kinds.apply_defaults(rt, new, old, self.allocate)
        kinds.validate(rt, new, old)
        schemas.admit(self, rt, new, old)  # CRD schemas, then validating webhooks (drlab.kube.schemas)
        if old is not None:
            lifecycle.check_finalizers(rt, old, new)
        if old is not None and _content(old) != _content(new):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        if rt.builtin and rt.kind == "CustomResourceDefinition":
            kinds.crd_status(new, old)
        # [workloads] With simulated Pods the deployment controller (workloads.py) writes status as Pods get Ready.
        if rt.builtin and rt.kind == "Deployment" and subresource != "status" and self.auto_status(new) \
                and not self.settings.simulate_pods:
            new["status"] = kinds.deployment_status(new, (old or {}).get("status"))
        if rt.builtin and rt.kind in ("StatefulSet", "DaemonSet", "Job") and subresource != "status" \
                and self.settings.auto_deployment_status and _content(old or {}) != _content(new):
            new["status"] = standard.workload_status(rt.kind, new, controllers.node_labels(self))
        if not skip_managed:
            record_update(old, new, manager, rt.api_version, rt.builtin, subresource)
        if old is not None and _same(old, new):
            return self.render(rt, old)  # a no-op write: no new resourceVersion, no event
        meta = new["metadata"]
        if old is not None and meta.get("deletionTimestamp") and not meta.get("finalizers") \
                and rt.key != NS_KEY and not meta.get("deletionGracePeriodSeconds"):
            return self._remove(rt, new, dry_run=dry_run)
        if dry_run:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"] if old else str(self.rv)
            return self.render(rt, new)
        self.store.data["rv"] += 1
        meta["resourceVersion"] = str(self.rv)
        self._bucket(rt.key)[self._oid(meta.get("namespace"), meta["name"])] = new
        if rt.key == CRD_KEY:
            self._types = None
        self._save()
        self._emit(rt, "ADDED" if old is None else "MODIFIED", new, old)
        self._controllers(rt, new)
        controllers.record(self, rt, old, new)
        if rt.key == NS_KEY and meta.get("deletionTimestamp"):
            self._schedule_namespace_cleanup(meta["name"])
        elif meta.get("deletionTimestamp"):
            self.gc.schedule()
        return self.render(rt, new)

    def _controllers(self, rt: ResourceType, obj: dict[str, Any], deleted: bool = False) -> None:
        """Run what kube-controller-manager would after this write (ReplicaSets, Pods, Endpoints)."""
        try:
            controllers.reconcile_pods(self, rt, obj, deleted)
            if rt.key == NS_KEY and not deleted:
                controllers.namespace_defaults(self, obj)
        except Exception:  # noqa: BLE001 - the write itself succeeded and is saved
            log.exception("pod controller failed after a %s write", rt.kind)
        if not rt.builtin or rt.kind not in ("Deployment", "Service", "Pod"):
            return
        try:
            if rt.kind == "Deployment" and self.settings.simulate_pods and not deleted:
                workloads.reconcile_deployment(self, self.render(rt, obj))
                controllers.deployment_revision(self, self.render(rt, obj))
            elif rt.kind == "Service" and not deleted:
                workloads.reconcile_endpoints(self, self.render(rt, obj))
            elif rt.kind == "Service":
                ep_rt = self.lookup("", "v1", "endpoints")
                endpoints = self._stored(ep_rt, obj["metadata"]["namespace"], obj["metadata"]["name"])
                if endpoints is not None and not self.namespace_terminating(obj["metadata"]["namespace"]):
                    self._drop(ep_rt, endpoints)
            elif rt.kind == "Pod":
                workloads.pod_changed(self, self.render(rt, obj))
        except Exception:  # noqa: BLE001 - the write itself succeeded and is saved
            log.exception("controller reconcile failed after a %s write", rt.kind)

    def auto_status(self, deployment: dict[str, Any]) -> bool:
        meta = deployment["metadata"]
        if f"{meta.get('namespace')}/{meta['name']}" in self.store.data.get("external_status", []):
            return False
        return self.settings.auto_deployment_status

    def replace_object(self, rt: ResourceType, namespace: str | None, name: str, body: Any, *,
                       dry_run: bool = False, manager: str = DEFAULT_MANAGER,
                       subresource: str | None = None, client: bool = False) -> dict[str, Any]:
        obj = self._check_body(rt, namespace, body)
        if client and not obj["metadata"].get("resourceVersion") and not rt.unconditional_update \
                and subresource is None:
            # The custom resource and CRD strategies refuse unconditional updates (AllowUnconditionalUpdate false).
            raise invalid(rt.kind, rt.group, name, [("FieldValueInvalid", "metadata.resourceVersion",
                                                     "Invalid value: 0x0: must be specified for an update")])
        if obj["metadata"].get("name") not in (None, name):
            raise bad_request(f"the name of the object ({obj['metadata'].get('name')}) does not match the name on "
                              f"the URL ({name})")
        obj["metadata"]["name"] = name
        old = self._stored(rt, namespace, name)
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        kinds.conflict_on_stale(obj["metadata"].get("resourceVersion"), old, rt)
        if (obj["metadata"].get("uid") or old["metadata"]["uid"]) != old["metadata"]["uid"]:
            raise conflict(rt.plural, rt.group, name)
        if subresource == "finalize":
            # namespaces/finalize writes spec.finalizers only (the namespace controller's last step).
            finalized = clone(old)
            finalized.setdefault("spec", {})["finalizers"] = list((obj.get("spec") or {}).get("finalizers") or [])
            return self._finish(rt, old, finalized, dry_run=dry_run, manager=manager)
        return self._finish(rt, old, obj, dry_run=dry_run, manager=manager, subresource=subresource)

    def patch_object(self, rt: ResourceType, namespace: str | None, name: str, patch_type: str, patch: Any, *,
                     dry_run: bool = False, manager: str | None = None, force: bool = False,
                     subresource: str | None = None) -> tuple[dict[str, Any], bool]:
        """Returns (object, created); only an apply patch may create."""
        old = self._stored(rt, namespace, name)
        if patch_type == "apply":
            if not manager:
                raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                                               "value: is required for apply patch",
                               causes=[{"reason": "FieldValueRequired", "message": "Required value: is required "
                                        "for apply patch", "field": "fieldManager"}])
            applied = self._check_body(rt, namespace, patch)
            if applied["metadata"].get("name") != name:
                raise bad_request(f"the name of the object ({applied['metadata'].get('name')}) does not match the "
                                  f"name on the URL ({name})")
            if subresource == "status":
                if old is None:
                    raise not_found(rt.plural, rt.group, name)
                merged = clone(old)
                merged["status"] = merge_patch(old.get("status") or {}, applied.get("status") or {})
                return self._finish(rt, old, merged, dry_run=dry_run, manager=manager, subresource="status"), False
            result = server_side_apply(old, applied, manager, force, rt.api_version, rt.builtin)
            if old is None:
                _refuse_create_rv(applied["metadata"].get("resourceVersion"))
                return self.create_object(rt, namespace, result, dry_run=dry_run, manager=manager,
                                          applied=True), True
            kinds.conflict_on_stale((applied["metadata"] or {}).get("resourceVersion"), old, rt)
            return self._finish(rt, old, result, dry_run=dry_run, manager=manager, skip_managed=True), False
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        current = self.render(rt, old)
        if patch_type == "json":
            result = json_patch(current, patch)
        elif patch_type == "merge":
            if not isinstance(patch, dict):
                raise bad_request("merge patch must be a JSON object")
            result = merge_patch(current, patch)
        elif patch_type == "strategic":
            if not isinstance(patch, dict):
                raise bad_request("strategic merge patch must be a JSON object")
            result = strategic_merge(current, patch)
        else:
            raise bad_request(f"unknown patch type {patch_type}")
        if not isinstance(result, dict):
            raise bad_request("the patched object is not an object")
        given_rv = (result.get("metadata") or {}).get("resourceVersion")
        kinds.conflict_on_stale(given_rv, old, rt)
        result = self._check_body(rt, namespace, result)
        if (result.get("metadata") or {}).get("name") != name:
            raise bad_request("the name of the object cannot be changed by a patch")
        return self._finish(rt, old, result, dry_run=dry_run, manager=manager or DEFAULT_MANAGER,
                            subresource=subresource), False

    def delete_object(self, rt: ResourceType, namespace: str | None, name: str, *, dry_run: bool = False,
                      propagation: str | None = None,
                      preconditions: dict[str, Any] | None = None,
                      grace_period: int | None = None) -> tuple[dict[str, Any], bool]:
        """Returns (object as returned to the client, is_status)."""
        old = self._stored(rt, namespace, name)
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        meta = old["metadata"]
        for field in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != meta.get(field):
                raise ApiError(409, "Conflict", f"Precondition failed: {field.upper() if field == 'uid' else field} "
                                                f"in precondition: {wanted}, {field} in object meta: {meta.get(field)}",
                               name=name, group=rt.group, kind=rt.plural)
        if propagation not in (None, "Foreground", "Background", "Orphan"):
            raise ApiError(422, "Invalid", f"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported"
                                           f" value: \"{propagation}\"")
        if rt.key == NS_KEY and name in PROTECTED_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           name=name, kind="namespaces")
        if meta.get("deletionTimestamp"):
            return self.render(rt, old), False  # already being deleted: deleting again changes nothing
        if rt.key == NS_KEY:
            # Like the namespace controller: Terminating until its content is gone and spec.finalizers is
            # empty (https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/).
            marked = clone(old)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["status"] = {"phase": "Terminating"}
            result = self._write_raw(rt, old, marked, dry_run)
            if not dry_run:
                self._schedule_namespace_cleanup(name)
            return result, False
        # https://kubernetes.io/docs/concepts/architecture/garbage-collection/: Foreground keeps the owner
        # (deletionTimestamp + foregroundDeletion finalizer) until its blocking dependents are gone; Orphan
        # keeps it (orphan finalizer) until the dependents lost their ownerReferences; Background removes it
        # now and the garbage collector deletes the dependents afterwards.
        extra = {"Foreground": lifecycle.FOREGROUND, "Orphan": lifecycle.ORPHAN}.get(propagation or "")
        # A Pod of a cluster is stopped by its kubelet: Terminating (deletionTimestamp = now + grace,
        # deletionGracePeriodSeconds) until its containers exited, then removed; gracePeriodSeconds=0
        # removes it at once (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination).
        grace = grace_period if grace_period is not None else \
            int(((old.get("spec") or {}).get("terminationGracePeriodSeconds")) or 30)
        if rt.builtin and rt.kind == "Pod" and self.kind == "cluster" and grace > 0 and not meta.get("finalizers"):
            marked = clone(old)
            marked["metadata"]["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime(time.time() + grace))
            marked["metadata"]["deletionGracePeriodSeconds"] = grace
            result = self._write_raw(rt, old, marked, dry_run)
            if not dry_run:
                self._schedule_pod_stop(namespace, name, meta["uid"],
                                        workloads.termination_seconds(self.settings.workloads, old, grace))
            return result, False
        if meta.get("finalizers") or extra:
            marked = clone(old)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            finalizers = list(meta.get("finalizers") or [])
            if extra and extra not in finalizers:
                finalizers.append(extra)
            marked["metadata"]["finalizers"] = finalizers
            result = self._write_raw(rt, old, marked, dry_run)
            if not dry_run:
                self.gc.schedule()
            return result, False
        removed = self._remove(rt, clone(old), dry_run=dry_run)
        if rt.builtin and rt.kind in RETURN_DELETED:
            return removed, False
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                  "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": meta["uid"]}}
        return status, True

    def _schedule_pod_stop(self, namespace: str | None, name: str, uid: str, delay: float) -> None:
        try:
            asyncio.get_running_loop().call_later(delay, self._pod_stopped, namespace, name, uid)
        except RuntimeError:
            self._pod_stopped(namespace, name, uid)  # no loop (in-process use): stopped at once

    def _pod_stopped(self, namespace: str | None, name: str, uid: str) -> None:
        """The kubelet saw the containers exit: the terminating Pod goes (unless it was replaced)."""
        pod_rt = self.lookup("", "v1", "pods")
        pod = self._stored(pod_rt, namespace, name)
        if pod is None or pod["metadata"].get("uid") != uid or not pod["metadata"].get("deletionTimestamp") \
                or self.registry.get(self.id) is not self:
            return
        self._remove(pod_rt, clone(pod), dry_run=False)

    def _schedule_namespace_cleanup(self, name: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.finalize_namespace(name)
            return
        loop.call_later(NAMESPACE_FINALIZE_DELAY, self.finalize_namespace, name)

    def finalize_namespace(self, name: str) -> None:
        """One pass of the namespace controller over a Terminating namespace."""
        ns = self._bucket(NS_KEY).get(self._oid(None, name))
        if ns is None or not ns["metadata"].get("deletionTimestamp") or self.registry.get(self.id) is not self:
            return
        remaining = lifecycle.delete_namespace_content(self, name)
        ns = self._bucket(NS_KEY).get(self._oid(None, name))
        if ns is None:
            return
        if remaining:
            lifecycle.set_namespace_conditions(self, ns, remaining)
            try:
                asyncio.get_running_loop().call_later(NAMESPACE_FINALIZE_DELAY, self.finalize_namespace, name)
            except RuntimeError:
                pass  # no loop (in-process use): the next write to a finalizer-holding object retries
            return
        spec_finalizers = list((ns.get("spec") or {}).get("finalizers") or [])
        if "kubernetes" in spec_finalizers:
            done = clone(ns)
            done["spec"]["finalizers"] = [f for f in spec_finalizers if f != "kubernetes"]
            self._write_raw(NS_RT, ns, done, False)
            ns = done
        if not (ns.get("spec") or {}).get("finalizers") and not ns["metadata"].get("finalizers"):
            self._remove(NS_RT, clone(ns), dry_run=False)

    def finalize_pending(self) -> None:
        """After a restart, finish namespace deletions a stop interrupted."""
        for ns in list(self._bucket(NS_KEY).values()):
            if ns["metadata"].get("deletionTimestamp"):
                self._schedule_namespace_cleanup(ns["metadata"]["name"])
        controllers.ensure_node(self)  # state from before Nodes were served
        self.gc.schedule()

    def _write_raw(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any], dry_run: bool) -> dict:
        if dry_run:
            return self.render(rt, new)
        self.store.data["rv"] += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        self._bucket(rt.key)[self._oid(new["metadata"].get("namespace"), new["metadata"]["name"])] = new
        self._save()
        self._emit(rt, "MODIFIED", new, old)
        return self.render(rt, new)

    def _remove(self, rt: ResourceType, obj: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
        if dry_run:
            return self.render(rt, obj)
        if rt.key == CRD_KEY:
            spec = obj.get("spec") or {}
            key = f"{spec.get('group', '')}/{(spec.get('names') or {}).get('plural', '')}"
            for gone in list(self._bucket(key).values()):
                self._drop(self._rt_for_key(key, gone), gone)
            self.store.data["objects"].pop(key, None)
        self._drop(rt, obj)
        if rt.key == CRD_KEY:
            self._types = None
        self._save()
        return self.render(rt, obj)

    def _rt_for_key(self, key: str, obj: dict[str, Any]) -> ResourceType:
        """The served type of a storage key, in the object's own version if served (its CRD may be gone)."""
        candidates = [rt for rt in self.types() if rt.key == key]
        for rt in candidates:
            if rt.api_version == obj.get("apiVersion"):
                return rt
        if candidates:
            return candidates[0]
        group, _, plural = key.partition("/")
        return ResourceType(group, obj.get("apiVersion", "").rpartition("/")[2], obj.get("kind", ""), plural,
                            plural, True, builtin=False)

    def _drop(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self._bucket(rt.key).pop(self._oid(meta.get("namespace"), meta["name"]), None)
        self.store.data["rv"] += 1
        gone = clone(obj)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._emit(rt, "DELETED", gone, obj)
        self._controllers(rt, gone, deleted=True)
        controllers.record(self, rt, obj, None)
        self.gc.schedule()

    # -- events -----------------------------------------------------------------------------
    def _emit(self, rt: ResourceType, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if len(self.history) == self.history.maxlen:
            self.history_floor = self.history[0][0]
        snapshot = clone(obj)
        previous = clone(old) if old is not None and event_type != "DELETED" else None
        self.history.append((self.rv, rt.key, event_type, snapshot, previous))
        for watcher in list(self.watchers):
            if watcher.rt.key == rt.key:
                self._deliver(watcher, event_type, snapshot, previous)
        for callback in list(self.subscribers):
            try:
                callback(event_type, self.render(rt, snapshot))
            except Exception:  # noqa: BLE001 - a subscriber bug must not fail the API write
                log.exception("kube subscriber failed on %s %s", event_type, rt.kind)

    def _deliver(self, watcher: Watcher, event_type: str, obj: dict[str, Any], previous: dict | None) -> None:
        event = self._select(watcher, event_type, obj, previous)
        if event is not None:
            watcher.queue.put_nowait(event)

    def _select(self, watcher: Watcher, event_type: str, obj: dict[str, Any],
                previous: dict | None) -> tuple[str, dict[str, Any]] | None:
        now = watcher.matches(obj)
        before = watcher.matches(previous)
        if event_type == "MODIFIED" and now != before:
            event_type = "ADDED" if now else "DELETED"  # the object entered or left the selection
        elif not now:
            return None
        return event_type, self.render(watcher.rt, obj)

    def watch(self, rt: ResourceType, namespace: str | None, label_selector: str | None, field_selector: str | None,
              resource_version: str | None) -> tuple[Watcher, list[tuple[str, dict[str, Any]]]]:
        """Register a watcher; returns it with the events to send first (raises 410 for a too-old RV)."""
        watcher = Watcher(rt, namespace if rt.namespaced else None, parse_label_selector(label_selector),
                          parse_field_selector(field_selector, rt.kind))
        initial: list[tuple[str, dict[str, Any]]] = []
        if resource_version in (None, "", "0"):
            for obj in self.list_objects(rt, watcher.namespace):
                if watcher.matches(obj):
                    initial.append(("ADDED", obj))
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise bad_request(f"invalid resource version: {resource_version!r}") from None
            if since < self.history_floor:
                raise ApiError(410, "Expired", f"too old resource version: {since} ({self.history_floor})")
            for rv, key, event_type, obj, previous in self.history:
                if rv > since and key == rt.key:
                    event = self._select(watcher, event_type, obj, previous)
                    if event is not None:
                        initial.append(event)
        self.watchers.append(watcher)
        return watcher, initial

    def unwatch(self, watcher: Watcher) -> None:
        if watcher in self.watchers:
            self.watchers.remove(watcher)

    # -- in-process API (lab/README.md) ---------------------------------------------------
    def _split(self, obj: dict[str, Any]) -> tuple[ResourceType, str | None, str]:
        rt = self.lookup_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        return rt, (meta.get("namespace") or "default") if rt.namespaced else None, meta.get("name", "")

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        rt = self.lookup_kind(api_version, kind)
        obj = self._stored(rt, namespace, name)
        return self.render(rt, obj) if obj is not None else None

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        return self.list_objects(self.lookup_kind(api_version, kind), namespace, label_selector)

    def create(self, obj: dict[str, Any], manager: str = DEFAULT_MANAGER) -> dict[str, Any]:
        rt, namespace, _ = self._split(obj)
        return self.create_object(rt, namespace, obj, manager=manager)

    def replace(self, obj: dict[str, Any], manager: str = DEFAULT_MANAGER) -> dict[str, Any]:
        rt, namespace, name = self._split(obj)
        return self.replace_object(rt, namespace, name, obj, manager=manager)

    def apply(self, obj: dict[str, Any], manager: str = DEFAULT_MANAGER) -> dict[str, Any]:
        """Create, or merge labels/annotations and replace every other top-level field but status."""
        rt, namespace, name = self._split(obj)
        old = self._stored(rt, namespace, name)
        if old is None:
            return self.create_object(rt, namespace, obj, manager=manager)
        new = clone(old)
        for key, value in obj.items():
            if key == "metadata":
                for field in ("labels", "annotations"):
                    if value.get(field):
                        new["metadata"].setdefault(field, {}).update(value[field])
                if "finalizers" in value:
                    new["metadata"]["finalizers"] = list(value["finalizers"])
            elif key not in ("status", "apiVersion", "kind"):
                new[key] = clone(value)
        new["metadata"].pop("resourceVersion", None)
        return self.replace_object(rt, namespace, name, new, manager=manager)

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete; False when it did not exist."""
        rt = self.lookup_kind(api_version, kind)
        if self._stored(rt, namespace, name) is None:
            return False
        self.delete_object(rt, namespace, name)
        return True

    def patch_status(self, api_version: str, kind: str, namespace: str | None, name: str,
                     status: dict[str, Any], manager: str = DEFAULT_MANAGER) -> dict[str, Any]:
        """Merge ``status`` (JSON merge patch: None removes a key) into the object's status."""
        rt = self.lookup_kind(api_version, kind)
        old = self._stored(rt, namespace, name)
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        new = clone(old)
        new["status"] = merge_patch(old.get("status") or {}, status)
        return self._finish(rt, old, new, dry_run=False, manager=manager, subresource="status")

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event_type, obj)`` synchronously after every write; returns an unsubscribe function."""
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback) if callback in self.subscribers else None

    def set_external_status(self, namespace: str, name: str, external: bool = True) -> None:
        """Make a Deployment's status the caller's (patch_status) instead of the lab's immediate readiness."""
        entries = self.store.data.setdefault("external_status", [])
        key = f"{namespace}/{name}"
        if external and key not in entries:
            entries.append(key)
        elif not external and key in entries:
            entries.remove(key)
        self._save()

    def _save(self) -> None:
        calls.note_persisted()
        self.store.save()

    def close(self) -> None:
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(None)
        self.watchers.clear()


NS_RT = next(rt for rt in BUILTINS if rt.plural == "namespaces")
