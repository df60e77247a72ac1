# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: unchanged_by_merge_patch
short_description: Whether merge patches of Kubernetes objects would leave those objects as they are
version_added: 0.1.0
author: meshdr.alicloud authors
description:
  - Takes the objects as they are now (for example what C(kubernetes.core.k8s) lookups read) and the patches
    that would be sent to them, and answers C(true) only when every patch has its object among them and
    applying it would give that object back unchanged.
  - A patch is paired with the object of the same C(kind), C(metadata.namespace) and C(metadata.name); other
    objects, and C(none) items (what a lookup of a missing object leaves), are ignored.
  - With O(merge_type=merge), the JSON merge patch rules of RFC 7386 - a key whose value is C(null) removes
    that key; an object is merged key by key into the object it targets (into an empty one when the target
    is missing or not an object); any other value, a list included, replaces the target's value whole.
  - With O(merge_type=strategic-merge), Kubernetes' strategic merge patch of a built-in kind, as far as it
    can be predicted without the cluster's OpenAPI - the lists of a pod spec, of its containers and of a
    Service spec that merge item by item (their C(x-kubernetes-patch-merge-key) in the Kubernetes OpenAPI,
    for example containers by C(name) and container ports by C(containerPort)) are unchanged when each
    item of the patch is unchanged in the item with the same key; every other list must be equal whole. A
    patch with a C($patch) or other directive is never predicted.
  - Wherever the answer is not certain it is C(false), so a task skipped on C(true) can only be one that would
    change nothing.
  - The roles use it to skip a C(kubernetes.core.k8s) task whose patches would change nothing, so that a run
    does not start a module process to learn that (C(kubernetes.core.k8s) reports C(changed) only when the
    object the server answers differs from the one it read).
options:
  _input:
    description: The objects as they are now; C(none) items are ignored.
    type: list
    elements: raw
    required: true
  patches:
    description: The patches, each a whole object with C(kind) and C(metadata.name).
    type: list
    elements: dict
    required: true
  merge_type:
    description: How the patches would be sent, as O(kubernetes.core.k8s#module:merge_type) names it.
    type: str
    choices: [merge, strategic-merge]
    default: merge
"""

EXAMPLES = r"""
- name: Apply the mesh objects only where they differ from what the mesh holds
  kubernetes.core.k8s:
    definition: "{{ objects }}"
    merge_type: merge
  when: not (live_objects | meshdr.alicloud.unchanged_by_merge_patch(objects))

- name: Predict the workloads in check mode without starting the module where nothing would change
  kubernetes.core.k8s:
    definition: "{{ workloads }}"
  when: >-
    not (ansible_check_mode
         and live_workloads | meshdr.alicloud.unchanged_by_merge_patch(workloads, 'strategic-merge'))
"""

RETURN = r"""
_value:
  description: C(true) when every patch would leave its object unchanged, C(false) otherwise.
  type: bool
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

# Strategic merge: the lists that merge item by item on a key, from the Kubernetes OpenAPI's
# x-kubernetes-patch-merge-key (PodSpec, Container, ServiceSpec; tests/unit/plugins/filter checks them against
# the published schemas). Any list not named here is compared whole, which can only err towards "changed".
POD_SPEC_LIST_KEYS = {
    'containers': 'name',
    'initContainers': 'name',
    'ephemeralContainers': 'name',
    'volumes': 'name',
    'imagePullSecrets': 'name',
    'hostAliases': 'ip',
    'topologySpreadConstraints': 'topologyKey',
    'schedulingGates': 'name',
    'resourceClaims': 'name',
}
CONTAINER_LIST_KEYS = {
    'env': 'name',
    'ports': 'containerPort',
    'volumeMounts': 'mountPath',
    'volumeDevices': 'devicePath',
}
SERVICE_SPEC_LIST_KEYS = {'ports': 'port'}
CONTAINER_LISTS = ('containers', 'initContainers', 'ephemeralContainers')
# Where the pod spec sits in each kind that has one at a fixed place.
POD_SPEC_PATHS = {
    'Pod': ('spec',),
    'Deployment': ('spec', 'template', 'spec'),
    'ReplicaSet': ('spec', 'template', 'spec'),
    'StatefulSet': ('spec', 'template', 'spec'),
    'DaemonSet': ('spec', 'template', 'spec'),
    'Job': ('spec', 'template', 'spec'),
}


def merge_patch(target, patch):
    """RFC 7386 section 2, MergePatch(Target, Patch), without changing either argument."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged


def list_merge_key(kind, path):
    """The key a strategic merge patch merges the list at ``path`` (field names, no indexes) on, or None."""
    pod = POD_SPEC_PATHS.get(kind)
    if pod and path[:-1] == pod:
        return POD_SPEC_LIST_KEYS.get(path[-1])
    if pod and len(path) == len(pod) + 2 and path[:len(pod)] == pod and path[len(pod)] in CONTAINER_LISTS:
        return CONTAINER_LIST_KEYS.get(path[-1])
    if kind == 'Service' and path[:-1] == ('spec',):
        return SERVICE_SPEC_LIST_KEYS.get(path[-1])
    return None


_ABSENT = object()


def unchanged_by_strategic_merge(kind, live, patch, path=()):
    if isinstance(patch, Mapping):
        if not isinstance(live, Mapping):
            return False
        for name, value in patch.items():
            if name.startswith('$'):
                return False
            if value is None:
                if name in live:
                    return False
            elif not unchanged_by_strategic_merge(kind, live.get(name, _ABSENT), value, path + (name,)):
                return False
        return True
    key = list_merge_key(kind, path) if isinstance(patch, list) else None
    if key is None:
        return live == patch
    if not isinstance(live, list):
        return False
    for item in patch:
        if not isinstance(item, Mapping) or key not in item:
            return False
        same_key = [entry for entry in live if isinstance(entry, Mapping) and entry.get(key) == item[key]]
        if len(same_key) != 1 or not unchanged_by_strategic_merge(kind, same_key[0], item, path):
            return False
    return True


def _identity(obj):
    metadata = obj.get('metadata') if isinstance(obj.get('metadata'), Mapping) else {}
    return obj.get('kind'), metadata.get('namespace') or '', metadata.get('name')


def unchanged_by_merge_patch(objects, patches, merge_type='merge'):
    if not all(isinstance(value, Sequence) and not isinstance(value, (str, bytes)) for value in (objects, patches)):
        raise AnsibleFilterError('unchanged_by_merge_patch expects two lists (objects, patches), not %s and %s'
                                 % (type(objects).__name__, type(patches).__name__))
    if merge_type not in ('merge', 'strategic-merge'):
        raise AnsibleFilterError("unchanged_by_merge_patch: merge_type is 'merge' or 'strategic-merge', not %r"
                                 % (merge_type,))
    live_by_identity = {_identity(obj): obj for obj in objects if isinstance(obj, Mapping)}
    for patch in patches:
        if not isinstance(patch, Mapping):
            raise AnsibleFilterError('unchanged_by_merge_patch: a patch is an object, not %s' % type(patch).__name__)
        live = live_by_identity.get(_identity(patch))
        if live is None or _identity(patch)[2] is None:
            return False
        if merge_type == 'merge':
            if merge_patch(live, patch) != live:
                return False
        elif not unchanged_by_strategic_merge(patch.get('kind'), live, patch):
            return False
    return True


class FilterModule:
    def filters(self):
        return {'unchanged_by_merge_patch': unchanged_by_merge_patch}
