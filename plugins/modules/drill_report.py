#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: drill_report
short_description: Analyse a DR drill, judge it against its SLOs and write its report
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - Reads the results file of M(meshdr.alicloud.drill_load), the fault time and the GTM observations, computes
    the drill's figures, judges every declared SLO and writes a JSON journal, a Markdown summary and a PNG
    timeline into O(output_dir).
  - "Figures: per-second timeline by address and outcome; time to detect; first and last error and the error
    window; time to recover; per-region split before, during and after the failure; errors by class; latency
    percentiles; success rate after failover; abort conditions evaluated."
  - "Definitions (all times in seconds from the load start; T0 is O(fault_time)):"
  - "B(Success): an HTTP status from 200 to 399; socket errors, 4xx and 5xx are errors."
  - "B(T0): when the fault took effect: the first refused request (or direct probe) on O(fault_address) that was in
    progress at or after O(fault_time) (when the fault was sent); else O(fault_accepted); else O(fault_time)."
  - "B(Time to detect): when O(fault_address) left the DNS answers, as the load engine's DNS watcher saw it (same
    resolver as the requests, 10 queries/s), minus T0. Without a DNS watcher, the first O(gtm_observations) entry
    at or after the fault where the address is unavailable (polled: late by up to one poll interval plus the
    playbook's own pace); with one, those observations are reported as a second source."
  - "B(Client health): when the client, not the system, was the bottleneck (request start lateness p99 above
    0.1 s, requests not sent, the engine above 90 % of a core, DNS watcher queries failing above 1 % or slower
    than 0.5 s at p99, the watcher itself late above 0.25 s at p99, control requests to the survivor timing out
    above 1 %), the verdict is V(INCONCLUSIVE) with the reasons, never V(PASS) or V(FAIL)."
  - "B(Error window): start of the last failed request at or after T0 minus start of the first one."
  - "B(Recovery): T_recover is the start of the first one-second bucket, from the one holding T0 on, after which
    every non-empty second of the run has an error rate <= O(recovery_error_rate); never before T0.
    B(Time to recover) = T_recover - T0; not recovered when the last second with traffic is still above."
  - "B(Success rate after failover): over requests started from the failover point: GTM detection +
    O(dns_ttl) when GTM detected the fault, else T_recover, else T0."
  - "B(Phases): before = [0, T0), during = [T0, T_recover) (to the end when not recovered), after = [T_recover,
    end]."
  - The journal's keys follow the Chaos Toolkit journal (C(start), C(end), C(duration), C(status), C(deviated),
    C(steady_states), C(run), C(rollbacks)) with C(run_id), C(collection_version), C(regions), C(slos),
    C(abort_conditions) and C(verdict).
  - Does not call any Alibaba Cloud API.
