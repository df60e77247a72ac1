"""Bad inputs to the ASM and GTM modules, read-only ones included: each fails with its message, the cloud sees no write.

Every case runs one module's main() in this process (as test_cloud_contract does) against one shared lab, with
the lab's call counters reset first; it asserts the failure message and that the lab counted zero write calls.
The gateway and rate limiter cases with an unreachable or unauthorised cluster kubeconfig run against a
converged mesh (a gateway with one replica, a rate limiter) and also assert that the mesh's objects were left
as they were: those writes go to the mesh's Kubernetes API, which the cloud counters do not see.

Each case is a mistake that an earlier version accepted and wrote (issue 14), or one that it already refused;
the suite is the planted-mistake check of every validation.
"""

from __future__ import annotations

import json
import os

import cloud_support
import pytest
import yaml
from cloud_support import start_lab, stop_lab

from ansible_collections.meshdr.alicloud.plugins.module_utils import k8s
from drlab.testing import free_port

pytestmark = pytest.mark.timeout(300)

# What the module says when the cluster's API cannot be reached, and when it refuses the kubeconfig's token.
KUBE_FAILURE = {"unreachable": "cannot use the kubeconfig of", "unauthorised": "Unauthorized"}
GATEWAY = ("istio.alibabacloud.com/v1beta1", "IstioGateway", "istio-system")
LIMITER = ("istio.alibabacloud.com/v1beta1", "ASMLocalRateLimiter", "istio-system")


def run_module(module_name: str, lab, **args) -> dict:
    """The module's main() in this process (cloud_support.run_module); returns its result, failed or not."""
    return cloud_support.run_module(module_name, lab, **{'api_retries': 2, **args})


def ok(module_name: str, lab, **args) -> dict:
    result = run_module(module_name, lab, **args)
    assert not result.get("failed"), (module_name, result.get("msg"))
    return result


