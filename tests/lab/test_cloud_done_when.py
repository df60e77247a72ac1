"""Issue #3 "Done when", as a new user would try it.

``drlab up`` (through the CLI, default timings and intervals), then only the official SDKs fed
with what ``drlab env`` prints: create a mesh and see it become ``running``; build a GTM
template, two addresses, a pool and an access domain and read them back; a wrong secret is
refused by both products.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time

import pytest
from alibabacloud_alidns20150109 import models as d
from alibabacloud_alidns20150109.client import Client as DnsClient
from alibabacloud_servicemesh20200111 import models as m
from alibabacloud_servicemesh20200111.client import Client as MeshClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException

from drlab.testing import LabHandle

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lab():
    handle = LabHandle(short_intervals=False).up()  # the topology file only picks free ports
    yield handle
    handle.down()
    shutil.rmtree(handle.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def env(lab) -> dict[str, str]:
    """What a user would paste from ``drlab env``."""
    out = {}
    for line in lab.cli("env").stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        out[name] = shlex.split(value)[0]
    return out


def _config(env: dict[str, str], endpoint_var: str, secret: str | None = None) -> open_api_models.Config:
    return open_api_models.Config(access_key_id=env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                  access_key_secret=secret or env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                                  endpoint=env[endpoint_var], protocol=env["MESHDR_ALICLOUD_PROTOCOL"])


def test_a_new_user_builds_a_mesh_and_a_gtm_access_domain_with_the_sdks(lab, env):
    status = json.loads(lab.cli("status", "--json").stdout)
    region, zone = status["regions"][0], status["zones"][0]
    mesh = MeshClient(_config(env, "MESHDR_SERVICEMESH_ENDPOINT"))
    dns = DnsClient(_config(env, "MESHDR_ALIDNS_ENDPOINT"))

    # A mesh: initial at first, running after the emulated provisioning delay.
    mesh_id = mesh.create_service_mesh(m.CreateServiceMeshRequest(
        region_id=region["id"], vpc_id=region["vpc_id"], name="first-mesh",
        v_switches=json.dumps(region["vswitches"]))).body.service_mesh_id
    states = []
    deadline = time.monotonic() + 30
    while not states or states[-1] != "running":
        assert time.monotonic() < deadline, f"mesh stuck in {states[-1:]}"
        info = mesh.describe_service_mesh_detail(m.DescribeServiceMeshDetailRequest(
            service_mesh_id=mesh_id)).body.service_mesh.service_mesh_info
        states.append(info.state)
        time.sleep(0.3)
    assert states[0] == "initial" and info.name == "first-mesh" and info.region_id == region["id"]
    listed = mesh.describe_service_meshes(m.DescribeServiceMeshesRequest()).body.service_meshes
    assert [x.service_mesh_info.service_mesh_id for x in listed] == [mesh_id]

    # A monitor template on the probe points the service offers.
    nodes = dns.list_cloud_gtm_monitor_nodes(d.ListCloudGtmMonitorNodesRequest()).body
    node = nodes.ipv_4isp_city_nodes.ipv_4isp_city_node[0]
    template_id = dns.create_cloud_gtm_monitor_template(d.CreateCloudGtmMonitorTemplateRequest(
        name="tcp-443", protocol="tcp", ip_version="IPv4", interval=60, timeout=5000, evaluation_count=2,
        failure_rate=50, isp_city_nodes=[d.CreateCloudGtmMonitorTemplateRequestIspCityNodes(
            city_code=node.city_code, isp_code=node.isp_code)])).body.template_id

    # Two addresses (one per region's gateway), monitored by the template.
    addresses = {}
    for name, ip in (("gw-hangzhou", "192.0.2.10"), ("gw-singapore", "192.0.2.20")):
        addresses[name] = dns.create_cloud_gtm_address(d.CreateCloudGtmAddressRequest(
            name=name, address=ip, type="IPv4", enable_status="enable", available_mode="auto",
            health_judgement="any_ok", health_tasks=[d.CreateCloudGtmAddressRequestHealthTasks(
                template_id=template_id, port=443)])).body.address_id

    # A pool holding both, then the access domain (postpay creates its instance) serving the pool.
    pool_id = dns.create_cloud_gtm_address_pool(d.CreateCloudGtmAddressPoolRequest(
        address_pool_name="gateways", address_pool_type="IPv4", enable_status="enable",
        health_judgement="any_ok")).body.address_pool_id
    dns.replace_cloud_gtm_address_pool_address(d.ReplaceCloudGtmAddressPoolAddressRequest(
        address_pool_id=pool_id, addresses=[d.ReplaceCloudGtmAddressPoolAddressRequestAddresses(
            address_id=a, weight_value=50, serial_number=i) for i, a in enumerate(addresses.values(), start=1)]))
    created = dns.create_cloud_gtm_instance_config(d.CreateCloudGtmInstanceConfigRequest(
        charge_type="postpay", schedule_zone_mode="custom", schedule_zone_name=zone, schedule_hostname="shop",
        schedule_rr_type="A", ttl=30, enable_status="enable")).body
    dns.replace_cloud_gtm_instance_config_address_pool(d.ReplaceCloudGtmInstanceConfigAddressPoolRequest(
        instance_id=created.instance_id, config_id=created.config_id,
        address_pools=[d.ReplaceCloudGtmInstanceConfigAddressPoolRequestAddressPools(
            address_pool_id=pool_id, weight_value=1)]))

    # Read everything back.
    template = dns.describe_cloud_gtm_monitor_template(d.DescribeCloudGtmMonitorTemplateRequest(
        template_id=template_id)).body
    assert (template.name, template.protocol, template.interval, template.evaluation_count) == ("tcp-443", "tcp",
                                                                                                 60, 2)
    for name, address_id in addresses.items():
        address = dns.describe_cloud_gtm_address(d.DescribeCloudGtmAddressRequest(address_id=address_id)).body
        assert address.name == name and address.address.startswith("192.0.2.")
        assert [t.template_id for t in address.health_tasks.health_task] == [template_id]
    pool = dns.describe_cloud_gtm_address_pool(d.DescribeCloudGtmAddressPoolRequest(address_pool_id=pool_id)).body
    assert sorted(a.address_id for a in pool.addresses.address) == sorted(addresses.values())
    full = dns.describe_cloud_gtm_instance_config_full_info(d.DescribeCloudGtmInstanceConfigFullInfoRequest(
        instance_id=created.instance_id, config_id=created.config_id)).body
    assert full.schedule_domain_name == f"shop.{zone}" and full.ttl == 30
    assert [p.address_pool_id for p in full.address_pools.address_pool] == [pool_id]
    instances = dns.list_cloud_gtm_instances(d.ListCloudGtmInstancesRequest()).body.instances.instance
    assert created.instance_id in [i.instance_id for i in instances]


@pytest.mark.parametrize("endpoint_var", ["MESHDR_SERVICEMESH_ENDPOINT", "MESHDR_ALIDNS_ENDPOINT"])
def test_a_wrong_secret_is_refused(env, endpoint_var):
    config = _config(env, endpoint_var, secret="x" + env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"])
    with pytest.raises(ClientException) as info:
        if endpoint_var == "MESHDR_SERVICEMESH_ENDPOINT":
            MeshClient(config).describe_service_meshes(m.DescribeServiceMeshesRequest())
        else:
            DnsClient(config).list_cloud_gtm_instances(d.ListCloudGtmInstancesRequest())
    assert info.value.code == "SignatureDoesNotMatch" and info.value.status_code == 400
