# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Open-loop HTTP/1.1 load on raw asyncio streams, one compact record per request.

Why not an HTTP client library: a drill must see what a browser sees on a *new connection*
(DNS answer, connect refused/reset, which address served), and must keep its schedule while the
target fails: requests are started on a clock (request i at ``i / qps``), never in reply to a
previous one, so a dead region cannot slow the load down (the "coordinated omission" of
closed-loop tools).  Concurrency bounds the requests in flight: when the bound is reached, the next
request waits for a slot and then starts late (its record shows its real start time); none is
dropped, and ``ActualQPS`` shows the shortfall.

DNS is resolved for every new connection, through the system resolver or through an explicit
``nameserver`` ``ip:port`` with dnspython (the lab's GTM DNS listens on a port other than 53, which
the system resolver cannot use), and never cached here.
"""

import asyncio
import math
import os
import signal
import socket
import subprocess
import ssl
import time

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported, but keep the import sanity quiet
    from urlparse import urlsplit

try:
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    HAS_DNSPYTHON = True
except ImportError:
    HAS_DNSPYTHON = False

try:
    # libuv's loop (MagicStack's uvloop) runs the same asyncio code at a fraction of the CPU per
    # connection, which keeps the client from becoming the bottleneck it measures; optional.
    import uvloop

    HAS_UVLOOP = True
except ImportError:
    HAS_UVLOOP = False

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import analysis, limits

CLUSTER_HEADER = 'x-drlab-cluster'
USER_AGENT = 'meshdr-drill/1'
_READ_LIMIT = 1 << 20
# A request scheduled inside the duration still starts when the engine is late by up to this
# (a busy host); later ones are dropped, so a run always ends by duration + grace + timeout.
LATE_GRACE = 1.0


class DnsFailure(Exception):
    """The name did not resolve (NXDOMAIN, no answer, DNS timeout, server failure)."""


class BadResponse(Exception):
    """The server answered something that is not HTTP/1.x."""


def parse_nameserver(value):
    """'127.0.0.1:15353' -> ('127.0.0.1', 15353); '10.0.0.2' -> ('10.0.0.2', 53)."""
    if not value:
        return None
    host, sep, port = value.rpartition(':')
    if not sep:
        return value, 53
    try:
        return host, int(port)
    except ValueError:
        raise ValueError('nameserver must be "ip" or "ip:port", got %r' % value)


_RESET_ERRORS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, asyncio.IncompleteReadError)


def classify(exc, phase):
    """Error class of an exception raised during ``phase`` ('dns', 'connect', 'http')."""
    if isinstance(exc, DnsFailure) or isinstance(exc, socket.gaierror):
        return 'dns_failure'
    if HAS_DNSPYTHON and isinstance(exc, dns.exception.DNSException):
        return 'dns_failure'
    if isinstance(exc, asyncio.TimeoutError):
        return 'dns_failure' if phase == 'dns' else 'timeout'
    if isinstance(exc, ConnectionRefusedError):
        return 'refused'
    if isinstance(exc, _RESET_ERRORS):
        return 'reset'
    return 'other'


class LoadSpec(object):
    """What to run.  Validated on construction so a module fails before sending anything."""

    def __init__(self, url, qps=100.0, duration=10.0, concurrency=None, timeout=3.0, keepalive=False,
                 nameserver=None, multi_address=False, host_header=None, headers=None, method='GET',
                 abort_error_rate=None, abort_after_seconds=5, progress_interval=5.0, dns_watch_interval=0.1,
                 probe_addresses=None, probe_qps=2.0, watch_pid=None):
        parts = urlsplit(url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError('url must be http:// or https:// with a host, got %r' % url)
        if not qps or qps <= 0:
            raise ValueError('qps must be > 0')
        if not duration or duration <= 0:
            raise ValueError('duration must be > 0')
        if concurrency is not None and concurrency < 1:
            raise ValueError('concurrency must be >= 1')
        if timeout <= 0:
            raise ValueError('timeout must be > 0')
        if abort_error_rate is not None and not 0 <= abort_error_rate <= 1:
            raise ValueError('abort_error_rate must be between 0 and 1')
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == 'https' else 80)
        self.target = (parts.path or '/') + (('?' + parts.query) if parts.query else '')
        self.qps = float(qps)
        self.duration = float(duration)
        self.timeout = float(timeout)
        # Default: enough slots for every request of a whole timeout to hang (a blackholed region)
        # without delaying the schedule.
        self.concurrency = int(concurrency) if concurrency else int(math.ceil(self.qps * self.timeout)) + 16
        # External tools run workers that each send qps/workers per second (closed loop per worker).
        self.workers = int(concurrency) if concurrency else max(1, min(10, int(self.qps)))
        self.keepalive = bool(keepalive)
        self.nameserver = parse_nameserver(nameserver)
        if self.nameserver and not HAS_DNSPYTHON:
            raise ValueError('nameserver needs the dnspython library')
        self.multi_address = bool(multi_address)
        # The domain, without the port: what the gateway's virtual host matches (in the lab the
        # gateway's port 80 listens on 8080, but the route is still for the bare domain).
        self.host_header = host_header or self.host
        self.headers = dict(headers or {})
        self.method = method.upper()
        self.abort_error_rate = abort_error_rate
        self.abort_after_seconds = int(abort_after_seconds or 1)
        self.progress_interval = float(progress_interval or 0)
        # The DNS watcher: the same resolver as the requests, on its own clock (0 = off).  10 queries/s
        # resolve the moment an address leaves the answer to 0.1 s, whatever the request rate.
        self.dns_watch_interval = float(dns_watch_interval or 0)
        if self.dns_watch_interval and self.dns_watch_interval > limits.MAX_DNS_WATCH_INTERVAL:
            raise ValueError('dns_watch_interval must be at most %g s' % limits.MAX_DNS_WATCH_INTERVAL)
        # Direct probes: requests to each of these addresses (IP literals, no DNS) at probe_qps, new
        # connection each.  The survivor's series is the control (does this client reach a healthy
        # region at all?); the target's says when its fault took effect and when it served again.
        self.probe_addresses = [a for a in (probe_addresses or []) if a]
        for a in self.probe_addresses:
            try:
                socket.inet_aton(a)
            except (OSError, ValueError):
                raise ValueError('probe addresses must be IPv4 literals, got %r' % a)
        if probe_qps is not None and probe_qps <= 0:
            raise ValueError('probe_qps must be > 0')
        self.probe_qps = float(probe_qps or 2.0)
        # Stop when this process is gone (the ansible-playbook that started a background load).
        self.watch_pid = int(watch_pid) if watch_pid else None
        try:
            socket.inet_aton(self.host)
            self.literal = True
        except (OSError, ValueError):
            self.literal = False

    def as_dict(self):
        return {
            'url': self.url, 'qps': self.qps, 'duration': self.duration, 'concurrency': self.concurrency,
            'timeout': self.timeout, 'keepalive': self.keepalive,
            'nameserver': '%s:%d' % self.nameserver if self.nameserver else None,
            'multi_address': self.multi_address, 'host_header': self.host_header, 'method': self.method,
            'abort_error_rate': self.abort_error_rate, 'abort_after_seconds': self.abort_after_seconds,
            'dns_watch_interval': self.dns_watch_interval, 'probe_addresses': list(self.probe_addresses),
            'probe_qps': self.probe_qps, 'watch_pid': self.watch_pid,
        }

    def request_bytes(self):
        lines = ['%s %s HTTP/1.1' % (self.method, self.target), 'Host: %s' % self.host_header,
                 'User-Agent: %s' % USER_AGENT, 'Accept: */*',
                 'Connection: %s' % ('keep-alive' if self.keepalive else 'close')]
        for k, v in self.headers.items():
            lines.append('%s: %s' % (k, v))
        return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')


class LoadEngine(object):
    """Runs one LoadSpec; ``records`` fills as requests complete.  Use ``run()`` (blocking)."""

    engine = 'asyncio+uvloop' if HAS_UVLOOP else 'asyncio'

    def __init__(self, spec, on_progress=None):
        self.spec = spec
        self.on_progress = on_progress
        self.records = []
        self.aborted = None
        self.start_epoch = None
        self.end_epoch = None
        self._request = spec.request_bytes()
        self._idle = []  # keep-alive connections: (reader, writer, addr)
        self._resolver = None
        self._ssl = ssl.create_default_context() if spec.scheme == 'https' else None
        self._stop = False
        self._t_start = None
        self._per_second = {}  # second -> (requests, errors), for the live abort check
        self._abort_checked = None
        self.interrupted = None
        self.dropped = 0
        self.dns_watch = None
        self.probes = dict((a, []) for a in spec.probe_addresses)
        self._cpu0 = None
        self._load_max = None
        self._side = set()  # probe requests in flight

    # -- public -------------------------------------------------------------------------------

    def run(self, handle_signals=False):
        """Run to completion (at most duration + LATE_GRACE + timeout) and return the result dict.

        ``handle_signals``: SIGINT/SIGTERM stop the load at once (in-flight requests are cancelled, not
        waited for) and the partial result is returned with ``interrupted`` set.
        """
        loop = uvloop.new_event_loop() if HAS_UVLOOP else asyncio.new_event_loop()
        try:
            if handle_signals:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, self.request_stop, 'signal %s' % signal.Signals(signum).name)
            return loop.run_until_complete(self.run_async())
        finally:
            loop.close()

    def request_stop(self, reason):
        """Stop the load now (from the loop's thread): the result says it was interrupted and why."""
        if self.interrupted is None:
            at = round(time.time() - self.start_epoch, 3) if self.start_epoch else 0.0
            self.interrupted = {'reason': reason, 'at': at}
        self._stop = True

    async def run_async(self):
        spec = self.spec
        loop = asyncio.get_event_loop()
        if spec.nameserver:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [spec.nameserver[0]]
            resolver.port = spec.nameserver[1]
            resolver.cache = None  # resolve for every connection: the drill observes DNS failover
            self._resolver = resolver
        sem = asyncio.Semaphore(spec.concurrency)
        in_flight = set()
        self.start_epoch = time.time()
        self._t_start = loop.time()
        self._cpu0 = time.process_time()
        side_tasks = [loop.create_task(self._monitor())]
        if spec.dns_watch_interval and not spec.literal:
            self.dns_watch = {'interval': spec.dns_watch_interval, 'queries': 0, 'failures': {}, 'samples': [],
                              'latency': [], 'late': []}
            side_tasks.append(loop.create_task(self._watch_dns()))
        for addr in spec.probe_addresses:
            side_tasks.append(loop.create_task(self._probe_loop(addr)))
        total = int(round(spec.qps * spec.duration))
        try:
            for i in range(total):
                due = self._t_start + i / spec.qps
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)  # behind schedule: start at once, but let replies be read
                if self._stop:
                    break
                await sem.acquire()
                now = loop.time()
                if now - self._t_start >= spec.duration + LATE_GRACE:
                    sem.release()
                    # Far behind schedule (starved, or concurrency too low): stop, bounded.  What was
                    # not sent is counted: a client that could not send its load is not a measurement.
                    self.dropped = total - i
                    break
                task = loop.create_task(self._one(now - due))
                in_flight.add(task)
                task.add_done_callback(lambda t: (in_flight.discard(t), sem.release()))
            if in_flight and self.interrupted is None:
                # Every request is bounded by its timeout; the margin covers scheduling jitter.
                await asyncio.wait(list(in_flight), timeout=spec.timeout + 2)
        finally:
            for task in side_tasks + list(in_flight) + list(self._side):
                task.cancel()
            # Let the cancelled tasks unwind (closing their sockets) before the loop goes away.
            await asyncio.gather(*(side_tasks + list(in_flight) + list(self._side)), return_exceptions=True)
            for idle in self._idle:
                idle[1].close()
            self._idle = []
        self.end_epoch = time.time()
        self._cpu_seconds = time.process_time() - self._cpu0
        self._progress(final=True)
        return self.result()

    def result(self):
        spec = self.spec
        records = sorted(self.records, key=lambda r: r['t'])
        # The sending window: the asked duration, longer when requests had to start late.
        last_start = records[-1]['t'] + 1.0 / spec.qps if records else 0.0
        aggr = analysis.aggregates(
            records, requested_qps=spec.qps, requested_duration=spec.duration, num_threads=spec.concurrency,
            start_time=_iso(self.start_epoch), actual_duration=max(spec.duration, last_start))
        return {
            'backend': 'builtin',
            'options': spec.as_dict(),
            'start_epoch': self.start_epoch,
            'end_epoch': self.end_epoch,
            'started_at': _iso(self.start_epoch),
            'aborted': self.aborted,
            'aggregates': aggr,
            'timeline': analysis.timeline(records, duration=spec.duration),
            'records': records,
            'interrupted': self.interrupted,
            'client': self.client_figures(),
            'dns_watch': self._dns_watch_result(),
            'probes': dict((a, rows) for a, rows in self.probes.items()),
        }

    def client_figures(self):
        """What the client itself went through: CPU it used, host load, requests it could not send."""
        wall = (self.end_epoch or time.time()) - (self.start_epoch or time.time())
        cpu = getattr(self, '_cpu_seconds', None)
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        return {'cpu_seconds': round(cpu, 3) if cpu is not None else None, 'wall_seconds': round(wall, 3),
                'cpu_share': round(cpu / wall, 3) if cpu is not None and wall > 0 else None,
                'cores': cores, 'loadavg_max': self._load_max, 'dropped': self.dropped, 'engine': self.engine}

    def _dns_watch_result(self):
        w = self.dns_watch
        if w is None:
            return None
        # Every change of the answer, stamped with the query that first saw it (``t``, when it was sent;
        # ``answered``, when its answer arrived) and the last one that still saw the previous answer
        # (``prev_t``): the transition happened in between.  A request started after ``answered`` asks
        # the resolver after it already gave the new answer; one started at ``t`` may still get the old.
        changes = []
        last = last_t = None
        for t, addrs, answered in sorted(w['samples']):
            if addrs != last:
                changes.append({'t': t, 'prev_t': last_t, 'addrs': addrs, 'answered': answered})
                last = addrs
            last_t = t
        return {'interval': w['interval'], 'queries': w['queries'], 'failures': dict(w['failures']),
                # A multi-address client has nothing to fall back to when every answer holds one address.
                'max_addresses': max([len(sample[1]) for sample in w['samples']] or [0]),
                'changes': changes, 'latency': analysis.latency_summary(w['latency']),
                'late': analysis.latency_summary(w['late'])}

    # -- the DNS watcher and the direct probes --------------------------------------------------

    async def _watch_dns(self):
        """Query the clients' resolver every ``dns_watch_interval`` s, each query on its own slot of the
        clock (a slow or lost answer does not delay the next query); the changes of the answer are
        derived from the queries in start order (``_dns_watch_result``)."""
        loop = asyncio.get_event_loop()
        w = self.dns_watch
        interval = w['interval']
        k = 0
        while not self._stop:
            due = self._t_start + k * interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._stop:
                break
            task = loop.create_task(self._dns_query(loop.time() - due))
            self._side.add(task)
            task.add_done_callback(self._side.discard)
            # Next slot after now: a late watcher skips slots rather than bunching queries.
            k = max(k + 1, int((loop.time() - self._t_start) / interval) + 1)

    async def _dns_query(self, late):
        loop = asyncio.get_event_loop()
        w = self.dns_watch
        lifetime = min(1.0, self.spec.timeout)
        start = loop.time()
        w['late'].append(max(0.0, late))
        w['queries'] += 1
        t = round(start - self._t_start, 4)
        try:
            addrs = sorted(set(await asyncio.wait_for(self._resolve(lifetime), lifetime + 0.5)))
        except asyncio.CancelledError:
            w['queries'] -= 1  # the run ended first: not a measurement
            raise
        except Exception as exc:  # noqa: BLE001 - a failed query is a measured outcome, classified
            c = classify(exc, 'dns')
            w['failures'][c] = w['failures'].get(c, 0) + 1
            w['latency'].append(loop.time() - start)
            return
        w['latency'].append(loop.time() - start)
        w['samples'].append((t, addrs, round(loop.time() - self._t_start, 4)))

    async def _probe_loop(self, addr):
        loop = asyncio.get_event_loop()
        j = 0
        while not self._stop:
            delay = self._t_start + j / self.spec.probe_qps - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._stop:
                break
            task = loop.create_task(self._probe(addr))
            self._side.add(task)
            task.add_done_callback(self._side.discard)
            j = max(j + 1, int((loop.time() - self._t_start) * self.spec.probe_qps) + 1)

    async def _probe(self, addr):
        """One request straight to ``addr`` (no DNS), new connection: [t, status, error, latency]."""
        loop = asyncio.get_event_loop()
        start = loop.time()
        status, error = -1, None
        phase = 'connect'
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                addr, self.spec.port, ssl=self._ssl, server_hostname=self.spec.host if self._ssl else None,
                limit=_READ_LIMIT), self.spec.timeout)
            phase = 'http'
            remaining = max(0.001, self.spec.timeout - (loop.time() - start))
            writer.write(self._request)
            status = (await asyncio.wait_for(read_response(reader, self.spec.method == 'HEAD'), remaining))[0]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is a measured outcome, classified
            error = classify(exc, phase)
        finally:
            if writer is not None:
                writer.close()
        self.probes[addr].append([round(start - self._t_start, 4), status, error, round(loop.time() - start, 6)])

    # -- one request --------------------------------------------------------------------------

    async def _one(self, late=0.0):
        loop = asyncio.get_event_loop()
        t0 = loop.time()
        state = {'phase': 'dns', 'addr': None, 'tries': 0, 'timed_out': False}
        # ``late``: how far behind its slot on the clock this request started (the client's own health).
        rec = {'t': round(t0 - self._t_start, 4), 'addr': None, 'status': -1, 'error': None,
               'latency': None, 'cluster': None, 'tries': 0, 'late': round(max(0.0, late), 4)}
        # The timeout cancels this task itself: cheaper than wait_for, which wraps every request in
        # a second task (it matters at 1,000 new connections per second on a shared core).
        task = asyncio.current_task() if hasattr(asyncio, 'current_task') else asyncio.Task.current_task()
        timer = loop.call_later(self.spec.timeout, _expire, task, state)
        try:
            rec['status'], rec['cluster'] = await self._exchange(state)
        except asyncio.CancelledError:
            if not state['timed_out']:
                raise
            rec['error'] = 'dns_failure' if state['phase'] == 'dns' else 'timeout'
        except Exception as exc:  # noqa: BLE001 - every failure is a measured outcome, classified
            rec['error'] = classify(exc, state['phase'])
        finally:
            timer.cancel()
        rec['addr'] = state['addr']
        rec['tries'] = state['tries']
        rec['latency'] = round(loop.time() - t0, 6)
        self.records.append(rec)
        sec = int(rec['t'])
        total, errors = self._per_second.get(sec, (0, 0))
        self._per_second[sec] = (total + 1, errors + (0 if analysis.is_ok(rec) else 1))

    async def _resolve(self, lifetime=None):
        spec = self.spec
        if spec.literal:
            return [spec.host]
        if self._resolver is not None:
            try:
                answer = await self._resolver.resolve(spec.host, 'A', search=False, lifetime=lifetime or spec.timeout)
            except dns.exception.DNSException as exc:
                raise DnsFailure(str(exc))
            addrs = [r.address for r in answer]
        else:
            infos = await asyncio.get_event_loop().getaddrinfo(
                spec.host, spec.port, family=socket.AF_INET, type=socket.SOCK_STREAM)
            addrs = []
            for info in infos:
                if info[4][0] not in addrs:
                    addrs.append(info[4][0])
        if not addrs:
            raise DnsFailure('no address for %s' % spec.host)
        return addrs

    async def _connect(self, state, exclude=()):
        spec = self.spec
        if spec.keepalive and self._idle and not exclude:
            reader, writer, addr = self._idle.pop()
            state['addr'] = addr
            state['reused'] = True
            return reader, writer
        if state.get('addrs') is None:
            state['phase'] = 'dns'
            state['addrs'] = await self._resolve()
        addrs = state['addrs']
        state['phase'] = 'connect'
        # Without multi-address a client uses the first address of the answer, as most do.
        candidates = [a for a in (addrs if spec.multi_address else addrs[:1]) if a not in exclude]
        if not candidates:
            raise ConnectionRefusedError('no address of the answer is left to try')
        for i, addr in enumerate(candidates):
            state['addr'] = addr
            state['tries'] += 1
            try:
                reader, writer = await asyncio.open_connection(
                    addr, spec.port, ssl=self._ssl, server_hostname=spec.host if self._ssl else None,
                    limit=_READ_LIMIT)
                return reader, writer
            except ConnectionRefusedError:
                # Like browsers: a refused connection moves on to the next address of the answer.
                if i == len(candidates) - 1:
                    raise
        raise DnsFailure('no address to connect to')  # pragma: no cover - candidates is never empty

    async def _exchange(self, state):
        tried = []
        while True:
            reader, writer = await self._connect(state, exclude=tried)
            state['phase'] = 'http'
            reusable = False
            try:
                writer.write(self._request)
                await writer.drain()
                status, headers, reusable = await read_response(reader, self.spec.method == 'HEAD')
                return status, headers.get(CLUSTER_HEADER)
            except _RESET_ERRORS:
                # Like browsers, a multi-address client sends an idempotent request that was reset
                # before it got an answer again, to the next address of the same DNS answer.
                tried.append(state['addr'])
                if not (self.spec.multi_address and self.spec.method in ('GET', 'HEAD')) \
                        or len(tried) >= len(state.get('addrs') or ()):
                    raise
            finally:
                if reusable and self.spec.keepalive and not self._stop:
                    self._idle.append((reader, writer, state['addr']))
                else:
                    writer.close()

    # -- progress and live abort ----------------------------------------------------------------

    async def _monitor(self):
        loop = asyncio.get_event_loop()
        interval = self.spec.progress_interval
        next_progress = loop.time() + interval if interval else None
        next_load = loop.time()
        while True:
            await asyncio.sleep(0.25)
            now = loop.time()
            if self.spec.watch_pid and not pid_alive(self.spec.watch_pid):
                # The playbook that started this background load is gone (Ctrl-C, AWX cancel, kill):
                # nobody will collect it, so stop within this tick instead of loading a broken region on.
                self.request_stop('the process that started the load (pid %d) is gone' % self.spec.watch_pid)
            if now >= next_load:
                next_load = now + 1.0
                try:
                    one = os.getloadavg()[0]
                    self._load_max = max(self._load_max or 0.0, round(one, 2))
                except (AttributeError, OSError):
                    pass
            if self.spec.abort_error_rate is not None and self.aborted is None:
                self._check_abort(now - self._t_start)
            if next_progress is not None and now >= next_progress:
                next_progress += interval
                self._progress()

    def _check_abort(self, elapsed):
        # Only whole seconds that ended at least a second ago: their fast failures are in.
        settled = int(elapsed) - 1
        if settled < self.spec.abort_after_seconds or settled == self._abort_checked:
            return
        self._abort_checked = settled
        buckets = []
        for sec in range(settled):
            total, errors = self._per_second.get(sec, (0, 0))
            buckets.append({'t': sec, 'span': 1, 'total': total, 'errors': errors})
        verdict = analysis.evaluate_abort(buckets, error_rate=self.spec.abort_error_rate,
                                          for_seconds=self.spec.abort_after_seconds)
        if verdict['triggered']:
            self.aborted = verdict
            self._stop = True

    def snapshot(self):
        """A small progress summary: totals, last-second rate, per-address outcomes."""
        now = time.time()
        elapsed = now - self.start_epoch if self.start_epoch else 0.0
        records = list(self.records)
        ok = sum(1 for r in records if analysis.is_ok(r))
        by_address = {}
        for r in records:
            per = by_address.setdefault(r['addr'] or analysis.UNRESOLVED, {})
            o = analysis.outcome(r)
            per[o] = per.get(o, 0) + 1
        last_second = [r for r in records if elapsed - 2 <= r['t'] < elapsed - 1]
        return {
            'elapsed': round(elapsed, 3), 'duration': self.spec.duration, 'requests': len(records), 'ok': ok,
            'errors': len(records) - ok, 'rate': round(len(records) / elapsed, 2) if elapsed else 0.0,
            'last_second': {'requests': len(last_second),
                            'errors': sum(1 for r in last_second if not analysis.is_ok(r))},
            'by_address': by_address, 'aborted': self.aborted, 'updated_epoch': now,
        }

    def _progress(self, final=False):
        if self.on_progress is None:
            return
        snap = self.snapshot()
        snap['final'] = final
        try:
            self.on_progress(snap)
        except Exception:  # noqa: BLE001,S110 - a progress sink must never break the load
            pass


