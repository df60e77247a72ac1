"""The built-in engine against real servers on loopback (aiohttp on two 127.x addresses, a dnslib DNS)."""

import os
import signal
import socket
import struct
import threading
import time

import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import analysis, fastload, load

from .conftest import ADDR_A, ADDR_B, ADDR_CLOSED, Backends

NAME = 'productpage.drill.test'


ENGINE = {'name': None}


@pytest.fixture(autouse=True, params=['epoll', 'asyncio'])
def engine(request):
    """Every behaviour below holds for both engines (epoll: plain HTTP, new connections; asyncio: the rest)."""
    if request.param == 'epoll' and not fastload.HAS_EPOLL:
        pytest.skip('no epoll on this platform')
    ENGINE['name'] = request.param
    yield request.param
    ENGINE['name'] = None


def run(url, **kw):
    kw.setdefault('timeout', 1.0)
    spec = load.LoadSpec(url, **kw)
    res = load.run_load(spec, engine=ENGINE['name'] if fastload.supports(spec) else 'asyncio')
    assert res['client']['engine'].startswith(ENGINE['name'] if fastload.supports(spec) else 'asyncio')
    return res


def test_open_loop_rate_at_100_per_second(backends):
    res = run(f'http://{ADDR_A}:{backends.port}/productpage', qps=100, duration=3)
    agg = res['aggregates']
    assert agg['RetCodes'] == {'200': 300}
    assert agg['IPCountMap'] == {ADDR_A: 300}
    assert 0.95 <= agg['ActualQPS'] / 100.0 <= 1.05, agg['ActualQPS']
    # Requests started on the clock: the i-th about i/100 s after the start.
    starts = [r['t'] for r in res['records']]
    assert max(abs(t - i / 100.0) for i, t in enumerate(starts)) < 0.25
    assert [b['total'] for b in res['timeline']] == [100, 100, 100]
    assert res['timeline'][1]['by_address'] == {ADDR_A: {'200': 100}}
    assert {r['cluster'] for r in res['records']} == {'cluster-a'}
    assert [p['Percentile'] for p in agg['DurationHistogram']['Percentiles']] == [50, 75, 90, 99, 99.9]
    assert agg['NumThreads'] == 116 and agg['RequestedQPS'] == '100.0'  # qps x timeout + 16


def test_new_connection_per_request_unless_keepalive(backends):
    backends.peers.clear()
    run(f'http://{ADDR_A}:{backends.port}/', qps=50, duration=0.4)
    assert len(backends.peers) == 20 and len({peer[1] for peer in backends.peers}) == 20
    backends.peers.clear()
    res = run(f'http://{ADDR_A}:{backends.port}/', qps=50, duration=0.4, keepalive=True)
    assert res['aggregates']['RetCodes'] == {'200': 20}
    assert len({peer[1] for peer in backends.peers}) <= 3  # sequential requests share one connection


def test_refused_is_classified(backends):
    res = run(f'http://{ADDR_CLOSED}:{backends.port}/', qps=50, duration=0.4)
    assert res['aggregates']['RetCodes'] == {'-1': 20}
    assert {(r['error'], r['addr']) for r in res['records']} == {('refused', ADDR_CLOSED)}


def test_timeout_is_classified(backends):
    res = run(f'http://{ADDR_A}:{backends.port}/slow', qps=10, duration=0.3, timeout=0.3)
    assert {r['error'] for r in res['records']} == {'timeout'}
    assert all(0.29 <= r['latency'] < 0.6 for r in res['records'])


def test_dns_per_connection_through_explicit_nameserver(backends, dns_server):
    resolver, nameserver = dns_server
    resolver.zone[NAME] = [ADDR_A]
    before = resolver.queries

    def switch():  # what GTM does when it drops a region: after the 60th query (1.2 s in), not on a timer
        deadline = time.monotonic() + 10
        while resolver.queries - before < 60 and time.monotonic() < deadline:
            time.sleep(0.002)
        resolver.zone[NAME] = [ADDR_B]

    threading.Thread(target=switch).start()
    res = run(f'http://{NAME}:{backends.port}/productpage', qps=50, duration=2, nameserver=nameserver,
              dns_watch_interval=0)
    assert resolver.queries - before == 100  # one query per connection, no cache
    agg = res['aggregates']
    assert agg['RetCodes'] == {'200': 100}
    assert set(agg['IPCountMap']) == {ADDR_A, ADDR_B}
    tl = res['timeline']
    assert set(tl[0]['by_address']) == {ADDR_A} and ADDR_B in tl[1]['by_address']
    assert res['records'][-1]['addr'] == ADDR_B
    clusters = {r['addr']: r['cluster'] for r in res['records']}
    assert clusters == {ADDR_A: 'cluster-a', ADDR_B: 'cluster-b'}


