"""Object lifecycle as kube-controller-manager runs it: the garbage collector (ownerReferences,
Foreground/Background/Orphan propagation), the namespace controller's content deletion, finalizer
rules, and the snapshots that keep paginated lists consistent.

Sources: https://kubernetes.io/docs/concepts/architecture/garbage-collection/ (propagation policies,
foregroundDeletion and orphan finalizers), .../working-with-objects/finalizers/ (deletionTimestamp,
"no new finalizers can be added if the object is being deleted"), .../namespaces/ and the Namespace
API reference (Terminating phase, NamespaceContentRemaining / NamespaceFinalizersRemaining
conditions), and the API concepts page "Retrieving large results sets in chunks" (continue tokens
served from a snapshot; 410 Gone once the snapshot has been compacted away).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from .errors import ApiError, invalid
from .fields import now_rfc3339
from .resources import ResourceType

if TYPE_CHECKING:
    from .server import KubeServer

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
GC_DELAY = 0.05  # seconds between a deletion and the collector's pass (the real one reacts within ms)
SNAPSHOT_SECONDS = 300.0  # etcd's compaction interval in kube-apiserver (--etcd-compaction-interval=5m)
SNAPSHOT_COUNT = 64


def _clone(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


# -- finalizers --------------------------------------------------------------------------------
def check_finalizers(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """apimachinery ValidateObjectMetaUpdate: an object being deleted may lose finalizers, never gain one."""
    if not old["metadata"].get("deletionTimestamp"):
        return
    before = set(old["metadata"].get("finalizers") or [])
    added = [f for f in new["metadata"].get("finalizers") or [] if f not in before]
    if added:
        listed = ", ".join(f'"{f}"' for f in added)
        raise invalid(rt.kind, rt.group, new["metadata"].get("name", ""), [(
            "FieldValueForbidden", "metadata.finalizers",
            f"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers "
            f"[]string{{{listed}}}")])


# -- garbage collector --------------------------------------------------------------------------
class GarbageCollector:
    """Passes over one server's objects after deletions; a pass is cheap (the lab holds hundreds)."""

    def __init__(self, server: KubeServer):
        self.server = server
        self.pending = False
        self.running = False

    def schedule(self) -> None:
        if self.pending or self.running:
            self.pending = True
            return
        self.pending = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.run()  # in-process use without a loop: collect now
            return
        loop.call_later(GC_DELAY, self.run)

    def run(self) -> None:
        if self.server.registry.get(self.server.id) is not self.server:
            self.pending = False
            return
        self.running = True
        try:
            for _ in range(50):  # each pass may free more (chains Deployment -> ReplicaSet -> Pod)
                self.pending = False
                if not self.collect():
                    break
        finally:
            self.running = False
            self.pending = False

    def _objects(self) -> list[tuple[str, dict[str, Any]]]:
        return [(key, obj) for key, bucket in self.server.store.data["objects"].items() for obj in bucket.values()]

    def collect(self) -> bool:
        """One pass; True when it changed something."""
        server = self.server
        objects = self._objects()
        uids = {obj["metadata"].get("uid"): obj for _, obj in objects}
        changed = False
        for key, obj in objects:
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if not refs or meta.get("deletionTimestamp"):
                continue
            live = [r for r in refs if r.get("uid") in uids]
            waiting = [r for r in live if FOREGROUND in (uids[r["uid"]]["metadata"].get("finalizers") or [])
                       and uids[r["uid"]]["metadata"].get("deletionTimestamp")]
            orphaning = [r for r in live if ORPHAN in (uids[r["uid"]]["metadata"].get("finalizers") or [])
                         and uids[r["uid"]]["metadata"].get("deletionTimestamp")]
            rt = server._rt_for_key(key, obj)
            if orphaning:
                kept = [r for r in refs if r not in orphaning]
                updated = _clone(obj)
                if kept:
                    updated["metadata"]["ownerReferences"] = kept
                else:
                    updated["metadata"].pop("ownerReferences", None)
                server._write_raw(rt, obj, updated, False)
                changed = True
            elif not live or (waiting and len(waiting) == len(live)):
                # Every owner is gone (Background) or being deleted in the foreground: delete the dependent,
                # itself in the foreground when its owner waits for it.
                policy = "Foreground" if waiting else "Background"
                server.delete_object(rt, meta.get("namespace"), meta["name"], propagation=policy)
                changed = True
            elif len(live) != len(refs):
                updated = _clone(obj)
                updated["metadata"]["ownerReferences"] = live
                server._write_raw(rt, obj, updated, False)
                changed = True
        objects = self._objects()
        owned_by: dict[str, list[dict[str, Any]]] = {}
        for _, obj in objects:
            for ref in obj["metadata"].get("ownerReferences") or []:
                owned_by.setdefault(ref.get("uid"), []).append(obj)
        for key, obj in objects:
            meta = obj["metadata"]
            finalizers = meta.get("finalizers") or []
            if not meta.get("deletionTimestamp"):
                continue
            dependents = owned_by.get(meta.get("uid"), [])
            done = None
            if ORPHAN in finalizers and not dependents:
                done = ORPHAN
            elif FOREGROUND in finalizers and not [d for d in dependents if _blocks(d, meta["uid"])]:
                done = FOREGROUND
            if done:
                updated = _clone(obj)
                updated["metadata"]["finalizers"] = [f for f in finalizers if f != done]
                rt = server._rt_for_key(key, obj)
                if updated["metadata"]["finalizers"]:
                    server._write_raw(rt, obj, updated, False)
                else:
                    updated["metadata"].pop("finalizers")
                    server._remove(rt, updated, dry_run=False)
                changed = True
        return changed


