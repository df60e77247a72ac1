"""Envoy generated from Istio objects, run for real: routes, 404, rate limit, locality, config swap."""

from __future__ import annotations

import asyncio
import http.client
import os
import random
import signal
import socket
import tempfile
import urllib.request

import pytest
from aiohttp import web

from drlab.dataplane.envoy import EnvoySupervisor
from drlab.dataplane.envoyconf import GatewayInputs, translate
from drlab.dataplane.locality import Endpoint
from drlab.testing import free_port

# a random loopback address of our own: fixed ones collide with labs run by other people
ADDR = f"127.{random.randint(10, 99)}.{random.randint(1, 250)}.{random.randint(2, 250)}"

GATEWAY = {"apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway",
           "metadata": {"name": "bookinfo-gateway", "namespace": "default"},
           "spec": {"selector": {"istio": "ingressgateway"},
                    "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}
VS = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
      "metadata": {"name": "bookinfo", "namespace": "default"},
      "spec": {"hosts": ["bookinfo.example.com"], "gateways": ["bookinfo-gateway"],
               "http": [{"name": "productpage-route",
                         "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}}],
                         "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
                        {"name": "api", "match": [{"uri": {"prefix": "/api"}}], "timeout": "5s",
                         "retries": {"attempts": 2, "perTryTimeout": "500ms"},
                         "route": [{"destination": {"host": "productpage", "subset": "v1"}}]}]}}
DR = {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
      "metadata": {"name": "productpage", "namespace": "default"},
      "spec": {"host": "productpage", "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
               "trafficPolicy": {"loadBalancer": {"localityLbSetting": {
                   "distribute": [{"from": "r1/*", "to": {"r1/*": 80, "r2/*": 20}}]}}}}}
RL = {"apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "ASMLocalRateLimiter",
      "metadata": {"name": "rl", "namespace": "istio-system"},
      "spec": {"isGateway": True, "workloadSelector": {"labels": {"app": "istio-ingressgateway"}},
               "configs": [{"match": {"vhost": {"name": "bookinfo.example.com", "port": 8080,
                                                "route": {"name_match": "api"}}},
                            "limit": {"fill_interval": {"seconds": 60}, "quota": 2,
                                      "custom_response_body": "slow down", "status": 503}}]}}


def _upstream(name: str, port: int):
    async def handler(request):
        return web.Response(text=name, headers={"x-up": name})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app, port


def _get(path: str, host: str = "bookinfo.example.com", port: int = 8080) -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection(ADDR, port, timeout=5)
    conn.request("GET", path, headers={"Host": host})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, body, dict(resp.getheaders())


def test_envoy_from_istio_objects():
    ports = [free_port(ADDR), free_port(ADDR)]
    endpoints = [Endpoint("c1", "r1", ADDR, ports[0], {"version": "v1"}),
                 Endpoint("c2", "r2", ADDR, ports[1], {"version": "v1"})]

    def eps(host, port, labels):
        assert host == "productpage.default.svc.cluster.local"
        return [e for e in endpoints if all(e.labels.get(k) == v for k, v in labels.items())]

    inputs = GatewayInputs(address=ADDR, region="r1", locality="r1/c1", ports=[(8080, 8080, "http")],
                           gateways=[GATEWAY], virtual_services=[VS], destination_rules=[DR],
                           rate_limiters=[RL], replicas=2, endpoints=eps)
    lds, cds = translate(inputs, "1")
    listener = lds["resources"][0]
    assert listener["name"] == "0.0.0.0_8080" and listener["enable_reuse_port"] is True
    rc = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    assert rc["name"] == "http.8080"
    assert rc["virtual_hosts"][0]["name"] == "bookinfo.example.com:8080"
    assert [r["name"] for r in rc["virtual_hosts"][0]["routes"]] == ["productpage-route", "productpage-route", "api"]
    api_route = rc["virtual_hosts"][0]["routes"][2]["route"]
    assert api_route["timeout"] == "5s" and api_route["retry_policy"]["num_retries"] == 2
    names = sorted(c["name"] for c in cds["resources"])
    assert names == ["outbound|9080|v1|productpage.default.svc.cluster.local",
                     "outbound|9080||productpage.default.svc.cluster.local"] or len(names) == 2

    async def scenario():
        runners = []
        for name, port in (("c1", ports[0]), ("c2", ports[1])):
            app, _ = _upstream(name, port)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, ADDR, port).start()
            runners.append(runner)
        sup = EnvoySupervisor("t", tempfile.mkdtemp(), ADDR, free_port(ADDR))
        try:
            sup.update(lds, cds)
            assert await sup.start()
            await asyncio.sleep(0.3)
            status, body, headers = await asyncio.to_thread(_get, "/productpage")
            assert status == 200
            # nothing configured for this host -> both localities take traffic
            replies = [await asyncio.to_thread(_get, "/productpage") for _ in range(30)]
            assert all(r[0] == 200 for r in replies), [(r[0], r[1][:80]) for r in replies if r[0] != 200]
            seen = {r[1] for r in replies}
            assert seen == {"c1", "c2"}
            assert (await asyncio.to_thread(_get, "/productpage", "other.example.com"))[0] == 404
            # api route: 80/20 distribute, quota 2 per replica (this Envoy is one replica of 2) then custom 503
            results = [await asyncio.to_thread(_get, "/api/v1/products") for _ in range(4)]
            assert [r[0] for r in results] == [200, 200, 503, 503]
            assert results[-1][1] == "slow down"
            with urllib.request.urlopen(sup.admin_url("stats/prometheus"), timeout=5) as resp:  # noqa: S310
                stats = resp.read().decode()
            assert "envoy_http_local_rate_limit_rate_limited" in stats
            # a config swap reaches the running Envoy without a restart
            pid = sup.pid
            vs2 = {**VS, "spec": {**VS["spec"], "hosts": ["new.example.com"]}}
            sup.update(*translate(GatewayInputs(address=ADDR, region="r1", locality="r1/c1",
                                                ports=[(8080, 8080, "http")], gateways=[GATEWAY],
                                                virtual_services=[vs2], endpoints=eps), "2"))
            for _ in range(40):
                await asyncio.sleep(0.1)
                if (await asyncio.to_thread(_get, "/productpage", "new.example.com"))[0] == 200:
                    break
            assert (await asyncio.to_thread(_get, "/productpage", "new.example.com"))[0] == 200
            assert sup.pid == pid
            await sup.stop()
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((ADDR, 8080), timeout=2)
            assert await sup.start()
            assert (await asyncio.to_thread(_get, "/productpage", "new.example.com"))[0] == 200
            # a crashed Envoy is restarted by its supervisor with the same config
            crashed = sup.pid
            os.kill(crashed, signal.SIGKILL)
            for _ in range(60):
                await asyncio.sleep(0.1)
                if sup.pid != crashed and await sup.wait_ready(0.2):
                    break
            assert sup.pid != crashed and sup.restarts == 1
            assert (await asyncio.to_thread(_get, "/productpage", "new.example.com"))[0] == 200
        finally:
            await sup.close()
            for runner in runners:
                await runner.cleanup()

    asyncio.run(scenario())


def test_privileged_gateway_port_is_served_unprivileged():
    gw = {**GATEWAY, "spec": {**GATEWAY["spec"], "servers": [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}
    vs = {**VS, "spec": {**VS["spec"], "hosts": ["*"]}}
    lds, _ = translate(GatewayInputs(address=ADDR, region="r1", locality="r1/c1", ports=[(80, 8080, "http-0")],
                                     gateways=[gw], virtual_services=[vs]), "1")
    listener = lds["resources"][0]
    # istiod names the listener by targetPort
    assert listener["name"] == "0.0.0.0_8080" and listener["enable_reuse_port"] is True
    assert listener["address"]["socket_address"]["port_value"] == 8080  # 80 -> 8000 + 80, no root needed
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["route_config"]["name"] == "http.80" and hcm["route_config"]["virtual_hosts"][0]["name"] == "*:80"
