"""GTM's authoritative DNS: UDP and TCP on the lab host, answers from the GTM state.

dnslib only parses and packs here; the sockets are asyncio's, so every answer is computed on
the lab loop next to the state it reads (no threads).  Two dnslib pitfalls are avoided
(lab-anchors section 5): UDP replies are truncated at 512 bytes (or the EDNS size) and a
truncated reply keeps its question, so resolvers retry over TCP instead of timing out.

What a name resolves to comes from the ``lookup`` callback: the dataplane component asks the
cloud component, which applies GTM's pool/address selection (weight, round robin, sequence)
over enabled and available addresses (``gtm_answer``) and holds the zone's records.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass, field
from typing import Callable

from dnslib import AAAA, CNAME, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel, DNSRecord

log = logging.getLogger("drlab.dns")

UDP_MAX = 512


@dataclass
class Answer:
    """What the zone says about one name: records of the asked type, or why there are none."""

    rcode: str = "NOERROR"  # NOERROR, NXDOMAIN, REFUSED, SERVFAIL
    records: list[tuple[str, str, int]] = field(default_factory=list)  # (type, value, ttl)
    zone: str = ""


# (qname without trailing dot, lower case; qtype name) -> Answer
Lookup = Callable[[str, str], Answer]

def _rdata(rtype: str, value: str):
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "CNAME":
        return CNAME(DNSLabel(value))
    if rtype == "TXT":
        return TXT(value)
    return None  # other record types are not served by the lab


class DnsServer:
    def __init__(self, host: str, port: int, lookup: Lookup, soa_for: Callable[[str], tuple[str, int]]):
        self.host = host
        self.port = port
        self.lookup = lookup
        self.soa_for = soa_for  # zone -> (mname, ttl)
        self.queries = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        server = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport):  # type: ignore[override]
                self.transport = transport

            def datagram_received(self, data, addr):  # type: ignore[override]
                reply = server.handle(data, udp=True)
                if reply:
                    self.transport.sendto(reply, addr)

        self._udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=(self.host, self.port))
        self._tcp = await asyncio.start_server(self._tcp_client, self.host, self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), timeout=10)
                data = await reader.readexactly(struct.unpack("!H", head)[0])
                reply = self.handle(data, udp=False)
                if reply:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def handle(self, data: bytes, udp: bool) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - malformed packets are dropped, as servers do
            return None
        self.queries += 1
        reply = request.reply(ra=0, aa=1)
        try:
            self._fill(request, reply)
        except Exception:  # noqa: BLE001 - a lookup bug must answer SERVFAIL, not kill the server
            log.exception("dns lookup failed")
            reply = request.reply(ra=0, aa=1)
            reply.header.rcode = RCODE.SERVFAIL
        packed = reply.pack()
        if udp:
            limit = UDP_MAX
            for rr in request.ar:
                if rr.rtype == QTYPE.OPT:
                    limit = max(UDP_MAX, rr.rclass)
            if len(packed) > limit:
                # Keep the question (dnslib's truncate() drops it and dnspython then times out).
                truncated = request.reply(ra=0, aa=1)
                truncated.header.tc = 1
                packed = truncated.pack()
        return packed

    def _fill(self, request: DNSRecord, reply: DNSRecord) -> None:
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE.get(q.qtype, str(q.qtype))
        answer = self.lookup(name, qtype)
        reply.header.rcode = getattr(RCODE, answer.rcode)
        if answer.rcode in ("REFUSED", "SERVFAIL"):
            reply.header.aa = 0
            return
        if answer.zone and name == answer.zone and qtype in ("SOA", "NS"):
            # the zone apex always has its SOA and NS, whatever the records API holds
            mname, ttl = self.soa_for(answer.zone)
            rdata = self._soa(answer.zone) if qtype == "SOA" else NS(DNSLabel(mname))
            reply.add_answer(RR(q.qname, getattr(QTYPE, qtype), rdata=rdata, ttl=ttl))
            reply.header.rcode = RCODE.NOERROR
            return
        owner, current = q.qname, answer
        for _ in range(8):  # an authoritative server follows CNAMEs it is authoritative for
            for rtype, value, ttl in current.records:
                rdata = _rdata(rtype, value)
                if rdata is None:
                    continue
                reply.add_answer(RR(owner, getattr(QTYPE, rtype), rdata=rdata, ttl=int(ttl)))
            cnames = [r for r in current.records if r[0] == "CNAME"]
            if qtype == "CNAME" or not cnames:
                break
            owner = DNSLabel(cnames[0][1])
            current = self.lookup(str(owner).rstrip(".").lower(), qtype)
            if current.rcode != "NOERROR":
                break
        if not reply.rr and answer.zone:
            # negative caching TTL = min(SOA TTL, SOA minimum): both set to ttl here
            reply.add_auth(RR(answer.zone + ".", QTYPE.SOA, ttl=self.soa_for(answer.zone)[1],
                              rdata=self._soa(answer.zone)))

    def _soa(self, zone: str) -> SOA:
        mname, ttl = self.soa_for(zone)
        return SOA(mname, f"hostmaster.{zone}", (1, 3600, 600, 86400, ttl))
