"""Real servers on loopback for the load engine tests: aiohttp on two 127.x addresses, a DNS server."""

import asyncio
import socket
import threading
import time

import pytest
from aiohttp import web
from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

ADDR_A = '127.0.0.1'
ADDR_B = '127.0.0.2'
ADDR_CLOSED = '127.0.0.3'  # nothing listens there on the test port: connections are refused


def free_port(host=ADDR_A, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Backends:
    """aiohttp apps on ADDR_A and ADDR_B, same port; each answers with its own x-drlab-cluster."""

    def __init__(self):
        self.port = None
        self.peers = []  # (server address, client port) per request, to count connections
        self.loop = asyncio.new_event_loop()
        self.runners = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _app(self, cluster):
        async def root(request):
            self.peers.append((cluster, request.transport.get_extra_info('peername')[1]))
            return web.Response(text='ok', headers={'x-drlab-cluster': cluster})

        async def slow(request):
            await asyncio.sleep(2)
            return web.Response(text='late')

        app = web.Application()
        app.router.add_get('/', root)
        app.router.add_get('/productpage', root)
        app.router.add_get('/slow', slow)
        return app

    async def _start(self):
        for addr, cluster in ((ADDR_A, 'cluster-a'), (ADDR_B, 'cluster-b')):
            runner = web.AppRunner(self._app(cluster), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, addr, self.port).start()
            self.runners.append(runner)

    async def _stop(self):
        for runner in self.runners:
            await runner.cleanup()

    def stop_first(self):
        """Stop the server on ADDR_A only: its connections are refused from now on (a dead gateway)."""
        asyncio.run_coroutine_threadsafe(self.runners[0].cleanup(), self.loop).result(10)
        self.runners = self.runners[1:]

    def start(self):
        self.thread.start()
        attempts = 5
        while attempts:
            attempts -= 1
            self.port = free_port()
            try:
                asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
                return self
            except OSError:
                asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
                self.runners = []
        raise RuntimeError('no port free on both loopback addresses')

    def stop(self):
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class ZoneResolver(BaseResolver):
    """A records from a mutable dict; unknown names get NXDOMAIN."""

    def __init__(self):
        self.zone = {}
        self.queries = 0

    def resolve(self, request, handler):
        self.queries += 1
        reply = request.reply()
        name = str(request.q.qname).rstrip('.').lower()
        addrs = self.zone.get(name)
        if addrs is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            for a in addrs:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(a), ttl=0))
        return reply


@pytest.fixture(scope='session')
def backends():
    b = Backends().start()
    yield b
    b.stop()


@pytest.fixture(scope='session')
def dns_server():
    resolver = ZoneResolver()
    port = free_port(kind=socket.SOCK_DGRAM)
    server = DNSServer(resolver, address=ADDR_A, port=port, logger=DNSLogger(logf=lambda s: None))
    server.start_thread()
    time.sleep(0.05)
    yield resolver, f'{ADDR_A}:{port}'
    server.stop()
