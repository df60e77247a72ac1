#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: drill_load
short_description: Send steady open-loop HTTP load during a DR drill and record every request
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Sends HTTP/1.1 requests at a fixed rate for a fixed duration, on a clock (open loop). Request N starts
    N/O(qps) seconds after the start whatever happened to the previous ones, so a failed region cannot slow the
    load down and hide its own errors.
  - With O(keepalive=false) (the default) every request opens a new connection and resolves the name again,
    so the load follows DNS (GTM) failover the way new clients do.
  - Records one compact line per request (start offset, address connected to, HTTP status or error class
    C(refused), C(reset), C(timeout), C(dns_failure), C(other), latency, and the C(x-drlab-cluster) response
    header that says which region served), written to O(records_file) with mode C(0600).
  - Returns fortio-compatible aggregates (C(RetCodes) with C(-1) for socket errors, C(IPCountMap),
    C(ActualQPS), C(DurationHistogram) with percentiles) plus a per-second timeline by address and outcome.
  - Bounded. The run stops by itself after O(duration), or earlier when the abort condition
    O(abort_error_rate) holds for O(abort_after_seconds) consecutive seconds. Requests that must start late on
    a busy host start at most 1 s after O(duration); requests in flight end within O(timeout).
  - "Designed to run in the background with C(async) and C(poll: 0) while the drill injects the fault; watch
    O(progress_file) for progress and collect the result with M(ansible.builtin.async_status)."
  - Does not call any Alibaba Cloud API.