options:
  load_results:
    description:
      - The O(meshdr.alicloud.drill_load#module:records_file) written by M(meshdr.alicloud.drill_load).
    type: path
    required: true
  output_dir:
    description:
      - Directory for the report files, created (mode C(0755)) when missing. Files are named
        C(<run_id>-journal.json), C(<run_id>-report.md) and C(<run_id>-timeline.png).
    type: path
    required: true
  run_id:
    description:
      - Identifier of the run. Default is the O(meshdr.alicloud.drill_load#module:run_id) stored in
        O(load_results), else C(drill-<start time>).
    type: str
  title:
    description:
      - Title of the report.
    type: str
    default: Region failure drill
  status:
    description:
      - How the drill ended, as the playbook saw it (Chaos Toolkit statuses). V(completed) becomes V(aborted) when
        an abort condition was met.
    type: str
    choices: [completed, failed, aborted, interrupted]
    default: completed
  status_reason:
    description:
      - Why the drill did not complete (for example the failed task), shown with the status in the verdict's
        reasons.
    type: str
  fault_time:
    description:
      - T0, when the fault was injected. Epoch seconds (for example C(ansible_date_time.epoch) or
        C(now().timestamp())), an ISO 8601 time (no offset means UTC), or a number below 1e9, taken as seconds
        from the load start.
      - Without it, only the whole-run figures (error rate, latency) are measured; fault-related SLOs fail as not
        measured.
    type: raw
  fault_accepted:
    description:
      - When the Kubernetes API answered the fault request (accepted it); same formats as O(fault_time).
      - T0 is when the fault took effect, the first refused request or direct probe on O(fault_address) in the load
        results; this is the fallback when no request failed, and a key event of the timeline.
    type: raw
  rollback_started:
    description:
      - When the drill's rollback started acting; same formats as O(fault_time). When the failed region served
        again before it (ASM resync, an operator), the report says who healed.
    type: raw
  control_address:
    description:
      - The surviving region's address, probed directly by M(meshdr.alicloud.drill_load) (its
        O(meshdr.alicloud.drill_load#module:probe_addresses)), the control series of the client-health check.
    type: str
  detect_bound:
    description:
      - GTM's detection bound in seconds (health-check interval x evaluation count + timeout). With O(dns_ttl) it
        is the physical bound of the error window, drawn on the timeline and printed next to the measured window.
    type: float
  fault_address:
    description:
      - Address of the failed region's entry point (its GTM address). Default is the address with most errors
        after T0.
    type: str
  fault_description:
    description:
      - What the fault was, for the report.
    type: str
  gtm_observations:
    description:
      - GTM address availability as polled during the drill (for example from M(meshdr.alicloud.gtm_info)).
    type: list
    elements: dict
    suboptions:
      time:
        description: When it was observed; same formats as O(fault_time).
        type: raw
        required: true
      address:
        description: The address observed.
        type: str
        required: true
      available:
        description: Whether GTM reported it available.
        type: bool
        required: true
  dns_ttl:
    description:
      - TTL of the GTM answers, in seconds, added to the detection time to find the failover point.
    type: float
    default: 0
  recovery_error_rate:
    description:
      - Per-second error rate (0 to 1) under which the service counts as recovered.
    type: float
    default: 0.01
  slos:
    description:
      - Service level objectives, declared up front. Only the ones set are judged; the verdict is PASS when all
        pass and no abort condition was met.
    type: dict
    suboptions:
      max_error_rate:
        description: Maximum error rate over the whole run (0 to 1).
        type: float
      max_time_to_detect:
        description: Maximum seconds from T0 to GTM marking the fault address unavailable.
        type: float
      max_time_to_recover:
        description: Maximum seconds from T0 to recovery.
        type: float
      min_success_rate_after_failover:
        description: Minimum success rate (0 to 1) from the failover point on.
        type: float
      max_error_window:
        description: Maximum seconds between the first and the last failed request after T0.
        type: float
      max_p99_latency_ms:
        description: Maximum p99 latency, in milliseconds, of successful requests from the failover point on.
        type: float
  abort_conditions:
    description:
      - Abort conditions, evaluated on the recorded timeline (and taken from the load when it stopped itself).
    type: dict
    suboptions:
      error_rate:
        description: Abort when the error rate of each of O(abort_conditions.for_seconds) consecutive seconds is
          above this ratio.
        type: float
      for_seconds:
        description: Consecutive seconds for O(abort_conditions.error_rate).
        type: int
        default: 5
      max_duration:
        description: Abort when the load lasted longer than this (seconds).
        type: float
  regions:
    description:
      - The regions of the drill, to name addresses (where traffic entered) and clusters (C(x-drlab-cluster),
        where it was served) by region in the per-region split.
    type: list
    elements: dict
    suboptions:
      name:
        description: Region name.
        type: str
        required: true
      address:
        description: The region's entry address in GTM.
        type: str
      cluster:
        description: The value of the C(x-drlab-cluster) header answered by that region.
        type: str
  steady_state_before:
    description:
      - Steady state observed before the fault (free-form). Its C(ok) key (or C(passed), C(met)) says whether it
        held.
    type: dict
  steady_state_after:
    description:
      - Steady state observed after the rollback; when it did not hold, the journal is C(deviated) and the verdict
        V(FAIL).
    type: dict
  rollbacks:
    description:
      - Rollback actions and their outcome (free-form; C(name), C(status) and C(detail) are shown in the summary).
    type: list
    elements: dict
  events:
    description:
      - Other events for the timeline of key events.
    type: list
    elements: dict
    suboptions:
      name:
        description: Short name.
        type: str
        required: true
      time:
        description: When; same formats as O(fault_time).
        type: raw
        required: true
      description:
        description: What happened.
        type: str
      source:
        description: Which clock saw it (default C(playbook)).
        type: str
  formats:
    description:
      - Files to write. V(png) needs matplotlib.
    type: list
    elements: str
    choices: [json, markdown, png]
    default: [json, markdown, png]
  collection_version:
    description:
      - Version written into the journal. Default is this collection's version.
    type: str
  prometheus_url:
    description:
      - A Prometheus that evaluates the collection's alert rules (the lab's does). When set, the report puts
        every alert that fired from the load's start until now on the timeline (from Prometheus' C(ALERTS)
        series) and gives the time to alert next to the time to detect.
      - When Prometheus cannot be read, the report is written without alerts and a warning says why.
    type: str
  alert_selector:
    description: PromQL selector of the alerts to report.
    type: str
    default: ALERTS{alertname=~"Meshdr.*",alertstate="firing"}
notes:
  - Check mode computes the verdict and reports whether files would change, writing nothing.
  - RV(ignore:changed) is true when a report file was created or its content changed; a second identical run
    reports no change.
seealso:
  - module: meshdr.alicloud.drill_load
'''

EXAMPLES = r'''
- name: Judge the drill and write its report
  meshdr.alicloud.drill_report:
    load_results: "{{ report_dir }}/load.json"
    output_dir: "{{ report_dir }}"
    fault_time: "{{ fault_epoch }}"
    fault_address: "{{ region_a_address }}"
    fault_description: delete Deployment istio-system/istio-ingressgateway in region-a
    gtm_observations: "{{ gtm_polls }}"
    dns_ttl: 1
    slos:
      max_error_rate: 0.05
      max_time_to_detect: 30
      max_time_to_recover: 40
      min_success_rate_after_failover: 0.99
    abort_conditions:
      error_rate: 0.9
      for_seconds: 10
      max_duration: 300
    regions:
      - {name: region-a, address: 127.0.1.1, cluster: cluster-1}
      - {name: region-b, address: 127.0.2.1, cluster: cluster-2}
    steady_state_before: {ok: true, gtm: both available}
    steady_state_after: {ok: true}
    rollbacks:
      - {name: restore ingress gateway, status: succeeded, detail: asm_gateway re-applied}
  register: drill

- name: Print the verdict and the report paths
  ansible.builtin.debug:
    msg: "{{ drill.verdict }}: {{ drill.paths.markdown }} {{ drill.paths.png }}"
'''

RETURN = r'''
run_id:
  description: Identifier of the run.
  returned: always
  type: str
  sample: drill-20260528T202640Z
verdict:
  description:
    - Overall verdict. V(PASS) needs every declared SLO met, no abort condition met, O(status=completed) (or an
      abort this module detected), no O(rollbacks) entry with status V(failed) and a O(steady_state_after) that
      held (when given).
    - V(INCONCLUSIVE) when the client was the bottleneck (see the description) or the run was interrupted
      (O(status=interrupted), or the load results say so), unless a rollback step failed (V(FAIL)).
  returned: always
  type: str
  sample: PASS
client_health:
  description: Whether the client could measure (C(healthy)), its C(figures), the C(limits) and the C(reasons).
  returned: always
  type: dict
  sample: {"healthy": true, "reasons": [], "figures": {"late_p99": 0.002, "dns_latency_p99": 0.001}}
passed:
  description: Whether the verdict is PASS.
  returned: always
  type: bool
  sample: true
slos:
  description: One entry per declared SLO.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "max_time_to_detect", "objective": 30, "comparison": "<=", "unit": "s", "measured": 12.0,
            "passed": true, "note": null}]