def test_system_resolver_when_no_nameserver(backends):
    res = run(f'http://localhost:{backends.port}/', qps=20, duration=0.5)
    assert res['aggregates']['RetCodes'] == {'200': 10}
    assert res['aggregates']['IPCountMap'] == {ADDR_A: 10}  # /etc/hosts: localhost is 127.0.0.1


def test_dns_failure_is_classified(backends, dns_server):
    nameserver = dns_server[1]
    res = run(f'http://nowhere.drill.test:{backends.port}/', qps=20, duration=0.5, nameserver=nameserver)
    assert {(r['error'], r['addr']) for r in res['records']} == {('dns_failure', None)}
    assert res['timeline'][0]['by_address'] == {'unresolved': {'dns_failure': 10}}


@pytest.mark.parametrize('multi', [False, True])
def test_multi_address_falls_back_on_refused(backends, dns_server, multi):
    resolver, nameserver = dns_server
    resolver.zone['multi.drill.test'] = [ADDR_CLOSED, ADDR_B]
    res = run(f'http://multi.drill.test:{backends.port}/', qps=50, duration=1, nameserver=nameserver,
              multi_address=multi)
    if multi:
        assert res['aggregates']['RetCodes'] == {'200': 50}
        assert res['aggregates']['IPCountMap'] == {ADDR_B: 50}
        assert {r['tries'] for r in res['records']} == {2}
    else:
        assert res['aggregates']['RetCodes'] == {'-1': 50}
        assert {r['error'] for r in res['records']} == {'refused'}


def test_live_abort_stops_the_run_early(backends):
    started = time.monotonic()
    progress = []
    spec = load.LoadSpec(f'http://{ADDR_CLOSED}:{backends.port}/', qps=50, duration=20, timeout=1,
                         abort_error_rate=0.5, abort_after_seconds=1, progress_interval=0.5)
    res = load.run_load(spec, on_progress=progress.append, engine=ENGINE['name'])
    assert time.monotonic() - started < 5
    assert res['aborted']['triggered'] and 'error rate above 0.5' in res['aborted']['reason']
    assert progress and progress[-1]['final'] and progress[0]['errors'] > 0
    assert set(progress[-1]['by_address']) == {ADDR_CLOSED}


@pytest.mark.parametrize('bad,msg', [
    (dict(url='ftp://x/'), 'url must be'), (dict(qps=0), 'qps'), (dict(duration=-1), 'duration'),
    (dict(concurrency=0), 'concurrency'), (dict(nameserver='127.0.0.1:x'), 'nameserver'),
    (dict(abort_error_rate=2), 'abort_error_rate'),
])
def test_spec_validation(bad, msg):
    kw = dict(url='http://127.0.0.1:1/')
    kw.update(bad)
    with pytest.raises(ValueError, match=msg):
        load.LoadSpec(**kw)


