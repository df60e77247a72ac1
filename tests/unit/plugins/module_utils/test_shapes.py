"""module_utils/contract.py: answers compared with the SDK's own response models (cloud_probe uses it)."""

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshdr.alicloud.plugins.module_utils import alicloud, contract

DETAIL = contract.response_body_model("servicemesh", "DescribeServiceMeshDetail")


def test_fields_come_from_the_model_with_their_wire_names_and_types():
    fields = contract.schema(DETAIL)
    assert set(fields) == {"RequestId", "ServiceMesh"}
    assert fields["RequestId"] == contract.Type("str")
    mesh_config = contract.schema(contract.schema(contract.schema(fields["ServiceMesh"].model)["Spec"].model)[
        "MeshConfig"].model)
    assert str(mesh_config["LocalityLB"]) == "DescribeServiceMeshDetailResponseBodyServiceMeshSpecMeshConfigLocalityLB"
    assert "ExtraConfiguration" in mesh_config


def test_an_answer_as_the_sdk_declares_it_has_no_difference():
    answer = {"RequestId": "r", "ServiceMesh": {"ServiceMeshInfo": {"ServiceMeshId": "c1", "State": "running"},
                                                "Spec": {"MeshConfig": {"LocalityLB": {"Enabled": True,
                                                                                       "Failover": {}}}},
                                                "Clusters": ["c-1"]}}
    assert contract.shape_differences(DETAIL, answer) == []


@pytest.mark.parametrize("planted,where,problem", [
    ({"Failover": [{"from": "a", "to": "b"}]}, "ServiceMesh.Spec.MeshConfig.LocalityLB.Failover",
     "the SDK types it Dict[str, any], got list"),
    ({"Enabled": "true"}, "ServiceMesh.Spec.MeshConfig.LocalityLB.Enabled", "the SDK types it bool, got str 'true'"),
    ({"Enable": True}, "ServiceMesh.Spec.MeshConfig.LocalityLB.Enable",
     "not a field of DescribeServiceMeshDetailResponseBodyServiceMeshSpecMeshConfigLocalityLB (from_map drops it)"),
])
def test_a_planted_difference_is_named_with_its_path(planted, where, problem):
    answer = {"ServiceMesh": {"Spec": {"MeshConfig": {"LocalityLB": planted}}}}
    assert contract.shape_differences(DETAIL, answer) == [(where, problem)]


def test_lists_of_models_are_walked_element_by_element():
    nodes = contract.response_body_model("alidns", "ListCloudGtmMonitorNodes")
    answer = {"Ipv4IspCityNodes": {"Ipv4IspCityNode": [{"CityCode": "503", "GroupType": "BGP"},
                                                       {"CityCode": 503, "Group": "x"}]}}
    problems = contract.shape_differences(nodes, answer)
    assert [where for where, _problem in problems] == ["Ipv4IspCityNodes.Ipv4IspCityNode[1].CityCode",
                                                       "Ipv4IspCityNodes.Ipv4IspCityNode[1].Group"]
    assert problems[0][1] == "the SDK types it str, got int 503"
    assert contract.is_unknown_field(problems[1][1]) and not contract.is_unknown_field(problems[0][1])


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
