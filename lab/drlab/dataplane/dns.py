"""GTM's authoritative DNS: UDP and TCP on the lab host, answers from the GTM state.

dnslib only parses and packs here; the sockets are asyncio's, on whatever loop ``start()`` runs
in: the data plane runs it on its realtime thread (``realtime.py``) over a published snapshot of
the GTM state, so answers do not wait for the lab's main loop.  Two dnslib pitfalls are avoided
(lab-anchors section 5): UDP replies are truncated at 512 bytes (or the EDNS size) and a
truncated reply keeps its question, so resolvers retry over TCP instead of timing out.

What a name resolves to comes from the ``lookup`` callback (``GtmView.lookup`` in the lab),
which applies GTM's pool/address selection (weight, round robin, sequence) over enabled and
available addresses and holds the zone's records.

What a resolver may ask and how it is answered:
- EDNS (RFC 6891): a query with an OPT record gets one back (section 6.1.1) advertising the
  server's UDP payload size; a version above 0 is answered BADVERS (section 6.1.3); the reply's
  UDP size is the smaller of the client's and the server's (section 6.2.5).
- ANY (RFC 8482 section 4.1): the RRsets the name holds, or the apex SOA and NS; never refused.
- empty non-terminals answer NODATA (NOERROR, no answer, SOA in authority; RFC 8020).
- MX records of the records API are served with their priority.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from dnslib import AAAA, CNAME, EDNS0, MX, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel, DNSRecord

log = logging.getLogger("drlab.dns")

UDP_MAX = 512
# The server's own EDNS UDP payload size: 1232 avoids IP fragmentation (DNS flag day 2020) and is
# what BIND, Knot and Unbound default to.
EDNS_UDP = 1232
BADVERS = 16  # RFC 6891 section 9: extended RCODE 16, upper 8 bits carried in the OPT TTL


@dataclass
class Answer:
    """What the zone says about one name: records of the asked type, or why there are none."""

    rcode: str = "NOERROR"  # NOERROR, NXDOMAIN, REFUSED, SERVFAIL
    records: list[tuple[Any, ...]] = field(default_factory=list)  # (type, value, ttl[, priority])
    zone: str = ""


# (qname without trailing dot, lower case; qtype name) -> Answer
Lookup = Callable[[str, str], Answer]

def _rdata(rtype: str, value: str, priority: Any = None):
    if rtype == "MX":
        return MX(DNSLabel(value), int(priority if priority is not None else 10))
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
        opt = next((rr for rr in request.ar if rr.rtype == QTYPE.OPT), None)
        reply = request.reply(ra=0, aa=1)
        reply.ar = []  # dnslib's reply() keeps nothing of the additional section we want
        if opt is not None and (opt.ttl >> 16) & 0xFF != 0:
            # RFC 6891 6.1.3: an unsupported EDNS version gets BADVERS with our OPT (version 0)
            reply.header.aa = 0
            reply.add_ar(EDNS0(udp_len=EDNS_UDP, ext_rcode=BADVERS >> 4))
            reply.header.rcode = BADVERS & 0xF
            return reply.pack()
        try:
            self._fill(request, reply)
        except Exception:  # noqa: BLE001 - a lookup bug must answer SERVFAIL, not kill the server
            log.exception("dns lookup failed")
            reply = request.reply(ra=0, aa=1)
            reply.ar = []
            reply.header.rcode = RCODE.SERVFAIL
        if opt is not None:
            reply.add_ar(EDNS0(udp_len=EDNS_UDP))
        packed = reply.pack()
        if udp:
            limit = UDP_MAX if opt is None else max(UDP_MAX, min(opt.rclass, EDNS_UDP))
            if len(packed) > limit:
                # Keep the question (dnslib's truncate() drops it and dnspython then times out).
                truncated = request.reply(ra=0, aa=1)
                truncated.ar = []
                truncated.header.tc = 1
                if opt is not None:
                    truncated.add_ar(EDNS0(udp_len=EDNS_UDP))
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
        if answer.zone and name == answer.zone and qtype in ("SOA", "NS", "ANY"):
            # the zone apex always has its SOA and NS, whatever the records API holds
            mname, ttl = self.soa_for(answer.zone)
            if qtype in ("SOA", "ANY"):
                reply.add_answer(RR(q.qname, QTYPE.SOA, rdata=self._soa(answer.zone), ttl=ttl))
            if qtype in ("NS", "ANY"):
                reply.add_answer(RR(q.qname, QTYPE.NS, rdata=NS(DNSLabel(mname)), ttl=ttl))
            reply.header.rcode = RCODE.NOERROR
            if qtype != "ANY":
                return
        owner, current = q.qname, answer
        for _ in range(8):  # an authoritative server follows CNAMEs it is authoritative for
            for rtype, value, ttl, *rest in current.records:
                rdata = _rdata(rtype, value, rest[0] if rest else None)
                if rdata is None:
                    continue
                reply.add_answer(RR(owner, getattr(QTYPE, rtype), rdata=rdata, ttl=int(ttl)))
            cnames = [r for r in current.records if r[0] == "CNAME"]
            if qtype in ("CNAME", "ANY") or not cnames:
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
