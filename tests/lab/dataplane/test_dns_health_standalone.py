"""The GTM DNS server and health checker on real sockets, with dnspython and real TCP listeners."""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import time

import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from drlab.dataplane.dns import Answer, DnsServer
from drlab.dataplane.health import HealthChecker
from drlab.testing import free_port

HOST = "127.0.0.1"
ZONE = "meshdr-lab.example.com"


def _lookup(name: str, qtype: str) -> Answer:
    if not (name == ZONE or name.endswith("." + ZONE)):
        return Answer("REFUSED")
    if name == ZONE:
        return Answer(zone=ZONE)
    if name == f"gtm.{ZONE}":
        if qtype != "A":
            return Answer(zone=ZONE)
        addrs = [{"address": "127.0.1.1", "weight": 80}, {"address": "127.0.2.1", "weight": 20}]
        chosen = random.choices(addrs, weights=[a["weight"] for a in addrs])[0]
        return Answer(records=[("A", chosen["address"], 7)], zone=ZONE)
    if name == f"www.{ZONE}":
        return Answer(records=[("CNAME", f"gtm.{ZONE}", 600)], zone=ZONE)
    if name == f"big.{ZONE}":
        return Answer(records=[("A", f"10.0.0.{i}", 60) for i in range(1, 60)], zone=ZONE)
    return Answer("NXDOMAIN", zone=ZONE)


def test_dns_answers():
    port = free_port()

    async def scenario():
        server = DnsServer(HOST, port, _lookup, lambda zone: (f"ns1.{zone}", 30))
        await server.start()
        try:
            res = dns.resolver.Resolver(configure=False)
            res.nameservers = [HOST]
            res.port = port
            res.lifetime = 3

            def run():
                counts = collections.Counter()
                for _ in range(300):
                    ans = res.resolve(f"gtm.{ZONE}", "A")
                    assert ans.rrset.ttl == 7
                    counts.update(r.address for r in ans)
                assert set(counts) == {"127.0.1.1", "127.0.2.1"}
                cname = res.resolve(f"www.{ZONE}", "A")
                assert cname.response.answer[0].rdtype == dns.rdatatype.CNAME
                with pytest.raises(dns.resolver.NXDOMAIN):
                    res.resolve(f"nope.{ZONE}", "A")
                assert res.resolve(ZONE, "SOA")[0].mname.to_text() == f"ns1.{ZONE}."
                assert res.resolve(ZONE, "NS")[0].target.to_text() == f"ns1.{ZONE}."
                with pytest.raises(dns.resolver.NoAnswer):
                    res.resolve(f"gtm.{ZONE}", "TXT")
                q = dns.message.make_query("example.org", "A")
                assert dns.query.udp(q, HOST, port=port, timeout=2).rcode() == dns.rcode.REFUSED
                nx = dns.query.udp(dns.message.make_query(f"nope.{ZONE}", "A"), HOST, port=port, timeout=2)
                assert nx.authority[0].rdtype == dns.rdatatype.SOA
                # 59 A records do not fit 512 bytes: TC with the question kept, then TCP retry
                udp = dns.query.udp(dns.message.make_query(f"big.{ZONE}", "A", use_edns=False), HOST,
                                    port=port, timeout=2)
                assert udp.flags & dns.flags.TC and udp.question
                assert len(res.resolve(f"big.{ZONE}", "A")) == 59
            await asyncio.to_thread(run)
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_health_checker_detects_and_recovers():
    addr = "127.0.0.1"
    port = free_port()
    events: list[tuple[float, str, str]] = []
    target = {"address_id": "addr-1", "address": addr, "enabled": True, "manual": False, "judgement": "any_ok",
              "health_status": "ok", "available_status": "available",
              "tasks": [{"protocol": "tcp", "port": port, "interval": 0.5, "timeout_ms": 500,
                         "evaluation_count": 2, "failure_rate": 50, "nodes": 3}]}

    async def scenario():
        listener = socket.socket()
        listener.bind((addr, port))
        listener.listen(50)
        checker = HealthChecker(lambda: [target],
                                lambda key, h, a, reason: events.append((time.monotonic(), h, a)))
        checker.sync()
        await asyncio.sleep(1.2)
        assert events == []  # healthy from the start: nothing to report
        listener.close()
        down_at = time.monotonic()
        for _ in range(40):
            await asyncio.sleep(0.1)
            if events:
                break
        assert events and events[-1][1:] == ("exceptional", "unavailable")
        assert events[-1][0] - down_at <= 0.5 * 2 + 0.5 + 1
        listener = socket.socket()
        listener.bind((addr, port))
        listener.listen(50)
        for _ in range(40):
            await asyncio.sleep(0.1)
            if events[-1][1:] == ("ok", "available"):
                break
        assert events[-1][1:] == ("ok", "available")
        checker.stop()
        listener.close()

    asyncio.run(scenario())


def test_health_checker_http_threshold_and_manual_mode():
    """HTTP status >= code fails; a manual-mode address keeps its availability while its health is reported."""
    from aiohttp import web

    events: list[tuple[str, str, str]] = []
    port = free_port()
    state = {"status": 200}

    async def handler(request):
        assert request.headers["Host"] == "probe.example.com"
        return web.Response(status=state["status"])

    def target(manual: bool) -> dict:
        return {"address_id": "m" if manual else "a", "address": "127.0.0.1", "enabled": True, "manual": manual,
                "judgement": "any_ok", "health_status": "ok", "available_status": "available",
                "tasks": [{"protocol": "http", "port": port, "host": "probe.example.com", "path": "/health",
                           "code": 500, "interval": 0.3, "timeout_ms": 500, "evaluation_count": 1,
                           "failure_rate": 100, "nodes": 2}]}

    async def scenario():
        app = web.Application()
        app.router.add_get("/health", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        checker = HealthChecker(lambda: [target(False), target(True)],
                                lambda key, h, a, reason: events.append((key, h, a)))
        checker.sync()
        state["status"] = 404  # below the 500 threshold: still healthy
        await asyncio.sleep(0.8)
        assert events == []
        state["status"] = 503
        for _ in range(30):
            await asyncio.sleep(0.1)
            if len(events) >= 2:
                break
        assert ("a", "exceptional", "unavailable") in events
        assert ("m", "exceptional", "available") in events  # manual: availability is the user's
        checker.stop()
        await runner.cleanup()

    asyncio.run(scenario())
