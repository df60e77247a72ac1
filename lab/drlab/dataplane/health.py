"""GTM health checks: probe each address per its monitor template and report transitions.

Per health task (template + port) and per round (every ``interval`` seconds) every probe
point (an entry of the template's IspCityNodes) runs its own probe, over its own
connection.  A round fails when the share of failing probe points reaches the template's
failure rate; ``evaluation_count`` consecutive failed rounds make the task unhealthy and the
same number of consecutive good rounds make it healthy again (symmetric recovery).

The address's HealthJudgement (any_ok, p30_ok, p50_ok, p70_ok, all_ok) combines its tasks.
Auto-mode addresses follow their health; manual-mode addresses keep the availability the
user set (their health is still reported); disabled addresses are not probed.

Protocols: http/https (status >= the template's ``code``, 400 or 500, is a failure), tcp
(connect), and ping, done as a TCP connect to the task port because ICMP needs root.
Privileged ports are probed on the same mapped port the gateway listens on (see
``envoyconf.listen_port``).  Only loopback addresses are probed; any other address counts
as a failed probe, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable

import aiohttp

from .envoyconf import listen_port

log = logging.getLogger("drlab.health")

JUDGEMENT = {"any_ok": None, "all_ok": 100, "p30_ok": 30, "p50_ok": 50, "p70_ok": 70}


@dataclass
class TaskState:
    healthy: bool = True
    fails: int = 0
    oks: int = 0
    last_failed_share: float = 0.0


async def probe(task: dict[str, Any], address: str) -> bool:
    """One probe from one probe point; True when it succeeds."""
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:  # a domain-type address: the lab resolves nothing outside itself
        loopback = False
    if not loopback:
        # The lab's probes never leave the machine: an address outside loopback is unreachable.
        return False
    protocol = str(task.get("protocol", "tcp")).lower()
    port = listen_port(int(task.get("port") or (443 if protocol == "https" else 80)))
    timeout = float(task.get("timeout_ms", 2000)) / 1000.0
    try:
        if protocol in ("http", "https"):
            ctx: ssl.SSLContext | bool = False if protocol == "https" else True
            host = task.get("host") or address
            url = f"{protocol}://{address}:{port}{task.get('path') or '/'}"
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout),
                                             connector=aiohttp.TCPConnector(force_close=True, ssl=ctx)) as s:
                async with s.get(url, headers={"Host": host, "User-Agent": "drlab-gtm-probe"},
                                 allow_redirects=bool(task.get("follow_redirect"))) as resp:
                    # ExtendInfo code 400/500: "a return code greater than the threshold" is abnormal (SDK field
                    # comment); the lab fails at the threshold itself too (a 500 is a server error); unverified.
                    return resp.status < int(task.get("code") or 400)
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        writer.close()
        return True
    except (TimeoutError, OSError, aiohttp.ClientError):
        return False


class AddressChecker:
    """Probing loop of one address."""

    def __init__(self, target: dict[str, Any], report: Callable[[dict[str, Any], str, str, str], None]):
        self.target = target
        self.report = report
        self.states = [TaskState() for _ in target["tasks"]]
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _round(self, index: int, task: dict[str, Any]) -> None:
        nodes = max(int(task.get("nodes", 1)), 1)
        results = await asyncio.gather(*(probe(task, self.target["address"]) for _ in range(nodes)))
        share = 100.0 * results.count(False) / nodes
        state = self.states[index]
        state.last_failed_share = share
        threshold = float(task.get("failure_rate", 50))
        # SDK CreateCloudGtmMonitorTemplateRequest.failure_rate and TF's docs say an address is abnormal when the
        # failing share "exceeds" the rate; read literally, FailureRate=100 could never fail, so the lab fails a
        # round when the share reaches it.  Which boundary the service uses is unverified (docs/api-contract.md).
        if share >= threshold and share > 0:
            state.fails, state.oks = state.fails + 1, 0
            if state.fails >= int(task.get("evaluation_count", 1)):
                state.healthy = False
        else:
            state.oks, state.fails = state.oks + 1, 0
            if state.oks >= int(task.get("evaluation_count", 1)):
                state.healthy = True

    async def _run(self) -> None:
        tasks = self.target["tasks"]
        interval = min(float(t.get("interval", 60)) for t in tasks)
        next_at = time.monotonic()
        while True:
            await asyncio.gather(*(self._round(i, t) for i, t in enumerate(tasks)))
            self._evaluate()
            next_at += interval
            await asyncio.sleep(max(next_at - time.monotonic(), 0.05))

    def _evaluate(self) -> None:
        ok = [s.healthy for s in self.states]
        need = JUDGEMENT.get(self.target.get("judgement") or "any_ok")
        judged = any(ok) if need is None else 100.0 * sum(ok) / len(ok) >= need
        health = ("ok" if all(ok) else "ok_alert") if judged else "exceptional"
        if self.target.get("manual"):
            available = self.target.get("available_status", "available")
        else:
            available = "available" if judged else "unavailable"
        shares = ",".join(f"{s.last_failed_share:.0f}%" for s in self.states)
        self.report(self.target, health, available, f"probe failure share {shares}")


class HealthChecker:
    """Keeps one AddressChecker per monitored, enabled address, following config changes."""

    def __init__(self, targets: Callable[[], list[dict[str, Any]]],
                 set_health: Callable[[str, str, str, str], Any]):
        self.targets = targets
        self.set_health = set_health
        self.checkers: dict[str, tuple[str, AddressChecker]] = {}
        self.reported: dict[str, tuple[str, str]] = {}

    def _report(self, target: dict[str, Any], health: str, available: str, reason: str) -> None:
        key = target["address_id"]
        current = self.reported.get(key, (target.get("health_status"), target.get("available_status")))
        if current != (health, available):
            self.reported[key] = (health, available)
            self.set_health(key, health, available, reason)

    def sync(self) -> None:
        wanted = {}
        for target in self.targets():
            if not target.get("enabled", True) or not target.get("tasks"):
                continue
            signature = json.dumps({k: v for k, v in target.items()
                                    if k not in ("health_status", "available_status")}, sort_keys=True)
            wanted[target["address_id"]] = (signature, target)
        for key in list(self.checkers):
            if key not in wanted or wanted[key][0] != self.checkers[key][0]:
                self.checkers.pop(key)[1].stop()
                self.reported.pop(key, None)
        for key, (signature, target) in wanted.items():
            if key not in self.checkers:
                checker = AddressChecker(target, self._report)
                self.checkers[key] = (signature, checker)
                checker.start()

    def stop(self) -> None:
        for _, checker in self.checkers.values():
            checker.stop()
        self.checkers.clear()
