# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: unchanged_by_merge_patch
short_description: Whether JSON merge patches would leave the objects they target as they are
version_added: 0.1.0
author: meshdr.alicloud authors
description:
  - Takes the objects as they are now (for example what a C(kubernetes.core.k8s) lookup read) and the
    patches that would be sent to them, pairwise in the same order, and answers C(true) only when every
    object exists and applying its patch by the JSON merge patch rules of RFC 7386 gives the object back
    unchanged.
  - RFC 7386 in short, as this filter applies it - a key of the patch whose value is C(null) removes that
    key; an object in the patch is merged key by key into the object it targets (into an empty one when the
    target is missing or not an object); any other value, a list included, replaces the target's value
    whole.
  - The roles use it to skip a C(kubernetes.core.k8s) task with O(kubernetes.core.k8s#module:merge_type=merge)
    whose patches would change nothing, so that a re-run does not start a module process to learn that
    (C(kubernetes.core.k8s) reports C(changed) only when the object the server answers differs from the one
    it read).
  - A missing object (C(none)), a different number of objects and patches, or any change gives C(false).
options:
  _input:
    description: The objects as they are now, in the order of O(patches); C(none) for one that does not exist.
    type: list
    elements: raw
    required: true
  patches:
    description: The JSON merge patches, one per object.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Apply the mesh objects only where they differ from what the mesh holds
  kubernetes.core.k8s:
    definition: "{{ objects }}"
    merge_type: merge
  when: not (live_objects | meshdr.alicloud.unchanged_by_merge_patch(objects))
"""

RETURN = r"""
_value:
  description: C(true) when every patch would leave its object unchanged, C(false) otherwise.
  type: bool
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


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


def unchanged_by_merge_patch(objects, patches):
    if not all(isinstance(value, Sequence) and not isinstance(value, (str, bytes)) for value in (objects, patches)):
        raise AnsibleFilterError('unchanged_by_merge_patch expects two lists (objects, patches), not %s and %s'
                                 % (type(objects).__name__, type(patches).__name__))
    if len(objects) != len(patches):
        return False
    for live, patch in zip(objects, patches, strict=True):
        if not isinstance(patch, Mapping):
            raise AnsibleFilterError('unchanged_by_merge_patch: a patch is an object, not %s' % type(patch).__name__)
        if not isinstance(live, Mapping) or merge_patch(live, patch) != live:
            return False
    return True


class FilterModule:
    def filters(self):
        return {'unchanged_by_merge_patch': unchanged_by_merge_patch}