slos_passed:
  description: Whether every declared SLO was met, whatever else made the verdict FAIL.
  returned: always
  type: bool
  sample: true
reasons:
  description:
    - Why the verdict is FAIL (failed SLOs, abort, the drill's status, a failed rollback step, the steady state
      after); empty on PASS.
  returned: always
  type: list
  elements: str
  sample: ["max_time_to_recover: measured 45.2, objective <= 40"]
status:
  description: Journal status (completed, failed, aborted or interrupted).
  returned: always
  type: str
  sample: completed
deviated:
  description: Whether the steady state after the drill did not hold.
  returned: always
  type: bool
  sample: false
aborted:
  description: Whether an abort condition was met.
  returned: always
  type: bool
  sample: false
abort:
  description: The abort evaluation (C(triggered), C(reason), C(at) offset).
  returned: always
  type: dict
  sample: {"triggered": false, "reason": null, "at": null}
paths:
  description: Report files by format (written, or that would be written in check mode).
  returned: always
  type: dict
  sample: {"json": "/tmp/drill/drill-1-journal.json", "markdown": "/tmp/drill/drill-1-report.md",
           "png": "/tmp/drill/drill-1-timeline.png"}
summary:
  description:
    - Headline figures (offsets in seconds from the load start); see the description for definitions.
    - C(phases) has C(before), C(during) and C(after) with C(from), C(to), C(total), C(errors), C(error_rate),
      C(by_address), C(by_cluster) and C(by_region).
  returned: always
  type: dict
  sample: {"requests": 6000, "errors": 150, "error_rate": 0.025, "t0": 20.0, "fault_address": "127.0.1.1",
           "time_to_detect": 2.0, "error_window": 2.98, "time_to_recover": 3.0, "success_rate_after_failover": 1.0,
           "errors_on_other_addresses": 0, "errors_by_class": {"refused": 150}}
