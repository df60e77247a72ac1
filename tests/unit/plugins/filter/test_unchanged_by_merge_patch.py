"""meshdr.alicloud.unchanged_by_merge_patch: RFC 7386's merge, and "this patch would change nothing"."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshdr.alicloud.plugins.filter.unchanged_by_merge_patch import (
    FilterModule,
    merge_patch,
    unchanged_by_merge_patch,
)

# RFC 7386 Appendix A, "Example Test Cases": (original, patch, result).
RFC_7386_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), RFC_7386_CASES)
def test_the_rfc_7386_examples(original, patch, result):
    before = repr(original)
    assert merge_patch(original, patch) == result
    assert repr(original) == before, "the target was changed in place"


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "bookinfo", "resourceVersion": "7", "uid": "u-1",
                          "labels": {"istio-injection": "enabled", "kubernetes.io/metadata.name": "bookinfo"}},
             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
DECLARED = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "bookinfo", "labels": {"istio-injection": "enabled"}}}


def test_a_patch_of_fields_the_object_already_has_changes_nothing():
    assert unchanged_by_merge_patch([NAMESPACE], [DECLARED]) is True
    assert unchanged_by_merge_patch([], []) is True


@pytest.mark.parametrize("patch", [
    {"metadata": {"labels": {"istio-injection": "disabled"}}},  # a different value
    {"metadata": {"annotations": {"a": "b"}}},  # a key the object lacks
    {"metadata": {"labels": {"istio-injection": None}}},  # null removes a key the object has
    {"spec": {"finalizers": []}},  # a list replaces whole, even a shorter one
    {"status": "Active"},  # a scalar replaces an object
])
def test_a_patch_that_would_change_the_object_is_seen(patch):
    assert unchanged_by_merge_patch([NAMESPACE], [patch]) is False


def test_null_for_a_key_the_object_lacks_changes_nothing():
    assert unchanged_by_merge_patch([NAMESPACE], [{"metadata": {"annotations": None}}]) is True


def test_a_missing_object_or_an_unpaired_patch_is_a_change():
    assert unchanged_by_merge_patch([None], [DECLARED]) is False
    assert unchanged_by_merge_patch([NAMESPACE], [DECLARED, DECLARED]) is False
    assert unchanged_by_merge_patch([NAMESPACE, NAMESPACE], [DECLARED]) is False


def test_anything_but_two_lists_of_objects_and_patches_is_refused():
    with pytest.raises(AnsibleFilterError, match="two lists"):
        unchanged_by_merge_patch(NAMESPACE, [DECLARED])
    with pytest.raises(AnsibleFilterError, match="two lists"):
        unchanged_by_merge_patch([NAMESPACE], "metadata")
    with pytest.raises(AnsibleFilterError, match="a patch is an object"):
        unchanged_by_merge_patch([NAMESPACE], ["metadata"])
    assert FilterModule().filters()["unchanged_by_merge_patch"] is unchanged_by_merge_patch