def test_failover_end_to_end_through_analysis(dns_server):
    """A real failover: region A's server dies at ~1 s, 'GTM' drops A from DNS at ~2 s."""
    resolver, nameserver = dns_server
    resolver.zone['failover.drill.test'] = [ADDR_A, ADDR_B]
    servers = Backends().start()
    events = {}

    def drill():
        time.sleep(1.0)
        events['fault'] = time.time()  # T0 is when the fault injection starts, as the drill records it
        servers.stop_first()
        time.sleep(1.0)
        resolver.zone['failover.drill.test'] = [ADDR_B]
        events['dns'] = time.time()

    try:
        threading.Thread(target=drill).start()
        res = run(f'http://failover.drill.test:{servers.port}/', qps=50, duration=4, nameserver=nameserver)
    finally:
        servers.stop()
    start = res['start_epoch']
    t0 = events['fault'] - start
    t_dns = events['dns'] - start
    out = analysis.analyze(res['records'], t0=t0, duration=4, dns_ttl=0, dns_watch=res['dns_watch'],
                           gtm_observations=[{'time': t_dns, 'address': ADDR_A, 'available': False}])
    assert out['fault_address'] == ADDR_A and out['errors_on_other_addresses'] == 0
    # Refused once the listener is gone; a few connections caught by its shutdown are reset or hang.
    assert set(out['errors_by_class']) <= {'refused', 'reset', 'timeout'} and out['errors_by_class']['refused'] >= 20
    assert 30 <= out['errors'] <= 80  # half of ~1 s at 50/s, plus scheduling slack on a busy host
    # A request in flight when the listener went may fail (reset) although it started a little before.
    assert t0 - 0.5 <= out['first_error'] < t0 + 0.5
    assert t_dns - 0.1 < out['last_error'] <= t_dns + 0.05
    # T0 is when the fault took effect: the first refused request started after the fault was sent.
    # Detection is when the engine's own DNS watcher saw the address leave the answer: the change
    # happened between the two queries it names.
    refused_after = [r['t'] for r in res['records'] if r['error'] in ('refused', 'reset') and r['t'] >= t0]
    assert out['t0_source'] == f'first refused request on {ADDR_A}' and out['t0'] == min(refused_after)
    assert out['detect_source'].startswith('DNS watcher')
    assert out['t_dns_left_prev'] < t_dns and out['t_dns_left'] >= out['t_dns_left_prev']
    assert out['time_to_detect'] == pytest.approx(out['t_dns_left'] - out['t0'])
    assert out['time_to_detect_api'] == pytest.approx(t_dns - out['t0'], abs=1e-4)  # the second source (rounded)
    assert out['t_recover'] == int(out['last_error']) + 1  # the first clean second after the last error
    # Requests in flight when the fault hit may fail too (reset), but nothing failed earlier.
    assert all(r['t'] >= t0 - 0.5 for r in res['records'] if not analysis.is_ok(r))
    assert out['phases']['after']['by_address'] == {ADDR_B: {'total': out['phases']['after']['total'],
                                                             'ok': out['phases']['after']['total'], 'errors': 0}}
    # After the watcher's query without A was answered, every request resolved to B only.
    assert out['t_dns_left'] <= out['t_dns_left_answered'] <= out['failover_point']
    assert out['success_rate_after_failover'] == 1.0


ADDR_RESET = '127.0.0.4'


@pytest.fixture
def resetting_server(backends):
    """On ADDR_RESET, the test port: reads the request, then resets the connection (a gateway killed mid-request)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ADDR_RESET, backends.port))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _peer = listener.accept()
            except OSError:
                continue
            conn.settimeout(1.0)
            try:
                conn.recv(4096)
            except OSError:
                pass
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield ADDR_RESET
    stop.set()
    thread.join(2)
    listener.close()


@pytest.mark.parametrize('multi', [False, True])
def test_multi_address_resends_a_reset_get_to_the_next_address(backends, dns_server, resetting_server, multi):
    resolver, nameserver = dns_server
    resolver.zone['reset.drill.test'] = [resetting_server, ADDR_B]
    res = run(f'http://reset.drill.test:{backends.port}/', qps=40, duration=0.5, nameserver=nameserver,
              multi_address=multi)
    if multi:
        assert res['aggregates']['RetCodes'] == {'200': 20}
        assert {(r['addr'], r['tries']) for r in res['records']} == {(ADDR_B, 2)}
    else:
        assert {(r['error'], r['addr']) for r in res['records']} == {('reset', resetting_server)}


def test_a_signal_stops_the_run_and_keeps_what_it_measured(backends, dns_server):
    resolver, nameserver = dns_server
    resolver.zone[NAME] = [ADDR_A]
    before = signal.getsignal(signal.SIGTERM)
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    began = time.monotonic()
    res = load.run_load(load.LoadSpec(f'http://{NAME}:{backends.port}/', qps=50, duration=30, timeout=1,
                                      nameserver=nameserver, probe_addresses=[ADDR_B]),
                        handle_signals=True, engine=ENGINE['name'])
    assert time.monotonic() - began < 15  # far from the asked 30 s
    assert res['interrupted']['reason'] == 'signal SIGTERM'
    assert res['records'] and {r['addr'] for r in res['records']} == {ADDR_A}
    assert res['probes'][ADDR_B]
    assert res['dns_watch']['changes'][0]['addrs'] == [ADDR_A]
    if ENGINE['name'] == 'epoll':
        assert signal.getsignal(signal.SIGTERM) == before  # the handler is the run's only


def test_a_request_larger_than_the_send_buffer_is_sent_whole():
    """Custom headers of 16 MB (more than loopback takes in one send): the rest goes when the socket is writable."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    port = server.getsockname()[1]
    got = []

    def serve():
        conn = server.accept()[0]
        size, tail = 0, b''
        while b'\r\n\r\n' not in tail:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            tail = (tail + chunk)[-4:]
        got.append(size)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        res = run(f'http://127.0.0.1:{port}/', qps=1, duration=1, timeout=5, headers={'x-big': 'a' * (16 << 20)})
    finally:
        thread.join(5)
        server.close()
    assert [(r['status'], r['error']) for r in res['records']] == [(200, None)]
    assert got and got[0] > 16 << 20