options:
  url:
    description:
      - The URL to load, C(http://) or C(https://). Its host is the name resolved for every connection (the GTM
        domain), and the C(Host) header unless O(host_header) is set.
    type: str
    required: true
  qps:
    description:
      - Requests per second asked. Achieved rate is returned as C(aggregates.ActualQPS).
      - At most 10000.
    type: float
    default: 100
  duration:
    description:
      - Seconds of load. At most 21600 (6 hours).
    type: float
    default: 60
  concurrency:
    description:
      - Maximum requests in flight. When reached, the next request waits for a slot and starts late (its record
        shows its real start); none is dropped.
      - Default is O(qps) x O(timeout) + 16, so that even a region that blackholes every request for a whole
        O(timeout) does not delay the schedule.
      - For the O(backend=fortio) and O(backend=hey) backends, the number of workers (C(-c)); default there is
        O(qps), at most 10.
    type: int
  timeout:
    description:
      - Seconds allowed for one request, DNS and connect included (fortio's default is 3 s).
    type: float
    default: 3
  keepalive:
    description:
      - Reuse connections. Off by default, as in the drill, because keep-alive connections stay on the failed region's
        address and never see DNS failover.
    type: bool
    default: false
  nameserver:
    description:
      - Resolve through this DNS server, C(ip) or C(ip:port), with dnspython, for every new connection, without
        cache. Needed for the lab, whose GTM DNS listens on a port other than 53.
      - When not set, the system resolver is used (C(getaddrinfo)).
      - Only with O(backend=builtin).
    type: str
  multi_address:
    description:
      - Behave like a browser when a connection is refused, and try the next address of the DNS answer;
        a V(GET) or V(HEAD) request whose connection is reset before it got an answer is sent again to the
        next address of the same answer.
      - Without it, the first address of the answer is used, as most clients do.
      - Only with O(backend=builtin).
    type: bool
    default: false
  host_header:
    description:
      - C(Host) header to send. Default is the host name of O(url), without its port (the domain the gateway
        routes).
    type: str
  headers:
    description:
      - Extra request headers.
    type: dict
  method:
    description:
      - HTTP method.
    type: str
    choices: [GET, HEAD]
    default: GET
  backend:
    description:
      - V(builtin) is the load engine of this collection, the only one that records per-request outcomes and
        addresses (what the drill's timeline needs). Plain HTTP with a new connection per request runs on one
        epoll loop (about the CPU per request of C(hey), see C(benchmarks/load_engine.py)); HTTPS and O(keepalive)
        run on asyncio (uvloop when installed). C(client.engine) in the result says which ran.
      - V(fortio) runs C(fortio load -json) when C(fortio) is on the PATH; the result has fortio's aggregates only
        (no timeline, no records; its C(IPCountMap) counts connections).
      - V(hey) runs C(hey -o csv) (Debian package C(hey)); its CSV has no address and omits failed requests, so
        C(RetCodes) and C(ActualQPS) count answered requests only, and C(aggregates.MissingFromCSV) (scheduled minus
        answered) is an upper bound of the failures (it also counts requests hey did not send when it fell behind).
    type: str
    choices: [builtin, fortio, hey]
    default: builtin
  records_file:
    description:
      - Write the full result, with one record per request, to this file (JSON, mode C(0600)), for
        M(meshdr.alicloud.drill_report). Its directory must exist.
      - When not set, the per-request records are not kept.
    type: path
  progress_file:
    description:
      - Rewrite this file (JSON, mode C(0600)) every O(progress_interval) seconds with a progress snapshot
        (C(elapsed), C(requests), C(ok), C(errors), C(rate), C(last_second), C(by_address), C(aborted),
        C(final)), so a playbook can print progress while the load runs in the background.
      - Only with O(backend=builtin).
    type: path
  progress_interval:
    description:
      - Seconds between two progress snapshots.
    type: float
    default: 5
  abort_error_rate:
    description:
      - Abort condition. Stop the load early when the error rate of each of O(abort_after_seconds) consecutive
        seconds is above this ratio (0 to 1). The result then has C(aborted.triggered=true).
      - Only with O(backend=builtin).
    type: float
  abort_after_seconds:
    description:
      - Consecutive seconds for O(abort_error_rate).
    type: int
    default: 5
  run_id:
    description:
      - Identifier of the drill run, written into O(records_file) and picked up by
        M(meshdr.alicloud.drill_report).
    type: str
  dns_watch_interval:
    description:
      - Seconds between two queries of the DNS watcher, which asks the same resolver as the requests (O(nameserver)
        or the system's) for the name of O(url), on its own clock, and records every change of the answer with
        the query that first saw it. This is how the drill times GTM's detection (an address leaving the answer)
        and return. V(0) turns it off. At most 1.
      - Its query latency, failures and own lateness are part of the client-health figures.
      - Only with O(backend=builtin); nothing to watch when O(url) has an IP address.
    type: float
    default: 0.1
  probe_addresses:
    description:
      - IP addresses to send a direct request to (no DNS, same port, path and C(Host)) every 1/O(probe_qps)
        seconds, new connection each. The drill probes every region's address. The survivor's series is the
        control (can this client reach a healthy region at all?), the target's says when the fault took effect
        and when the region served again.
      - Only with O(backend=builtin).
    type: list
    elements: str
  probe_qps:
    description:
      - Requests per second to each of O(probe_addresses).
    type: float
    default: 2
  watch_controller:
    description:
      - Stop the load within a second when the C(ansible-playbook) process that started it is gone (Ctrl-C, an
        AWX cancel, kill), write the partial results (C(interrupted)), and run O(on_interrupt) if set. The
        process is found by this module's action plugin; this only works when the module runs on the controller
        (C(localhost)).
      - Ansible does not run C(always) or C(rescue) sections when ansible-playbook gets SIGINT or SIGTERM, and a
        background (C(async)) job outlives it. This is what stops it.
    type: bool
    default: false
  on_interrupt:
    description:
      - With O(watch_controller), when the controller process is gone, run the same C(ansible-playbook) command
        line again with these extra variables (C(-e)), detached, output to O(on_interrupt_log). The drill passes
        C(dr_drill_mode=restore), which rolls back and writes the interrupted run's partial report.
    type: dict
  on_interrupt_log:
    description:
      - File for the output of the O(on_interrupt) run (mode C(0600)).
    type: path
  watch_pid:
    description:
      - Internal, set by the action plugin with O(watch_controller). The process to watch.
    type: int
  controller_argv:
    description:
      - Internal, set by the action plugin with O(watch_controller). The controller's command line and
        working directory, for O(on_interrupt).
    type: dict
notes:
  - Check mode validates the options and the backend and sends no load; it reports RV(ignore:changed=false).
  - Every run reports RV(ignore:changed=true), since load was sent.
  - The module runs on the host it is delegated to (usually C(localhost)); run it where the clients of the
    application would be.
seealso:
  - module: meshdr.alicloud.drill_report
'''

EXAMPLES = r'''
- name: Start 60 s of load at 100 requests/s on the lab's GTM domain, in the background
  meshdr.alicloud.drill_load:
    url: "http://{{ drill_domain }}:{{ gateway_port }}/productpage"
    qps: 100
    duration: 60
    nameserver: "127.0.0.1:{{ gtm_dns_port }}"
    records_file: "{{ report_dir }}/load.json"
    progress_file: "{{ report_dir }}/progress.json"
    abort_error_rate: 0.9
    abort_after_seconds: 10
    run_id: "{{ drill_run_id }}"
  async: 120
  poll: 0
  register: load_job

- name: Collect the result
  ansible.builtin.async_status:
    jid: "{{ load_job.ansible_job_id }}"
  register: load
  until: load.finished
  retries: 60
  delay: 2

- name: Same load as browsers see it (next address on refused)
  meshdr.alicloud.drill_load:
    url: http://www.example.com/productpage
    multi_address: true
    duration: 30
'''

RETURN = r'''
backend:
  description: Backend that ran the load.
  returned: success
  type: str
  sample: builtin
options:
  description: The load as run (URL, rate, duration, concurrency, timeout, keep-alive, nameserver, ...).
  returned: always
  type: dict
  sample: {"url": "http://productpage.drill.local/productpage", "qps": 100.0, "duration": 60.0, "keepalive": false}
started_at:
  description: UTC start time (ISO 8601).
  returned: success
  type: str
  sample: "2026-05-28T20:26:40.123456Z"
start_epoch:
  description: Start time, epoch seconds. Record offsets and the timeline count from here.
  returned: success
  type: float
  sample: 1779999999.12
end_epoch:
  description: End time, epoch seconds.
  returned: success
  type: float
  sample: 1780000059.2
aborted:
  description: The abort condition that stopped the load early (C(triggered), C(reason), C(at) offset), or null.
  returned: success
  type: dict
  sample: {"triggered": true, "reason": "error rate above 0.9 for 10 consecutive seconds (ending at 31s)", "at": 31}
aggregates:
  description:
    - fortio-compatible aggregates, same field names and units (durations in seconds, C(ActualDuration) in ns).
    - C(RetCodes) keys are strings, C(-1) is a socket error. C(IPCountMap) counts requests per connected address.
  returned: success
  type: dict
  sample:
    RetCodes: {"200": 5850, "-1": 150}
    IPCountMap: {"127.0.1.1": 2150, "127.0.2.1": 3850}
    ActualQPS: 99.98
    RequestedQPS: "100.0"
    NumThreads: 100
    ActualDuration: 60000000000
    DurationHistogram: {"Count": 6000, "Avg": 0.0021, "Percentiles": [{"Percentile": 99, "Value": 0.009}]}
timeline:
  description:
    - One entry per second of the run (by request start) with C(t), C(span), C(total), C(ok), C(errors),
      C(outcomes) (outcome -> count), C(by_address) (address -> outcome -> count) and C(by_cluster)
      (x-drlab-cluster -> successful requests). Empty for the fortio backend.
  returned: success
  type: list
  elements: dict
  sample: [{"t": 20, "span": 1, "total": 100, "ok": 50, "errors": 50, "outcomes": {"200": 50, "refused": 50},
            "by_address": {"127.0.1.1": {"refused": 50}, "127.0.2.1": {"200": 50}}, "by_cluster": {"cluster-2": 50}}]
summary:
  description: Headline figures.
  returned: success
  type: dict
  sample: {"requests": 6000, "ok": 5850, "errors": 150, "error_rate": 0.025, "achieved_qps": 99.98,
           "errors_by_class": {"refused": 150}, "by_address": {"127.0.1.1": {"200": 2000, "refused": 150}}}
client_health:
  description:
    - Whether this client could measure at all (C(healthy), C(reasons), C(figures), C(limits)), from the engine's
      schedule lateness, the requests it could not send, its CPU and the DNS watcher; what
      M(meshdr.alicloud.drill_report) judges too. A failed load with C(healthy=false) says more about the client
      than about the system.
  returned: with O(backend=builtin)
  type: dict
  sample: {"healthy": false, "reasons": ["requests started late: p99 0.412 s behind their slot (limit 0.1 s)"]}
dns_watch:
  description:
    - What the DNS watcher saw (O(dns_watch_interval)) - C(queries), C(failures) by class, C(max_addresses) (the most
      addresses one answer held) and C(changes) (every change of the answer, C(t) offset, C(prev_t), C(addrs)).
  returned: when the DNS watcher ran
  type: dict
  sample: {"queries": 600, "failures": {}, "max_addresses": 2,
           "changes": [{"t": 0.0, "prev_t": null, "addrs": ["127.0.1.1", "127.0.2.1"]}]}
interrupted:
  description: Why the load stopped before its end (C(reason), C(at) offset), or null.
  returned: success
  type: dict
  sample: {"reason": "the process that started the load (pid 4242) is gone", "at": 23.5}
client:
  description:
    - The client's own figures (C(cpu_seconds), C(cpu_share), C(cores), C(loadavg_max), C(dropped)).
    - C(engine) is the built-in engine that ran (V(epoll) for plain HTTP, V(asyncio+uvloop) or V(asyncio) for HTTPS and
      keep-alive).
  returned: success
  type: dict
  sample: {"cpu_share": 0.12, "dropped": 0, "engine": "epoll"}
records_file:
  description: Path of the full result with per-request records, when O(records_file) was set.
  returned: when records_file was set
  type: str
  sample: /tmp/drill/load.json
notes:
  description: What this backend could not measure.
  returned: success
  type: list
  elements: str
  sample: []
'''

import json
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import analysis, backends, limits, load, report

# One source for the bounds (the dr_drill role checks the same numbers): module_utils/drill/limits.py.
MAX_QPS = limits.MAX_QPS
MAX_DURATION = limits.MAX_DURATION


def build_spec(module):
    p = module.params
    if p['qps'] > MAX_QPS:
        module.fail_json(msg='qps must be at most %d, got %g' % (MAX_QPS, p['qps']))
    if p['duration'] > MAX_DURATION:
        module.fail_json(msg='duration must be at most %d s, got %g' % (MAX_DURATION, p['duration']))
    if p['progress_interval'] <= 0:
        module.fail_json(msg='progress_interval must be > 0')
    if p['abort_after_seconds'] < limits.MIN_ABORT_AFTER_SECONDS:
        module.fail_json(msg='abort_after_seconds must be >= %d' % limits.MIN_ABORT_AFTER_SECONDS)
    if p['backend'] != 'builtin':
        for name in ('nameserver', 'progress_file', 'abort_error_rate'):
            if p[name] is not None:
                module.fail_json(msg='%s needs backend=builtin (got backend=%s)' % (name, p['backend']))
        if p['multi_address']:
            module.fail_json(msg='multi_address needs backend=builtin (got backend=%s)' % p['backend'])
        if not backends.find_tool(p['backend']):
            module.fail_json(msg='backend=%s: %s is not on the PATH of %s' % (p['backend'], p['backend'],
                                                                              os.uname()[1]))
    if p['watch_controller'] and not p['watch_pid']:
        # Not on the controller (a non-local connection): the load cannot see the playbook; it still ends
        # by itself after its duration, as before.
        module.warn('watch_controller: the controller process is not on this host (non-local connection); the load '
                    'will not stop early if the playbook is interrupted')
        p['watch_controller'] = False
    if p['on_interrupt'] and not (p['watch_controller'] and p['controller_argv']):
        p['on_interrupt'] = None
    if p['nameserver'] and not load.HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib('dnspython'))
    for name in ('records_file', 'progress_file'):
        if p[name] and not os.path.isdir(os.path.dirname(os.path.abspath(p[name]))):
            module.fail_json(msg='%s: directory %s does not exist' % (name, os.path.dirname(os.path.abspath(p[name]))))
    try:
        return load.LoadSpec(
            p['url'], qps=p['qps'], duration=p['duration'], concurrency=p['concurrency'], timeout=p['timeout'],
            keepalive=p['keepalive'], nameserver=p['nameserver'], multi_address=p['multi_address'],
            host_header=p['host_header'], headers=p['headers'], method=p['method'],
            abort_error_rate=p['abort_error_rate'], abort_after_seconds=p['abort_after_seconds'],
            progress_interval=p['progress_interval'] if p['progress_file'] else 0,
            dns_watch_interval=p['dns_watch_interval'] if p['backend'] == 'builtin' else 0,
            probe_addresses=p['probe_addresses'], probe_qps=p['probe_qps'],
            watch_pid=p['watch_pid'] if p['watch_controller'] else None)
    except ValueError as exc:
        module.fail_json(msg=str(exc))


def summarize(result):
    records = result.get('records') or []
    aggr = result['aggregates']
    by_address = {}
    errors_by_class = {}
    for rec in records:
        per = by_address.setdefault(rec.get('addr') or analysis.UNRESOLVED, {})
        o = analysis.outcome(rec)
        per[o] = per.get(o, 0) + 1
        if not analysis.is_ok(rec):
            c = analysis.error_class(rec)
            errors_by_class[c] = errors_by_class.get(c, 0) + 1
    if records:
        total = len(records)
        ok = sum(1 for r in records if analysis.is_ok(r))
    else:
        codes = aggr.get('RetCodes') or {}
        total = sum(codes.values())
        ok = sum(n for code, n in codes.items() if 200 <= int(code) < 400)
    return {
        'requests': total, 'ok': ok, 'errors': total - ok,
        'error_rate': ((total - ok) / float(total)) if total else None,
        'achieved_qps': aggr.get('ActualQPS'), 'by_address': by_address, 'errors_by_class': errors_by_class,
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            qps=dict(type='float', default=100),
            duration=dict(type='float', default=60),
            concurrency=dict(type='int'),
            timeout=dict(type='float', default=3),
            keepalive=dict(type='bool', default=False),
            nameserver=dict(type='str'),
            multi_address=dict(type='bool', default=False),
            host_header=dict(type='str'),
            headers=dict(type='dict'),
            method=dict(type='str', choices=['GET', 'HEAD'], default='GET'),
            backend=dict(type='str', choices=list(backends.BACKENDS), default='builtin'),
            records_file=dict(type='path'),
            progress_file=dict(type='path'),
            progress_interval=dict(type='float', default=5),
            abort_error_rate=dict(type='float'),
            abort_after_seconds=dict(type='int', default=5),
            run_id=dict(type='str'),
            dns_watch_interval=dict(type='float', default=0.1),
            probe_addresses=dict(type='list', elements='str'),
            probe_qps=dict(type='float', default=2),
            watch_controller=dict(type='bool', default=False),
            on_interrupt=dict(type='dict'),
            on_interrupt_log=dict(type='path'),
            watch_pid=dict(type='int'),
            controller_argv=dict(type='dict'),
        ),
        supports_check_mode=True,
    )
    spec = build_spec(module)
    if module.check_mode:
        module.exit_json(changed=False, options=spec.as_dict())

    progress_file = module.params['progress_file']

    def on_progress(snapshot):
        report.write_private(progress_file, json.dumps(snapshot, sort_keys=True).encode('utf-8'))

    try:
        result = backends.run_backend(module.params['backend'], spec,
                                      on_progress=on_progress if progress_file else None, handle_signals=True)
    except backends.BackendError as exc:
        module.fail_json(msg=str(exc), options=spec.as_dict())
    except Exception as exc:  # noqa: BLE001 - report any engine failure with its traceback
        module.fail_json(msg='load run failed: %s' % exc, exception=traceback.format_exc(), options=spec.as_dict())

    out = dict(
        changed=True, backend=result['backend'], options=result.get('options') or spec.as_dict(),
        started_at=result.get('started_at'), start_epoch=result.get('start_epoch'),
        end_epoch=result.get('end_epoch'), aborted=result.get('aborted'), aggregates=result['aggregates'],
        timeline=result.get('timeline') or [], summary=summarize(result), notes=result.get('notes') or [],
    )
    if module.params['records_file']:
        result['run_id'] = module.params['run_id']
        report.write_results(module.params['records_file'], result, run_id=module.params['run_id'])
        out['records_file'] = module.params['records_file']
    out['interrupted'] = result.get('interrupted')
    watch = result.get('dns_watch')
    if watch is not None:
        out['dns_watch'] = dict((k, watch[k]) for k in ('queries', 'failures', 'max_addresses', 'changes'))
    out['client'] = result.get('client')
    if result.get('records') is not None and module.params['backend'] == 'builtin':
        out['client_health'] = analysis.rounded(analysis.client_health(
            result['records'], client=result.get('client'), dns_watch=result.get('dns_watch')))
    if result.get('interrupted') and module.params['on_interrupt'] and spec.watch_pid \
            and not load.pid_alive(spec.watch_pid):
        out['on_interrupt_pid'] = run_on_interrupt(module.params)
    module.exit_json(**out)


def run_on_interrupt(p):
    """The controller is gone: run its command line again with the ``on_interrupt`` extra variables.

    Detached in its own session, so that whatever killed the first one's process group spares it.
    """
    argv = p['controller_argv']
    cmd = list(argv['argv']) + ['-e', json.dumps(p['on_interrupt'], sort_keys=True)]
    # The module runs with the controller's environment plus Ansible's module variables; the new
    # ansible-playbook must not inherit the latter.
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('_ANSIBLE'))
    return load.spawn_detached(cmd, argv.get('cwd') or None, p['on_interrupt_log'] or os.devnull, env)


if __name__ == '__main__':
    main()