class Site:
    """The shared lab and what the cases need from it: a converged mesh, its gateway and limiter, a pool."""

    def __init__(self, lab, tmp):
        self.lab = lab
        topo = lab.topology
        self.region = topo["regions"][0]
        self.cluster = self.region["clusters"][0]["id"]
        self.zone = topo["zones"][0]
        self.cluster_kubeconfig = os.path.join(lab.dir, "kubeconfig", self.cluster + ".yaml")
        self.mesh_kubeconfig = os.path.join(tmp, "mesh.kubeconfig")
        self.mesh_args = {"name": "safety-mesh", "vpc_id": self.region["vpc_id"],
                          "vswitches": self.region["vswitches"]}
        self.mesh_id = ok("asm_mesh", lab, **self.mesh_args, clusters=[{"id": self.cluster}],
                          kubeconfig_path=self.mesh_kubeconfig)["mesh_id"]
        ok("asm_gateway", lab, **self.gateway_args(self.cluster_kubeconfig), replicas=1, wait_timeout=60)
        ok("asm_ratelimit", lab, **self.limiter_args(self.cluster_kubeconfig), name="safety-limit")
        ok("gtm_pool", lab, name="safety-pool",
           addresses=[{"name": "a1", "address": self.region["address"]}])
        self.unreachable = self.kubeconfig_copy(tmp, "unreachable", server=f"https://127.0.0.1:{free_port()}")
        self.unauthorised = self.kubeconfig_copy(tmp, "unauthorised", token="not-the-token")

    def gateway_args(self, kubeconfig, name="ingressgateway"):
        return {"mesh_id": self.mesh_id, "name": name, "cluster_ids": [self.cluster],
                "cluster_kubeconfigs": {self.cluster: kubeconfig}}

    def limiter_args(self, kubeconfig, quota=10):
        return {"mesh_id": self.mesh_id, "workload_selector": {"app": "istio-ingressgateway"}, "is_gateway": True,
                "cluster_kubeconfig": kubeconfig,
                "configs": [{"name": "all", "match": {"vhost": {"name": "*", "port": 80}},
                             "limit": {"fill_interval": {"seconds": 1}, "quota": quota}}]}

    def kubeconfig_copy(self, tmp, name, server=None, token=None):
        with open(self.cluster_kubeconfig, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        for entry in config["clusters"]:
            if server:
                entry["cluster"]["server"] = server
        for entry in config["users"]:
            if token:
                entry["user"] = {"token": token}  # instead of the client certificate
        path = os.path.join(tmp, name + ".kubeconfig")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        os.chmod(path, 0o600)
        return path

    def mesh_object(self, kind, name):
        api_version, kind_name, namespace = kind
        return k8s.Kube(path=self.mesh_kubeconfig).get(api_version, kind_name, name, namespace)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    lab = start_lab()
    try:
        yield Site(lab, str(tmp_path_factory.mktemp("safety")))
    finally:
        stop_lab(lab)


def refused(site, module_name, *messages, **args) -> dict:
    """Run a case: it fails, says every one of ``messages``, reports no change, and the cloud saw no write."""
    site.lab.admin("calls/reset", {})
    result = run_module(module_name, site.lab, **args)
    calls = site.lab.admin("calls")
    writes = {action: entry["count"] for action, entry in calls["actions"].items() if entry["kind"] == "write"}
    assert result.get("failed"), result
    for message in messages:
        assert message in result["msg"], (message, result["msg"])
    assert not result.get("changed"), result
    assert calls["writes"] == 0, writes
    return result


def mesh(site, **overrides):
    return {**site.mesh_args, "name": "safety-new-mesh", **overrides}


# -- asm_mesh ---------------------------------------------------------------------------------------

MESH_CASES = {
    "name with / < > ;": (dict(name="a/b<c>;"), ["name must be 1-63 characters"]),
    "name too long": (dict(name="m" * 64), ["name must be 1-63 characters"]),
    "bad vpc and no vswitch, both said": (dict(vpc_id="vpc1", vswitches=[]),
                                          ["vpc_id must be a VPC id", "vswitches must list at least one"]),
    "vswitch twice": (dict(vswitches=["vsw-a", "vsw-a"]), ["vswitches lists a vSwitch twice"]),
    "not a vswitch id": (dict(vswitches=["subnet-1"]), ["vswitches must be vSwitch ids"]),
    "distribute weights not 100": (
        dict(locality_lb_conf={"distribute": [{"from": "r/*", "to": {"r/*": 90}}]}), ["add up to 100"]),
    "distribute and failover": (
        dict(locality_lb_conf={"distribute": [{"from": "r/*", "to": {"r/*": 100}}],
                               "failover": [{"from": "a", "to": "b"}]}), ["either distribute or failover"]),
    # declared (required_if): Ansible's own message
    "existing CA without type": (dict(use_existing_ca=True),
                                 ["use_existing_ca is True but all of the following are missing: existing_ca_type"]),
    "plugin CA without its root key": (dict(use_existing_ca=True, existing_ca_type=2, existing_root_ca_cert="x"),
                                       ["existing_ca_type 2 needs existing_root_ca_key",
                                        "existing_root_ca_cert must be a PEM certificate"]),
    "CA material without use_existing_ca": (dict(existing_ca_type=1, existing_ca_cert="x"),
                                            ["given but use_existing_ca is not true"]),
    "cluster twice": (dict(clusters=[{"id": "c1"}, {"id": "c1"}]), ["clusters lists c1 more than once"]),
    "locality off but rules given": (dict(keep_traffic_in_cluster=True, locality_load_balancing=False),
                                     ["need locality_load_balancing"]),
    "kubeconfig_path in a missing directory": (dict(kubeconfig_path="/nonexistent-dir/mesh.kubeconfig"),
                                               ["kubeconfig_path: directory /nonexistent-dir does not exist"]),
}


@pytest.mark.parametrize("case", sorted(MESH_CASES))
def test_asm_mesh_refuses(site, case):
    args, messages = MESH_CASES[case]
    refused(site, "asm_mesh", *messages, **mesh(site, **args))


# -- asm_gateway ------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["unreachable", "unauthorised"])
def test_asm_gateway_checks_the_cluster_before_changing_the_gateway(site, which):
    """Was: replicas 1 -> 2 in the mesh (doubling the effective rate limit), then a failure saying changed=false."""
    before = site.mesh_object(GATEWAY, "ingressgateway")
    result = refused(site, "asm_gateway", KUBE_FAILURE[which], **site.gateway_args(getattr(site, which)), replicas=2,
                     wait_timeout=30)
    assert result.get("writes") is None, result
    after = site.mesh_object(GATEWAY, "ingressgateway")
    assert after["spec"]["replicaCount"] == 1
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.parametrize("which", ["unreachable", "unauthorised"])
def test_asm_gateway_checks_the_cluster_before_creating_a_gateway(site, which):
    """Was: a new IstioGateway created, then a failure saying changed=false."""
    refused(site, "asm_gateway", KUBE_FAILURE[which], **site.gateway_args(getattr(site, which), name="safety-new-gw"),
            wait_timeout=30)
    assert site.mesh_object(GATEWAY, "safety-new-gw") is None


GATEWAY_CASES = {
    "name not a DNS label": (dict(name="Bad_Name"), ["name must be a DNS label of at most 57"]),
    "zero replicas and hpa min > max, both said": (
        dict(replicas=0, hpa={"min_replicas": 3, "max_replicas": 2}),
        ["replicas must be >= 1", "1 <= min_replicas <= max_replicas"]),
    "port out of range and names twice": (
        dict(ports=[{"name": "http-0", "port": 70000}, {"name": "http-0", "port": 81}]),
        ["ports[0].port must be 1-65535", "ports: names used twice: http-0"]),
    "port name not a DNS label": (dict(ports=[{"name": "HTTP 0", "port": 80}]), ["ports[0].name must be a DNS"]),
    "hpa cpu target over 100": (dict(hpa={"min_replicas": 1, "max_replicas": 2, "cpu_target": 150}),
                                ["hpa.cpu_target is a utilisation percentage"]),
    "wait without a kubeconfig for a target": (dict(cluster_ids=["c-other"]),
                                               ["cluster_kubeconfigs lacks c-other"]),
    "kubeconfig file missing": (dict(cluster_kubeconfigs={"c-x": "/nonexistent/c-x.yaml"}, cluster_ids=["c-x"]),
                                ["cluster_kubeconfigs.c-x: kubeconfig file /nonexistent/c-x.yaml does not exist"]),
}


@pytest.mark.parametrize("case", sorted(GATEWAY_CASES))
def test_asm_gateway_refuses(site, case):
    args, messages = GATEWAY_CASES[case]
    before = site.mesh_object(GATEWAY, "ingressgateway")
    refused(site, "asm_gateway", *messages, **dict(site.gateway_args(site.cluster_kubeconfig), **args))
    assert site.mesh_object(GATEWAY, "ingressgateway")["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]


# -- asm_ratelimit ----------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["unreachable", "unauthorised"])
def test_asm_ratelimit_checks_the_cluster_before_changing_the_limiter(site, which):
    before = site.mesh_object(LIMITER, "safety-limit")
    refused(site, "asm_ratelimit", KUBE_FAILURE[which], **site.limiter_args(getattr(site, which), quota=99),
            name="safety-limit")
    after = site.mesh_object(LIMITER, "safety-limit")
    assert after["spec"]["configs"][0]["limit"]["quota"] == 10
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.parametrize("which", ["unreachable", "unauthorised"])
def test_asm_ratelimit_checks_the_cluster_before_creating_a_limiter(site, which):
    """Was: a new ASMLocalRateLimiter created, then a failure saying changed=false."""
    refused(site, "asm_ratelimit", KUBE_FAILURE[which], **site.limiter_args(getattr(site, which)),
            name="safety-new-limit")
    assert site.mesh_object(LIMITER, "safety-new-limit") is None


def limiter_config(**limit):
    return {"name": "all", "match": {"vhost": {"name": "*", "port": 80}},
            "limit": dict({"fill_interval": {"seconds": 1}, "quota": 10}, **limit)}


RATELIMIT_CASES = {
    "no configs and no selector, both said": (dict(configs=[], workload_selector={}),
                                              ["configs must list at least one", "workload_selector must give"]),
    "zero quota and zero interval, both said": (
        dict(configs=[limiter_config(quota=0, fill_interval={"seconds": 0})]),
        ["limit.quota must be > 0", "limit.fill_interval must be > 0"]),
    "status not an error": (dict(configs=[limiter_config(status=200)]), ["limit.status must be an HTTP error"]),
    "name not an object name": (dict(name="Bad/Name"), ["name must be a DNS-1123 subdomain"]),
    "namespace not a label": (dict(namespace="Bad_NS"), ["namespace must be a DNS label"]),
    "config names twice": (dict(configs=[limiter_config(), limiter_config()]), ["configs: names used twice: all"]),
    "cluster kubeconfig missing": (dict(cluster_kubeconfig="/nonexistent/cluster.yaml"),
                                   ["cluster_kubeconfig: kubeconfig file /nonexistent/cluster.yaml does not exist"]),
}


@pytest.mark.parametrize("case", sorted(RATELIMIT_CASES))
def test_asm_ratelimit_refuses(site, case):
    args, messages = RATELIMIT_CASES[case]
    refused(site, "asm_ratelimit", *messages,
            **{**site.limiter_args(site.cluster_kubeconfig), "name": "safety-other-limit", **args})


# -- gtm_monitor ------------------------------------------------------------------------------------

MONITOR_CASES = {
    "interval and timeout off the service's sets, both said": (
        dict(interval=7, timeout=1234), ["interval must be one of 15, 60", "timeout must be one of 2000"]),
    "timeout longer than interval": (dict(interval=1, timeout=2000, lab_short_intervals=True),
                                     ["must not exceed interval"]),
    "path without slash and ping option on http": (dict(path="health", packet_num=20),
                                                   ["path must start with '/'", "packet_num applies to protocol ping"]),
    "probe point twice": (dict(probe_points=[{"city_code": "503", "isp_code": "465"}] * 2),
                          ["probe point city_code=503 isp_code=465 is listed more than once"]),
    "empty name": (dict(name=""), ["name must be a non-empty template name"]),
    "probe point the service does not offer": (dict(probe_points=[{"city_code": "999", "isp_code": "465"}]),
                                               ["probe point city_code=999 isp_code=465 is not an IPv4 node"]),
    "host header not a host": (dict(host="a b<c>"), ["host: 'a b<c>' is not a host name"]),
}


@pytest.mark.parametrize("case", sorted(MONITOR_CASES))
def test_gtm_monitor_refuses(site, case):
    args, messages = MONITOR_CASES[case]
    refused(site, "gtm_monitor", *messages, **dict(dict(name="safety-http", probe_protocol="http"), **args))


# -- gtm_pool ---------------------------------------------------------------------------------------

def address(name, value, **extra):
    return dict(name=name, address=value, **extra)


POOL_CASES = {
    "empty pool": (dict(addresses=[]), ["addresses, when given, must list at least one address"]),
    "same IP twice": (dict(addresses=[address("a", "10.0.0.1"), address("b", "10.0.0.1")]),
                      ["address 10.0.0.1 is listed more than once"]),
    "same IPv6 twice in two spellings": (
        dict(type="IPv6", addresses=[address("a", "2001:db8::1"), address("b", "2001:DB8:0::1")]),
        ["address 2001:db8::1 is listed more than once"]),
    "not an IPv4 address": (dict(addresses=[address("a", "10.0.0.256")]), ["'10.0.0.256' is not an IPv4 address"]),
    "not an IPv6 address": (dict(type="IPv6", addresses=[address("a", "fe80::1::2")]),
                            ["'fe80::1::2' is not an IPv6 address"]),
    "weights 0 and 101, both said": (
        dict(addresses=[address("a", "10.0.0.1", weight=0), address("b", "10.0.0.2", weight=101)]),
        ["addresses[1] (a): weight must be between 1 and 100", "addresses[2] (b): weight must be between 1 and 100"]),
    "domain address with a slash": (dict(type="domain", addresses=[address("a", "a/b.example.com")]),
                                    ["'a/b.example.com' is not a domain name"]),
    "manual status without manual mode": (dict(addresses=[address("a", "10.0.0.1", manual_status="available")]),
                                          ["manual_status needs available_mode=manual"]),
    # declared (required_if of the addresses suboptions): Ansible's own message
    "manual mode without a status": (dict(addresses=[address("a", "10.0.0.1", available_mode="manual")]),
                                     ["available_mode is manual but all of the following are missing: manual_status"]),
    "health task template missing": (
        dict(addresses=[address("a", "10.0.0.1", health_tasks=[{"template": "no-such-template", "port": 80}])]),
        ["health task template no-such-template does not exist"]),
    "address type differs from the pool's": (dict(addresses=[address("a", "10.0.0.1", type="IPv6")]),
                                             ["type IPv6 does not match the pool type IPv4"]),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_gtm_pool_refuses(site, case):
    args, messages = POOL_CASES[case]
    refused(site, "gtm_pool", *messages, **dict(dict(name="safety-new-pool"), **args))


# -- gtm_domain -------------------------------------------------------------------------------------

DOMAIN_CASES = {
    "hostname a/b<c>": (dict(hostname="a/b<c>"), ["hostname: 'a/b<c>' is not a host name"]),
    "hostname label over 63": (dict(hostname="h" * 64), ["is not a host name"]),
    "zone of one label": (dict(zone="localhost"), ["zone must be a domain name"]),
    "ttl 0 and pool weight 200, both said": (dict(ttl=0, pools=[{"name": "safety-pool", "weight": 200}]),
                                             ["ttl must be between 1 and 86400",
                                              "pool safety-pool: weight must be between 1 and 100"]),
    "no pools": (dict(pools=[]), ["pools, when given, must list at least one address pool"]),
    "pool missing": (dict(pools=[{"name": "no-such-pool"}]), ["pool no-such-pool does not exist"]),
    "business record is the domain itself": (
        dict(business_record={"zone": "ZONE", "rr": "safety"}), ["must not be the access domain itself"]),
    "prepay without instance": (dict(charge_type="prepay"),
                                ["charge_type is prepay but all of the following are missing: instance_id"]),
    "hostname with the zone in it": (dict(hostname="safety.ZONE"), ["hostname must be the host part inside zone"]),
    "pool of the wrong type for AAAA": (dict(rr_type="AAAA"), ["rr_type AAAA needs IPv6 pools"]),
}


@pytest.mark.parametrize("case", sorted(DOMAIN_CASES))
def test_gtm_domain_refuses(site, case):
    args, messages = DOMAIN_CASES[case]
    args = json.loads(json.dumps(args).replace("ZONE", site.zone))
    base = dict(zone=site.zone, hostname="safety", pools=[{"name": "safety-pool"}])
    refused(site, "gtm_domain", *messages, **dict(base, **args))


# -- the read-only modules: a lookup that cannot name anything is a mistake, said before any call -----------

READ_CASES = {
    "cloud_probe: zone without hostname": ("cloud_probe", dict(zone="ZONE"),
                                           ["parameters are required together: zone, hostname"]),
    "cloud_probe: hostname a/b<c>": ("cloud_probe", dict(zone="ZONE", hostname="a/b<c>"),
                                     ["hostname: 'a/b<c>' is not a host name"]),
    "cloud_probe: mesh name with / and a one-label zone, both said": (
        "cloud_probe", dict(mesh_names=["ok-mesh", "a/b"], zone="localhost", hostname="www"),
        ["mesh_names: name must be 1-63 characters", "zone must be a domain name"]),
    "asm_mesh_info: name with / < > ;": ("asm_mesh_info", dict(name="a/b<c>;"), ["name must be 1-63 characters"]),
    "asm_mesh_info: include_clusters not a boolean": ("asm_mesh_info", dict(include_clusters="sometimes"),
                                                      ["include_clusters", "is not a valid boolean"]),
    "gtm_info: config_id and zone both": ("gtm_info", dict(config_id="config-1", zone="ZONE", hostname="www"),
                                          ["parameters are mutually exclusive: config_id|zone"]),
    "gtm_info: neither config_id nor zone": ("gtm_info", dict(), ["one of the following is required: config_id, zone"]),
    "gtm_info: hostname with the zone in it": ("gtm_info", dict(zone="ZONE", hostname="www.ZONE"),
                                               ["hostname must be the host part inside zone"]),
}


@pytest.mark.parametrize("case", sorted(READ_CASES))
def test_read_only_modules_refuse(site, case):
    module_name, args, messages = READ_CASES[case]
    args = json.loads(json.dumps(args).replace("ZONE", site.zone))
    site.lab.admin("calls/reset", {})
    refused(site, module_name, *messages, **args)
    made = {action: entry["count"] for action, entry in site.lab.admin("calls")["actions"].items() if entry["count"]}
    assert made == {}, made  # not even a read


def test_the_suite_has_at_least_forty_cases():
    cases = (len(MESH_CASES) + len(GATEWAY_CASES) + len(RATELIMIT_CASES) + len(MONITOR_CASES) + len(POOL_CASES)
             + len(DOMAIN_CASES) + len(READ_CASES) + 8)
    assert cases >= 40, cases


# -- a failure after a write says so ----------------------------------------------------------------

def test_a_failure_after_a_write_reports_changed_and_what(site):
    """The pool is created, then the reply to the next write is lost (and not repeated: api_retries=1).

    Was: changed=false although the pool existed.  Now: changed=true and the writes made so far."""
    site.lab.admin("faults", {"drop_reply_next": 1, "drop_reply_actions": ["UpdateCloudGtmAddressPoolLbStrategy"]})
    try:
        result = run_module("gtm_pool", site.lab, name="safety-midway-pool", lb_strategy="round_robin",
                            addresses=[address("a", "10.0.0.9")], api_retries=1)
    finally:
        site.lab.admin("faults", {"drop_reply_next": 0, "drop_reply_actions": []})
    assert result.get("failed"), result
    assert result["changed"] is True, result
    assert result["writes"][:2] == ["CreateCloudGtmAddressPool",
                                    "UpdateCloudGtmAddressPoolLbStrategy (outcome unknown)"], result
    ok("gtm_pool", site.lab, name="safety-midway-pool", state="absent")
