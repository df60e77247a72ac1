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


def of_namespace(**fields):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo"}, **fields}


def test_a_patch_of_fields_the_object_already_has_changes_nothing():
    assert unchanged_by_merge_patch([NAMESPACE], [DECLARED]) is True
    assert unchanged_by_merge_patch([], []) is True


@pytest.mark.parametrize("patch", [
    of_namespace(metadata={"name": "bookinfo", "labels": {"istio-injection": "disabled"}}),  # another value
    of_namespace(metadata={"name": "bookinfo", "annotations": {"a": "b"}}),  # a key the object lacks
    of_namespace(metadata={"name": "bookinfo", "labels": {"istio-injection": None}}),  # null removes a key
    of_namespace(spec={"finalizers": []}),  # a list replaces whole, even a shorter one
    of_namespace(status="Active"),  # a scalar replaces an object
])
def test_a_patch_that_would_change_the_object_is_seen(patch):
    assert unchanged_by_merge_patch([NAMESPACE], [patch]) is False


def test_null_for_a_key_the_object_lacks_changes_nothing():
    assert unchanged_by_merge_patch([NAMESPACE], [of_namespace(metadata={"name": "bookinfo", "annotations": None})])


def test_patches_are_paired_by_kind_namespace_and_name_and_a_missing_object_is_a_change():
    other = {**NAMESPACE, "metadata": {**NAMESPACE["metadata"], "name": "other"}}
    assert unchanged_by_merge_patch([None, other, NAMESPACE], [DECLARED]) is True
    assert unchanged_by_merge_patch([None], [DECLARED]) is False
    assert unchanged_by_merge_patch([other], [DECLARED]) is False
    assert unchanged_by_merge_patch([{**NAMESPACE, "kind": "Gateway"}], [DECLARED]) is False
    in_a = {"kind": "Service", "metadata": {"name": "bookinfo", "namespace": "a"}}
    in_b = {"kind": "Service", "metadata": {"name": "bookinfo", "namespace": "b"}}
    assert unchanged_by_merge_patch([in_a], [in_b]) is False
    unnamed = {"kind": "Namespace", "metadata": {}}
    assert unchanged_by_merge_patch([unnamed], [unnamed]) is False


# A Deployment as an apiserver returns it: server defaults in the pod template and in every container.
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "reviews-v1", "namespace": "bookinfo", "generation": 1, "labels": {"app": "reviews"}},
    "spec": {"replicas": 1, "revisionHistoryLimit": 10, "selector": {"matchLabels": {"app": "reviews"}},
             "template": {"metadata": {"creationTimestamp": None, "labels": {"app": "reviews"}},
                          "spec": {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                                   "containers": [
                                       {"name": "reviews", "image": "reviews:1", "imagePullPolicy": "IfNotPresent",
                                        "ports": [{"containerPort": 9080, "protocol": "TCP"}],
                                        "env": [{"name": "LOG_DIR", "value": "/tmp/logs"}],
                                        "args": ["--a", "--b"],
                                        "resources": {}, "terminationMessagePath": "/dev/termination-log"},
                                       {"name": "istio-proxy", "image": "proxyv2:1"}]}}},
    "status": {"availableReplicas": 1},
}


def declared_deployment(container=None, **template_spec):
    container = container or {"name": "reviews", "image": "reviews:1", "imagePullPolicy": "IfNotPresent",
                              "ports": [{"containerPort": 9080}], "env": [{"name": "LOG_DIR", "value": "/tmp/logs"}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "reviews-v1", "namespace": "bookinfo", "labels": {"app": "reviews"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "reviews"}},
                     "template": {"metadata": {"labels": {"app": "reviews"}},
                                  "spec": {"containers": [container], **template_spec}}}}


def test_strategic_merge_matches_list_items_on_their_merge_key_and_ignores_server_defaults():
    assert unchanged_by_merge_patch([DEPLOYMENT], [declared_deployment()], "strategic-merge") is True
    # The same patch as a JSON merge patch replaces the containers list whole: a change.
    assert unchanged_by_merge_patch([DEPLOYMENT], [declared_deployment()], "merge") is False