async def read_response(reader, head=False):
    """Read one HTTP/1.x response.  Returns (status, lower-cased headers, connection reusable)."""
    raw = await reader.readuntil(b'\r\n\r\n')
    lines = raw.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ', 2)
    if len(parts) < 2 or not parts[0].startswith('HTTP/1.'):
        raise BadResponse('not an HTTP/1.x status line: %r' % lines[0][:80])
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if ':' in line:
            k, v = line.split(':', 1)
            headers[k.strip().lower()] = v.strip()
    reusable = headers.get('connection', '').lower() != 'close' and parts[0] == 'HTTP/1.1'
    if head or status in (204, 304) or 100 <= status < 200:
        return status, headers, reusable
    if 'chunked' in headers.get('transfer-encoding', '').lower():
        while True:
            size_line = await reader.readuntil(b'\r\n')
            size = int(size_line.split(b';', 1)[0].strip(), 16)
            if size == 0:
                # trailers end with an empty line
                while (await reader.readuntil(b'\r\n')) != b'\r\n':
                    pass
                break
            await reader.readexactly(size + 2)
    elif 'content-length' in headers:
        await reader.readexactly(int(headers['content-length']))
    else:
        await reader.read()  # delimited by the close
        reusable = False
    return status, headers, reusable


def spawn_detached(cmd, cwd, log, env):
    """Start ``cmd`` (an argument list, no shell) in its own session, output to ``log``; return its pid.

    Not ``module.run_command``: that waits for the command, and this one must outlive the module (the
    restore after an interrupt runs after the playbook that started the load is gone).
    """
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fd,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
    finally:
        os.close(fd)
    return proc.pid


