"""A second event loop, on its own thread, for what must answer on time: GTM DNS and health checks.

The lab's main loop also runs the cloud API, the Kubernetes APIs and their controllers; one
slow reconcile there (or a CPU-starved process) used to hold every DNS answer back for
seconds, which clients saw as resolver timeouts.  DNS and the GTM probes run here instead and
read only what the main loop *publishes* (:class:`GtmView`, an immutable snapshot replaced as a
whole), never the live state; health verdicts go back to the main loop, which owns the state,
through ``call_soon_threadsafe``.

The GIL is shared with the main loop: a thread woken by a datagram gets it within one switch
interval (``sys.setswitchinterval``) of main-loop work, not after a whole reconcile.  The lab
shortens that interval from CPython's 5 ms to 1 ms while this loop runs, so that an answer
waits at most a few intervals even when the CPU is contended.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

from .dns import Answer

log = logging.getLogger("drlab.realtime")

T = TypeVar("T")

# Record types the lab's DNS serves from the records API (others, e.g. SRV and CAA, are stored only).
SERVED_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX")
SWITCH_INTERVAL = 0.001


class RealtimeLoop:
    """An asyncio loop on a daemon thread; coroutines are submitted from the main loop."""

    def __init__(self, name: str):
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL))

    def submit(self, coro: Awaitable[T]) -> concurrent.futures.Future:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    async def run(self, coro: Awaitable[T]) -> T:
        """Run coro on this loop and wait for it from the caller's loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    async def stop(self) -> None:
        if self.loop is None or self._thread is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            await asyncio.wait_for(self.run(cancel_all()), timeout=5)
        except (TimeoutError, RuntimeError):
            log.warning("realtime loop %s: tasks did not stop in time", self.name)
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._thread.join, 5)
        sys.setswitchinterval(self._switch_interval)


@dataclass(frozen=True)
class GtmView:
    """What DNS and the health checker read: one consistent snapshot of zones, GTM and records.

    ``gtm`` is a private copy of the GTM backend (``GtmBackend.frozen()``): its ``answer()``
    applies the same pool/address selection as the live one.  Nothing here is written after
    publication except the sequence strategy's shared memory inside ``gtm``.
    """

    zones: tuple[str, ...] = ()
    gtm: Any = None
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    health_targets: list[dict[str, Any]] = field(default_factory=list)
    names: frozenset[str] = frozenset()  # every owner name that holds data, to tell empty non-terminals

    @classmethod
    def build(cls, zones: list[str], gtm: Any, records: dict[str, list[dict[str, Any]]]) -> GtmView:
        names = {r["name"] for rs in records.values() for r in rs}
        if gtm is not None:
            names |= {c["ScheduleDomainName"] for c in gtm.configs.values() if c["EnableStatus"] == "enable"}
        return cls(tuple(zones), gtm, records, gtm.health_targets() if gtm is not None else [], frozenset(names))

    def lookup(self, name: str, qtype: str) -> Answer:
        zone = next((z for z in self.zones if name == z or name.endswith("." + z)), None)
        if zone is None:
            return Answer("REFUSED")
        if self.gtm is None:
            return Answer("SERVFAIL")
        exists = False
        served: list[tuple[Any, ...]] = []
        for rr_type in ("A", "AAAA", "CNAME"):
            gtm = self.gtm.answer(name, rr_type)
            if gtm is None:
                continue
            exists = True
            if rr_type == qtype or rr_type == "CNAME" or qtype == "ANY":
                served += [(rr_type, a, int(gtm["ttl"])) for a in gtm["addresses"]]
                if qtype != "ANY":
                    return Answer(records=served, zone=zone)
        records = [r for r in self.records.get(zone, []) if r["name"] == name]
        if not records and not exists and name != zone:
            if any(other.endswith("." + name) for other in self.names):
                # RFC 8020 / RFC 4592 section 2.2.2: a name with data below it exists (an empty
                # non-terminal) and answers NOERROR without records (NODATA), never NXDOMAIN.
                return Answer(zone=zone)
            return Answer("NXDOMAIN", zone=zone)
        if qtype == "ANY":
            chosen = records  # RFC 8482 section 4.1: a responder may return a subset of the RRsets
        else:
            chosen = [r for r in records if r["type"] == qtype] or [r for r in records if r["type"] == "CNAME"]
        return Answer(records=served + [(r["type"], r["value"], int(r["ttl"]), r.get("priority"))
                                        for r in chosen if r["type"] in SERVED_TYPES], zone=zone)