events:
  description: Key events, sorted (C(name), C(t) offset, C(description)).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "fault", "t": 20.0, "description": "fault injected (T0)"}]
'''

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import alerts, report

try:
    # Only checked here; report.render_png imports pyplot (Agg backend) when it draws.
    import matplotlib

    HAS_MATPLOTLIB = bool(matplotlib.__version__)
except ImportError:
    HAS_MATPLOTLIB = False


def validate(module):
    p = module.params
    if not os.path.isfile(p['load_results']):
        module.fail_json(msg='load_results: %s does not exist' % p['load_results'])
    if 'png' in p['formats'] and not HAS_MATPLOTLIB:
        module.fail_json(msg=missing_required_lib('matplotlib') + ' (or leave png out of formats)')
    for name in ('recovery_error_rate',):
        if not 0 <= p[name] <= 1:
            module.fail_json(msg='%s must be between 0 and 1, got %g' % (name, p[name]))
    if p['dns_ttl'] < 0:
        module.fail_json(msg='dns_ttl must be >= 0')
    slos = dict((k, v) for k, v in (p['slos'] or {}).items() if v is not None)
    for name in ('max_error_rate', 'min_success_rate_after_failover'):
        if name in slos and not 0 <= slos[name] <= 1:
            module.fail_json(msg='slos.%s is a ratio between 0 and 1, got %g' % (name, slos[name]))
    for name, value in slos.items():
        if value < 0:
            module.fail_json(msg='slos.%s must be >= 0, got %g' % (name, value))
    aborts = p['abort_conditions'] or {}
    if aborts.get('error_rate') is not None and not 0 <= aborts['error_rate'] <= 1:
        module.fail_json(msg='abort_conditions.error_rate must be between 0 and 1')
    if aborts.get('for_seconds') is not None and aborts['for_seconds'] < 1:
        module.fail_json(msg='abort_conditions.for_seconds must be >= 1')
    for what, value in [('fault_time', p['fault_time']), ('fault_accepted', p['fault_accepted']),
                        ('rollback_started', p['rollback_started'])] + [
            ('gtm_observations[%d].time' % i, o['time']) for i, o in enumerate(p['gtm_observations'] or [])] + [
            ('events[%d].time' % i, e['time']) for i, e in enumerate(p['events'] or [])]:
        try:
            report.to_epoch(value)
        except (ValueError, TypeError):
            module.fail_json(msg='%s: not epoch seconds or an ISO 8601 time: %r' % (what, value))
    return slos


def main():
    module = AnsibleModule(
        argument_spec=dict(
            load_results=dict(type='path', required=True),
            output_dir=dict(type='path', required=True),
            run_id=dict(type='str'),
            title=dict(type='str', default='Region failure drill'),
            status=dict(type='str', choices=list(report.STATUSES), default='completed'),
            status_reason=dict(type='str'),
            fault_time=dict(type='raw'),
            fault_address=dict(type='str'),
            fault_accepted=dict(type='raw'),
            rollback_started=dict(type='raw'),
            control_address=dict(type='str'),
            detect_bound=dict(type='float'),
            fault_description=dict(type='str'),
            gtm_observations=dict(type='list', elements='dict', options=dict(
                time=dict(type='raw', required=True),
                address=dict(type='str', required=True),
                available=dict(type='bool', required=True),
            )),
            dns_ttl=dict(type='float', default=0),
            recovery_error_rate=dict(type='float', default=0.01),
            slos=dict(type='dict', options=dict(
                max_error_rate=dict(type='float'),
                max_time_to_detect=dict(type='float'),
                max_time_to_recover=dict(type='float'),
                min_success_rate_after_failover=dict(type='float'),
                max_error_window=dict(type='float'),
                max_p99_latency_ms=dict(type='float'),
            )),
            abort_conditions=dict(type='dict', options=dict(
                error_rate=dict(type='float'),
                for_seconds=dict(type='int', default=5),
                max_duration=dict(type='float'),
            )),
            regions=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                address=dict(type='str'),
                cluster=dict(type='str'),
            )),
            steady_state_before=dict(type='dict'),
            steady_state_after=dict(type='dict'),
            rollbacks=dict(type='list', elements='dict'),
            events=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                time=dict(type='raw', required=True),
                description=dict(type='str'),
                source=dict(type='str'),
            )),
            formats=dict(type='list', elements='str', choices=list(report.FORMATS), default=list(report.FORMATS)),
            collection_version=dict(type='str'),
            prometheus_url=dict(type='str'),
            alert_selector=dict(type='str', default=alerts.DEFAULT_SELECTOR),
        ),
        supports_check_mode=True,
    )
    p = module.params
    slos = validate(module)
    try:
        results = report.read_results(p['load_results'])
    except (ValueError, IOError, OSError) as exc:
        module.fail_json(msg='load_results: %s' % exc)

    fired = None
    if p['prometheus_url']:
        # From the load's start until now: an alert may fire or resolve after the load ended.
        try:
            fired = alerts.query(p['prometheus_url'], results.get('start_epoch') or time.time(), time.time(),
                                 selector=p['alert_selector'])
        except Exception as exc:  # noqa: BLE001 - the report is written without alerts, and says why
            module.warn('alerts not read from %s: %s' % (p['prometheus_url'], exc))
    if not os.path.isdir(p['output_dir']) and not module.check_mode:
        os.makedirs(p['output_dir'], 0o755)
    try:
        out = report.produce(
            results, p['output_dir'], run_id=p['run_id'], fault_time=p['fault_time'], fault_address=p['fault_address'],
            fault_description=p['fault_description'], gtm_observations=p['gtm_observations'], dns_ttl=p['dns_ttl'],
            recovery_error_rate=p['recovery_error_rate'], slos=slos, abort_conditions=p['abort_conditions'],
            regions=p['regions'], steady_states={'before': p['steady_state_before'], 'after': p['steady_state_after']},
            rollbacks=p['rollbacks'], status=p['status'], status_reason=p['status_reason'], title=p['title'],
            events=p['events'],
            formats=p['formats'], collection_version=p['collection_version'], load_results_path=p['load_results'],
            check_mode=module.check_mode, fault_accepted=p['fault_accepted'],
            rollback_started=p['rollback_started'], control_address=p['control_address'],
            detect_bound=p['detect_bound'], alerts=fired)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # noqa: BLE001 - report any analysis/rendering failure with its traceback
        module.fail_json(msg='drill report failed: %s' % exc, exception=traceback.format_exc())
    module.exit_json(**out)


if __name__ == '__main__':
    main()