@pytest.mark.parametrize("patch", [
    declared_deployment({"name": "reviews", "image": "reviews:2"}),  # another image
    declared_deployment({"name": "ratings", "image": "reviews:1"}),  # a container the pod lacks
    declared_deployment({"name": "reviews", "ports": [{"containerPort": 9081}]}),  # a port it lacks
    declared_deployment({"name": "reviews", "env": [{"name": "LOG_DIR", "value": "/var/log"}]}),
    declared_deployment({"name": "reviews", "args": ["--a"]}),  # args is atomic: replaced whole
    declared_deployment({"name": "reviews", "resources": None}),  # null removes a key it has
    declared_deployment({"image": "reviews:1"}),  # an item without its merge key
    declared_deployment(tolerations=[]),  # a list the object lacks
    {**declared_deployment(), "spec": {"$patch": "replace"}},  # a directive is never predicted
    {**declared_deployment(), "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}]}}}},
])
def test_strategic_merge_sees_every_change(patch):
    assert unchanged_by_merge_patch([DEPLOYMENT], [patch], "strategic-merge") is False


def test_strategic_merge_of_service_ports_on_port_and_of_other_lists_whole():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews", "namespace": "bookinfo"},
               "spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"], "type": "ClusterIP",
                        "ports": [{"name": "http", "port": 9080, "targetPort": 9080, "protocol": "TCP"}]}}

    def declared(**spec):
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews", "namespace": "bookinfo"},
                "spec": spec}

    assert unchanged_by_merge_patch([service], [declared(ports=[{"name": "http", "port": 9080}])], "strategic-merge")
    assert not unchanged_by_merge_patch([service], [declared(ports=[{"name": "web", "port": 9080}])], "strategic-merge")
    assert not unchanged_by_merge_patch([service], [declared(ports=[{"port": 9081}])], "strategic-merge")
    assert not unchanged_by_merge_patch([service], [declared(clusterIPs=["10.0.0.9", "10.0.0.8"])], "strategic-merge")
    # A list of the same name elsewhere than a Service spec has no merge key here: compared whole.
    gateway = {"kind": "Gateway", "metadata": {"name": "g"}, "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}
    assert not unchanged_by_merge_patch([gateway], [{"kind": "Gateway", "metadata": {"name": "g"},
                                                     "spec": {"ports": [{"port": 80}]}}], "strategic-merge")


def test_anything_but_two_lists_of_objects_and_patches_is_refused():
    with pytest.raises(AnsibleFilterError, match="two lists"):
        unchanged_by_merge_patch(NAMESPACE, [DECLARED])
    with pytest.raises(AnsibleFilterError, match="two lists"):
        unchanged_by_merge_patch([NAMESPACE], "metadata")
    with pytest.raises(AnsibleFilterError, match="a patch is an object"):
        unchanged_by_merge_patch([NAMESPACE], ["metadata"])
    with pytest.raises(AnsibleFilterError, match="merge_type"):
        unchanged_by_merge_patch([NAMESPACE], [DECLARED], "json")
    assert FilterModule().filters()["unchanged_by_merge_patch"] is unchanged_by_merge_patch


KIND_DEFINITIONS = {"Pod": "io.k8s.api.core.v1.Pod", "Deployment": "io.k8s.api.apps.v1.Deployment",
                    "ReplicaSet": "io.k8s.api.apps.v1.ReplicaSet", "StatefulSet": "io.k8s.api.apps.v1.StatefulSet",
                    "DaemonSet": "io.k8s.api.apps.v1.DaemonSet", "Job": "io.k8s.api.batch.v1.Job"}


def _merge_lists(definition: dict) -> dict[str, str]:
    """The list fields of an OpenAPI definition that strategic merge merges item by item, with their key."""
    return {name: field["x-kubernetes-patch-merge-key"] for name, field in definition["properties"].items()
            if "merge" in field.get("x-kubernetes-patch-strategy", "").split(",")
            and "x-kubernetes-patch-merge-key" in field}


def test_the_merge_keys_are_the_kubernetes_openapi_ones():
    # The published Kubernetes schemas the lab validates against (kubernetes-validate), not our own belief.
    schemas = pytest.importorskip("drlab.kube.schemas")
    from ansible_collections.meshdr.alicloud.plugins.filter import unchanged_by_merge_patch as module

    definitions = schemas.builtin_definitions()

    def follow(name: str, path: tuple[str, ...]) -> str:
        for field in path:
            prop = definitions[name]["properties"][field]
            name = prop["$ref"].rsplit("/", 1)[-1]
        return name

    assert _merge_lists(definitions["io.k8s.api.core.v1.PodSpec"]) == module.POD_SPEC_LIST_KEYS
    assert _merge_lists(definitions["io.k8s.api.core.v1.Container"]) == module.CONTAINER_LIST_KEYS
    assert _merge_lists(definitions["io.k8s.api.core.v1.EphemeralContainer"]) == module.CONTAINER_LIST_KEYS
    assert _merge_lists(definitions["io.k8s.api.core.v1.ServiceSpec"]) == module.SERVICE_SPEC_LIST_KEYS
    assert set(KIND_DEFINITIONS) == set(module.POD_SPEC_PATHS)
    for kind, definition in KIND_DEFINITIONS.items():
        assert follow(definition, module.POD_SPEC_PATHS[kind]) == "io.k8s.api.core.v1.PodSpec", kind
    for containers in module.CONTAINER_LISTS:
        item = definitions["io.k8s.api.core.v1.PodSpec"]["properties"][containers]["items"]["$ref"]
        assert item.rsplit(".", 1)[-1] in ("Container", "EphemeralContainer"), containers