def pid_alive(pid):
    """Whether ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            # "pid (comm) state ...": comm may hold spaces or parentheses, the state follows the last ')'.
            return f.read().rpartition(')')[2].split()[0] != 'Z'
    except (IOError, OSError, IndexError):
        return True


def _expire(task, state):
    state['timed_out'] = True
    task.cancel()


def _iso(epoch):
    if epoch is None:
        return None
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(epoch)) + ('.%06dZ' % int((epoch % 1) * 1e6))


def run_load(spec, on_progress=None, handle_signals=False, engine=None):
    """Run the built-in engine for ``spec`` (a LoadSpec); blocking.

    Plain HTTP with a new connection per request (the drill's default) runs on the epoll engine of
    ``fastload``, which costs about what hey costs per request at any rate; HTTPS and keep-alive run
    on asyncio.  ``engine`` ('epoll' or 'asyncio') forces one (tests, the benchmark).
    """
    # Imported here: fastload builds on this module's LoadEngine.
    from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import fastload

    if engine == 'epoll' or (engine is None and fastload.supports(spec)):
        if not fastload.supports(spec):
            raise ValueError('the epoll engine runs plain HTTP without keep-alive on Linux only')
        return fastload.SelectorEngine(spec, on_progress=on_progress).run(handle_signals=handle_signals)
    return LoadEngine(spec, on_progress=on_progress).run(handle_signals=handle_signals)
