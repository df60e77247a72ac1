# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The load engine on one epoll loop (non-blocking sockets, no asyncio), for plain HTTP with a new
connection per request: the drill's default.

Why a second engine: at 100 requests/s the CPU of a Python client goes to the wake-ups around each
request (timers, tasks, futures), not to the request; asyncio, even on uvloop, pays 2-2.4x the CPU
of hey per request there, which makes the client the busiest process on a small controller.  One
epoll loop with a deadline queue pays about what hey pays (benchmarks/load_engine.py has the
figures).  It keeps every behaviour of ``load.LoadEngine`` that a drill reads: the clock schedule
and its lateness, the concurrency bound, per-connection DNS (the explicit nameserver over UDP, or
the system resolver in a small thread pool), multi-address fall-back on refused and reset, the DNS
watcher, the direct probes, the live abort, progress, the stop on a signal or a gone parent.
HTTPS and keep-alive stay on the asyncio engine (``load.run_load`` chooses).
"""

import collections
import errno
import os
import random
import select
import signal
import socket
import time

try:
    import dns.exception
    import dns.message
    import dns.name
    import dns.rcode
    import dns.rdatatype

    HAS_DNSPYTHON = True
except ImportError:
    HAS_DNSPYTHON = False

try:
    from concurrent.futures import ThreadPoolExecutor
except ImportError:  # pragma: no cover - Python 3 always has it
    ThreadPoolExecutor = None

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import load

HAS_EPOLL = hasattr(select, 'epoll')

_IN = select.EPOLLIN if HAS_EPOLL else 1
_OUT = select.EPOLLOUT if HAS_EPOLL else 4
_ERR = (select.EPOLLERR | select.EPOLLHUP) if HAS_EPOLL else 24
_WOULD_BLOCK = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)
_MONITOR_TICK = 0.25

# What one connection is doing.
_DNS, _CONNECT, _SEND, _HTTP = 'dns', 'connect', 'send', 'http'


def supports(spec):
    """Whether this engine runs ``spec`` (the rest goes to the asyncio engine)."""
    return HAS_EPOLL and spec.scheme == 'http' and not spec.keepalive and (
        spec.literal or not spec.nameserver or HAS_DNSPYTHON)


class _Conn(object):
    """One request (``main``), one direct probe (``probe``) or one watcher query (``watch``)."""

    __slots__ = ('kind', 't0', 'late', 'sock', 'fd', 'phase', 'addrs', 'addr', 'tries', 'tried', 'buf',
                 'head', 'status', 'cluster', 'done', 'probe_addr', 'qid')

    def __init__(self, kind, t0, late=0.0):
        self.kind = kind
        self.t0 = t0
        self.late = late
        self.sock = None
        self.fd = -1
        self.phase = _DNS
        self.addrs = None
        self.addr = None
        self.tries = 0
        self.tried = []
        self.buf = b''
        self.head = None  # (status, headers, body offset) once the header block is in
        self.status = -1
        self.cluster = None
        self.done = False
        self.probe_addr = None
        self.qid = None


class SelectorEngine(load.LoadEngine):
    """Same results as ``load.LoadEngine`` (it reuses its result, snapshot and abort code)."""

    engine = 'epoll'

    def run(self, handle_signals=False):
        self._ep = select.epoll()
        self._fds = {}
        self._timeouts = collections.deque()  # (deadline, conn) in start order: all share spec.timeout
        self._watch_timeouts = collections.deque()
        self._dns_pending = {}
        self._udp = None
        self._pool = None
        self._done_q = collections.deque()
        self._wake_r = self._wake_w = None
        self._in_flight = 0
        self._side_in_flight = set()
        old_handlers = {}
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                name = 'signal %s' % signal.Signals(signum).name
                old_handlers[signum] = signal.signal(signum, lambda s, f, n=name: self.request_stop(n))
        try:
            self._setup_dns()
            self._loop()
            for entry in self._watch_timeouts:
                conn = entry[1]
                if not conn.done:
                    self.dns_watch['queries'] -= 1  # the run ended first: not a measurement
        finally:
            for signum, handler in old_handlers.items():
                signal.signal(signum, handler)
            for conn in list(self._fds.values()):
                if conn is not None and conn.sock is not None:
                    conn.sock.close()
            for s in (self._udp, self._wake_r, self._wake_w):
                if s is not None:
                    s.close()
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._ep.close()
        self.end_epoch = time.time()
        self._cpu_seconds = time.process_time() - self._cpu0
        self._progress(final=True)
        return self.result()

    # -- the loop -------------------------------------------------------------------------------

    def _setup_dns(self):
        spec = self.spec
        if spec.literal:
            return
        if spec.nameserver:
            # One UDP socket for every query, answers matched by id and question: a socket per query
            # (what dnspython does) costs a socket, a registration and a close per request.
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.setblocking(False)
            self._udp.connect(spec.nameserver)
            self._register(self._udp.fileno(), None, _IN)
            self._qname = dns.name.from_text(spec.host)
            self._query = bytearray(dns.message.make_query(self._qname, dns.rdatatype.A).to_wire())
        else:
            # getaddrinfo blocks: a few threads run it (as asyncio's default executor does), and wake
            # the loop through a socket pair when an answer is in.
            self._pool = ThreadPoolExecutor(max_workers=8)
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._register(self._wake_r.fileno(), None, _IN)

    def _loop(self):
        spec = self.spec
        clock = time.monotonic
        self.start_epoch = time.time()
        t_start = self._t_start = clock()
        self._cpu0 = time.process_time()
        step = 1.0 / spec.qps
        total = int(round(spec.qps * spec.duration))
        i = 0
        next_due = t_start
        sending = total > 0
        end_sending = spec.duration + load.LATE_GRACE
        watch = bool(spec.dns_watch_interval and not spec.literal)
        if watch:
            self.dns_watch = {'interval': spec.dns_watch_interval, 'queries': 0, 'failures': {}, 'samples': [],
                              'latency': [], 'late': []}
        watch_k = 0
        next_watch = t_start if watch else None
        probe_step = 1.0 / spec.probe_qps
        probe_next = dict((a, t_start) for a in spec.probe_addresses)
        probe_j = dict((a, 0) for a in spec.probe_addresses)
        next_tick = t_start + _MONITOR_TICK
        next_load = t_start
        interval = spec.progress_interval
        next_progress = t_start + interval if interval else None
        drain_until = None
        poll = self._ep.poll
        fds = self._fds
        timeouts = self._timeouts
        while True:
            now = clock()
            if sending:
                while now >= next_due and self._in_flight < spec.concurrency:
                    if self._stop:
                        sending = False
                        break
                    if now - t_start >= end_sending:
                        # Far behind schedule: stop, bounded; what was not sent is counted.
                        self.dropped = total - i
                        sending = False
                        break
                    self._start(_Conn('main', now, now - next_due))
                    i += 1
                    if i >= total:
                        sending = False
                        break
                    next_due = t_start + i * step
            if not self._stop:
                if next_watch is not None and now >= next_watch:
                    self._watch_query(now, now - next_watch)
                    # Next slot after now: a late watcher skips slots rather than bunching queries.
                    watch_k = max(watch_k + 1, int((now - t_start) / spec.dns_watch_interval) + 1)
                    next_watch = t_start + watch_k * spec.dns_watch_interval
                for addr, due in probe_next.items():
                    if now >= due:
                        conn = _Conn('probe', now)
                        conn.probe_addr = addr
                        conn.addrs = [addr]
                        self._start(conn)
                        j = probe_j[addr] = max(probe_j[addr] + 1, int((now - t_start) * spec.probe_qps) + 1)
                        probe_next[addr] = t_start + j * probe_step
            if now >= next_tick:
                next_tick = now + _MONITOR_TICK
                if spec.watch_pid and not load.pid_alive(spec.watch_pid):
                    self.request_stop('the process that started the load (pid %d) is gone' % spec.watch_pid)
                if now >= next_load:
                    next_load = now + 1.0
                    try:
                        self._load_max = max(self._load_max or 0.0, round(os.getloadavg()[0], 2))
                    except (AttributeError, OSError):
                        pass
                if spec.abort_error_rate is not None and self.aborted is None:
                    self._check_abort(now - t_start)
                if next_progress is not None and now >= next_progress:
                    next_progress += interval
                    self._progress()
            while timeouts and timeouts[0][0] <= now:
                conn = timeouts.popleft()[1]
                if not conn.done:
                    self._finish(conn, 'dns_failure' if conn.phase == _DNS else 'timeout')
            wt = self._watch_timeouts
            while wt and wt[0][0] <= now:
                conn = wt.popleft()[1]
                if not conn.done:
                    self._watch_failed(conn, 'dns_failure')
            if self._stop:
                sending = False
                next_watch = None
                probe_next = {}
                if self.interrupted is not None:
                    return  # in-flight requests are dropped, as the asyncio engine cancels them
            if not sending:
                if self._in_flight == 0:
                    return
                if drain_until is None:
                    # Every request is bounded by its timeout; the margin covers scheduling jitter.
                    drain_until = now + spec.timeout + 2
                elif now >= drain_until:
                    return
            wake = next_tick
            if sending and self._in_flight < spec.concurrency and next_due < wake:
                wake = next_due
            if next_watch is not None and next_watch < wake:
                wake = next_watch
            for due in probe_next.values():
                if due < wake:
                    wake = due
            if timeouts and timeouts[0][0] < wake:
                wake = timeouts[0][0]
            if wt and wt[0][0] < wake:
                wake = wt[0][0]
            wait = wake - clock()
            try:
                events = poll(wait if wait > 0 else 0)
            except InterruptedError:  # pragma: no cover - Python 3.5+ retries on its own
                events = ()
            for event in events:
                fd = event[0]
                conn = fds.get(fd, False)
                if conn is None:
                    if self._udp is not None and fd == self._udp.fileno():
                        self._udp_readable()
                    else:
                        self._resolved()
                elif conn is not False:
                    if conn.phase == _CONNECT:
                        self._connected(conn)
                    elif conn.phase == _SEND:
                        self._writable(conn)
                    else:
                        self._readable(conn)

    # -- one connection ---------------------------------------------------------------------------

    def _register(self, fd, conn, events):
        self._ep.register(fd, events)
        self._fds[fd] = conn

    def _start(self, conn):
        if conn.kind == 'main':
            self._in_flight += 1
        else:
            self._side_in_flight.add(conn)
        self._timeouts.append((conn.t0 + self.spec.timeout, conn))
        if conn.addrs is not None:
            self._open(conn)
        elif self.spec.literal:
            conn.addrs = [self.spec.host]
            self._open(conn)
        else:
            self._lookup(conn)

    def _open(self, conn):
        """Connect to the next candidate of the answer (the first only, without multi-address)."""
        spec = self.spec
        conn.phase = _CONNECT
        while True:
            pool = conn.addrs if (spec.multi_address and conn.kind == 'main') else conn.addrs[:1]
            candidates = [a for a in pool if a not in conn.tried]
            if not candidates:
                return self._finish(conn, 'refused')
            addr = conn.addr = candidates[0]
            conn.tried.append(addr)
            conn.tries += 1
            sock = conn.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex((addr, spec.port))
            if err == 0:
                conn.fd = sock.fileno()
                conn.phase = _HTTP
                self._register(conn.fd, conn, _IN)
                return self._send(conn)
            if err in _WOULD_BLOCK:
                conn.fd = sock.fileno()
                self._register(conn.fd, conn, _OUT)
                return None
            sock.close()
            conn.sock = None
            if err == errno.ECONNREFUSED and len(candidates) > 1:
                continue  # like browsers: a refused connection moves on to the next address
            return self._finish(conn, 'refused' if err == errno.ECONNREFUSED else 'other')

    def _connected(self, conn):
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._drop_socket(conn)
            if err == errno.ECONNREFUSED:
                pool = conn.addrs if (self.spec.multi_address and conn.kind == 'main') else conn.addrs[:1]
                if any(a not in conn.tried for a in pool):
                    return self._open(conn)
                return self._finish(conn, 'refused')
            return self._finish(conn, 'reset' if err in (errno.ECONNRESET, errno.ECONNABORTED) else 'other')
        conn.phase = _HTTP
        self._ep.modify(conn.fd, _IN)
        return self._send(conn)

    def _send(self, conn, data=None):
        data = self._request if data is None else data
        try:
            # A request of a few hundred bytes fits a fresh socket's send buffer in one call; large custom
            # headers may not: the rest goes when the socket is writable again.
            sent = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            return self._reset(conn)
        except OSError as exc:
            self._drop_socket(conn)
            return self._finish(conn, 'refused' if exc.errno == errno.ECONNREFUSED else 'other')
        if sent < len(data):
            conn.buf = data[sent:]
            conn.phase = _SEND
            self._ep.modify(conn.fd, _OUT)
        return None

    def _writable(self, conn):
        rest, conn.buf = conn.buf, b''
        conn.phase = _HTTP
        self._ep.modify(conn.fd, _IN)
        return self._send(conn, rest)

    def _readable(self, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return self._reset(conn)
        except OSError:
            self._drop_socket(conn)
            return self._finish(conn, 'other')
        if data:
            conn.buf += data
        try:
            complete = self._parse(conn, eof=not data)
        except load.BadResponse:
            self._drop_socket(conn)
            return self._finish(conn, 'other')
        if complete:
            self._drop_socket(conn)
            return self._finish(conn, None)
        if not data:
            return self._reset(conn)  # closed before a whole response: what a reset looks like
        return None

    def _parse(self, conn, eof):
        """Whether the response in ``conn.buf`` is complete (``read_response``'s rules, incremental)."""
        if conn.head is None:
            end = conn.buf.find(b'\r\n\r\n')
            if end < 0:
                return False
            lines = conn.buf[:end].decode('latin-1').split('\r\n')
            parts = lines[0].split(' ', 2)
            if len(parts) < 2 or not parts[0].startswith('HTTP/1.'):
                raise load.BadResponse('not an HTTP/1.x status line: %r' % lines[0][:80])
            headers = {}
            for line in lines[1:]:
                k, sep, v = line.partition(':')
                if sep:
                    headers[k.strip().lower()] = v.strip()
            conn.head = (int(parts[1]), headers, end + 4)
        status, headers, body = conn.head
        conn.status = status
        conn.cluster = headers.get(load.CLUSTER_HEADER)
        if self.spec.method == 'HEAD' or status in (204, 304) or 100 <= status < 200:
            return True
        if 'chunked' in headers.get('transfer-encoding', '').lower():
            return _chunked_complete(conn.buf, body)
        if 'content-length' in headers:
            return len(conn.buf) - body >= int(headers['content-length'])
        return eof  # delimited by the close

    def _reset(self, conn):
        self._drop_socket(conn)
        # Like browsers, a multi-address client sends an idempotent request that was reset before it
        # got an answer again, to the next address of the same DNS answer.
        if (conn.kind == 'main' and self.spec.multi_address and self.spec.method in ('GET', 'HEAD')
                and any(a not in conn.tried for a in conn.addrs)):
            conn.buf = b''
            conn.head = None
            conn.status = -1
            return self._open(conn)
        return self._finish(conn, 'reset')

    def _drop_socket(self, conn):
        if conn.sock is not None:
            self._fds.pop(conn.fd, None)
            try:
                self._ep.unregister(conn.fd)
            except (OSError, ValueError):
                pass
            conn.sock.close()
            conn.sock = None

    def _finish(self, conn, error):
        if conn.done:
            return None
        conn.done = True
        self._drop_socket(conn)
        if conn.qid is not None:
            self._dns_pending.pop(conn.qid, None)
        now = time.monotonic()
        if error is not None:
            conn.status = -1
        if conn.kind == 'probe':
            self._side_in_flight.discard(conn)
            self.probes[conn.probe_addr].append([round(conn.t0 - self._t_start, 4), conn.status, error,
                                                 round(now - conn.t0, 6)])
            return None
        self._in_flight -= 1
        t = round(conn.t0 - self._t_start, 4)
        rec = {'t': t, 'addr': conn.addr, 'status': conn.status, 'error': error,
               'latency': round(now - conn.t0, 6), 'cluster': conn.cluster, 'tries': conn.tries,
               'late': round(conn.late if conn.late > 0 else 0.0, 4)}
        self.records.append(rec)
        sec = int(t)
        total, errors = self._per_second.get(sec, (0, 0))
        self._per_second[sec] = (total + 1, errors + (0 if error is None and 200 <= conn.status < 400 else 1))
        return None

    # -- DNS ----------------------------------------------------------------------------------------

    def _lookup(self, conn):
        conn.phase = _DNS
        if self._udp is not None:
            return self._send_query(conn)
        host, port = self.spec.host, self.spec.port
        fut = self._pool.submit(socket.getaddrinfo, host, port, socket.AF_INET, socket.SOCK_STREAM)
        fut.add_done_callback(lambda f, c=conn: self._answer_in(c, f))
        return None

    def _answer_in(self, conn, fut):
        # A pool thread: hand the answer to the loop's thread, never touch the loop from here.
        self._done_q.append((conn, fut))
        try:
            self._wake_w.send(b'\0')
        except (BlockingIOError, OSError):
            pass  # the pipe is full of wake-ups already, or the run ended

    def _resolved(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        while self._done_q:
            conn, fut = self._done_q.popleft()
            if conn.done:
                continue
            try:
                addrs = []
                for info in fut.result():
                    if info[4][0] not in addrs:
                        addrs.append(info[4][0])
            except Exception:  # noqa: BLE001 - a failed lookup is a measured outcome
                addrs = []
            self._answered(conn, addrs)

    def _send_query(self, conn):
        qid = random.getrandbits(16)
        while qid in self._dns_pending:
            qid = random.getrandbits(16)
        wire = self._query
        wire[0] = qid >> 8
        wire[1] = qid & 0xff
        try:
            self._udp.send(wire)
        except OSError:
            return self._answered(conn, [])
        conn.qid = qid
        self._dns_pending[qid] = conn
        return None

    def _udp_readable(self):
        while True:
            try:
                data = self._udp.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # ICMP port unreachable (no server): every pending query fails now, like dnspython's.
                for conn in list(self._dns_pending.values()):
                    self._answered(conn, [])
                return
            if len(data) < 12:
                continue
            conn = self._dns_pending.get((data[0] << 8) | data[1])
            if conn is None:
                continue  # a late answer to a query that already timed out
            try:
                msg = dns.message.from_wire(data)
            except dns.exception.DNSException:
                continue
            if not msg.question or msg.question[0].name != self._qname:
                continue
            del self._dns_pending[msg.id]
            conn.qid = None
            addrs = []
            if msg.rcode() == dns.rcode.NOERROR:
                for rrset in msg.answer:
                    if rrset.rdtype == dns.rdatatype.A:
                        for rr in rrset:
                            if rr.address not in addrs:
                                addrs.append(rr.address)
            self._answered(conn, addrs)

    def _answered(self, conn, addrs):
        if conn.done:
            return None
        if conn.kind == 'watch':
            if not addrs:
                return self._watch_failed(conn, 'dns_failure')
            w = self.dns_watch
            now = time.monotonic()
            conn.done = True
            w['latency'].append(now - conn.t0)
            w['samples'].append((round(conn.t0 - self._t_start, 4), sorted(set(addrs)),
                                 round(now - self._t_start, 4)))
            return None
        if not addrs:
            return self._finish(conn, 'dns_failure')
        conn.addrs = addrs
        return self._open(conn)

    def _watch_query(self, now, late):
        w = self.dns_watch
        conn = _Conn('watch', now, late)
        w['late'].append(late if late > 0 else 0.0)
        w['queries'] += 1
        self._watch_timeouts.append((now + min(1.0, self.spec.timeout), conn))
        self._lookup(conn)

    def _watch_failed(self, conn, cls):
        if conn.done:
            return None
        conn.done = True
        if conn.qid is not None:
            self._dns_pending.pop(conn.qid, None)
        w = self.dns_watch
        w['failures'][cls] = w['failures'].get(cls, 0) + 1
        w['latency'].append(time.monotonic() - conn.t0)
        return None


def _chunked_complete(buf, pos):
    """Whether ``buf[pos:]`` holds a whole chunked body, trailers included."""
    n = len(buf)
    while True:
        eol = buf.find(b'\r\n', pos)
        if eol < 0:
            return False
        try:
            size = int(buf[pos:eol].split(b';', 1)[0].strip(), 16)
        except ValueError:
            raise load.BadResponse('bad chunk size line')
        pos = eol + 2
        if size == 0:
            # trailers end with an empty line
            while True:
                eol = buf.find(b'\r\n', pos)
                if eol < 0:
                    return False
                if eol == pos:
                    return True
                pos = eol + 2
        if n < pos + size + 2:
            return False
        pos += size + 2