def _blocks(dependent: dict[str, Any], uid: str) -> bool:
    """Only dependents with blockOwnerDeletion hold up a foreground deletion."""
    return any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in
               dependent["metadata"].get("ownerReferences") or [])


# -- namespace controller ------------------------------------------------------------------------
def delete_namespace_content(server: KubeServer, namespace: str) -> dict[str, list[str]]:
    """Delete everything in the namespace; returns what is still there: {resource: [finalizers...]}."""
    remaining: dict[str, list[str]] = {}
    for key, bucket in list(server.store.data["objects"].items()):
        if key == "/namespaces":
            continue
        for obj in [o for o in bucket.values() if (o.get("metadata") or {}).get("namespace") == namespace]:
            meta = obj["metadata"]
            rt = server._rt_for_key(key, obj)
            if not meta.get("deletionTimestamp"):
                try:
                    server.delete_object(rt, namespace, meta["name"])
                except ApiError:
                    pass
            still = server._bucket(key).get(server._oid(namespace, meta["name"]))
            if still is not None:
                remaining.setdefault(rt.plural + (f".{rt.group}" if rt.group else ""), []).extend(
                    still["metadata"].get("finalizers") or [])
    return remaining


def set_namespace_conditions(server: KubeServer, ns: dict[str, Any], remaining: dict[str, list[str]]) -> None:
    count = sum(1 for _ in remaining)
    finalizers = sorted({f for values in remaining.values() for f in values})
    stamp = now_rfc3339()
    conditions = [
        {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
         "message": "Some resources are remaining: " + ", ".join(f"{r} has {len(v) or 1} resource instances"
                                                                for r, v in sorted(remaining.items())),
         "lastTransitionTime": stamp},
    ]
    if finalizers:
        conditions.append({"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                           "message": "Some content in the namespace has finalizers remaining: "
                                      + ", ".join(f"{f} in {count} resource instances" for f in finalizers),
                           "lastTransitionTime": stamp})
    old_conditions = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                      for c in (ns.get("status") or {}).get("conditions") or []]
    if old_conditions == [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions]:
        return
    updated = _clone(ns)
    updated["status"] = {"phase": "Terminating", "conditions": conditions}
    server._write_raw(server.lookup("", "v1", "namespaces"), ns, updated, False)


# -- consistent pagination --------------------------------------------------------------------
class ListSnapshots:
    """The items of a list as of its first page, kept while etcd would keep that revision."""

    EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can start a "
               "new list without the continue parameter, or use the continue token in this response to retrieve "
               "the remainder of the results. Continuing with the provided token results in an inconsistent list - "
               "objects that were created, modified, or deleted between the time the first chunk was returned "
               "and now may show up in the list.")

    def __init__(self) -> None:
        self.items: OrderedDict[int, tuple[float, str, list[dict[str, Any]]]] = OrderedDict()
        self.ids = itertools.count(1)
        self.ttl = SNAPSHOT_SECONDS

    def keep(self, rv: str, items: list[dict[str, Any]]) -> int:
        self._expire()
        snapshot_id = next(self.ids)
        self.items[snapshot_id] = (time.monotonic(), rv, _clone(items))
        while len(self.items) > SNAPSHOT_COUNT:
            self.items.popitem(last=False)
        return snapshot_id

    def get(self, snapshot_id: int) -> tuple[str, list[dict[str, Any]]]:
        self._expire()
        entry = self.items.get(snapshot_id)
        if entry is None:
            raise ApiError(410, "Expired", self.EXPIRED)
        return entry[1], entry[2]

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (t, _, _) in self.items.items() if now - t > self.ttl]:
            del self.items[key]
