"""module_utils/contract.py: answers compared with the SDK's own response models (cloud_probe uses it)."""

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshdr.alicloud.plugins.module_utils import alicloud, contract

DETAIL = contract.response_body_model("servicemesh", "DescribeServiceMeshDetail")


def test_fields_come_from_the_model_with_their_wire_names():
    fields = contract.model_fields(DETAIL)
    assert set(fields) == {"RequestId", "ServiceMesh"}
    mesh_config = contract.model_fields(contract.model_fields(contract.model_fields(fields["ServiceMesh"])["Spec"])[
        "MeshConfig"])
    assert "LocalityLB" in mesh_config and "ExtraConfiguration" in mesh_config


def test_an_answer_as_the_sdk_declares_it_has_no_difference():
    answer = {"RequestId": "r", "ServiceMesh": {"ServiceMeshInfo": {"ServiceMeshId": "c1", "State": "running"},
                                                "Spec": {"MeshConfig": {"LocalityLB": {"Enabled": True,
                                                                                       "Failover": {}}}},
                                                "Clusters": ["c-1"]}}
    assert contract.shape_differences(DETAIL, answer) == []


@pytest.mark.parametrize("planted,where,problem", [
    ({"Failover": [{"from": "a", "to": "b"}]}, "ServiceMesh.Spec.MeshConfig.LocalityLB.Failover",
     "the SDK declares object, got list"),
    ({"Enabled": "true"}, "ServiceMesh.Spec.MeshConfig.LocalityLB.Enabled", "the SDK declares bool, got str"),
    ({"Enable": True}, "ServiceMesh.Spec.MeshConfig.LocalityLB.Enable", "not in the SDK model"),
])
def test_a_planted_difference_is_named_with_its_path(planted, where, problem):
    answer = {"ServiceMesh": {"Spec": {"MeshConfig": {"LocalityLB": planted}}}}
    assert contract.shape_differences(DETAIL, answer) == [(where, problem)]


def test_lists_of_models_are_walked_element_by_element():
    nodes = contract.response_body_model("alidns", "ListCloudGtmMonitorNodes")
    answer = {"Ipv4IspCityNodes": {"Ipv4IspCityNode": [{"CityCode": "503", "GroupType": "BGP"},
                                                       {"CityCode": 503, "Group": "x"}]}}
    assert contract.shape_differences(nodes, answer) == [
        ("Ipv4IspCityNodes.Ipv4IspCityNode[1].CityCode", "the SDK declares str, got int"),
        ("Ipv4IspCityNodes.Ipv4IspCityNode[1].Group", "not in the SDK model"),
    ]


def test_read_path_walks_lists():
    answer = {"A": {"B": [{"C": 1}, {"C": 2}, {}]}}
    assert contract.read_path(answer, "A.B[].C") == [1, 2]
    assert contract.read_path(answer, "A.X") == []


def test_a_read_only_module_refuses_a_write_before_sending_it():
    with patch_module_args({"access_key_id": "a", "access_key_secret": "b", "servicemesh_endpoint": "127.0.0.1:9",
                            "protocol": "http"}):
        module = alicloud.AlibabaCloudModule(argument_spec={}, read_only=True, supports_check_mode=True)
    with pytest.raises(alicloud.AlicloudError, match="not a read operation") as raised:
        module.call("servicemesh", "CreateServiceMesh", Name="x")
    assert raised.value.code == "ReadOnly"
    assert module.api_calls == []
