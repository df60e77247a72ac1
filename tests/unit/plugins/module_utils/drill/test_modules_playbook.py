"""drill_load and drill_report through ansible-playbook, as the dr_drill role calls them (async load,
async_status, report, idempotence, check mode, input errors)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 5)))
BIN = os.path.dirname(sys.executable)

PLAYBOOK = textwrap.dedent('''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: check mode sends nothing
      meshdr.alicloud.drill_load: {url: "{{ url }}", qps: 50, duration: 2, records_file: "{{ d }}/load.json"}
      check_mode: true
      register: check
    - assert: {that: [not check.changed, check.options.qps == 50.0, check.options.keepalive is false]}
    - name: load in the background
      meshdr.alicloud.drill_load:
        url: "{{ url }}"
        qps: 50
        duration: 2
        records_file: "{{ d }}/load.json"
        progress_file: "{{ d }}/progress.json"
        progress_interval: 0.5
        run_id: modtest
      async: 60
      poll: 0
      register: job
    - async_status: {jid: "{{ job.ansible_job_id }}"}
      register: load
      until: load.finished
      retries: 60
      delay: 0.5
    - stat: {path: "{{ d }}/load.json"}
      register: st
    - assert:
        that:
          - load.changed and load.summary.requests == 100 and load.summary.errors == 0
          - 'load.aggregates.RetCodes == {"200": 100}'
          - load.timeline | length == 2
          - st.stat.mode == "0600"
    - name: report
      meshdr.alicloud.drill_report: &report
        load_results: "{{ d }}/load.json"
        output_dir: "{{ d }}/report"
        fault_time: "{{ load.start_epoch | float + 1.0 }}"
        fault_address: "{{ addr }}"
        gtm_observations:
          - {time: 0.5, address: "{{ addr }}", available: true}
          - {time: 1.5, address: "{{ addr }}", available: false}
        slos: {max_error_rate: 0.01, max_time_to_detect: 1}
      register: first
    - name: report again
      meshdr.alicloud.drill_report: *report
      register: again
    - name: report in check mode with a stricter SLO
      meshdr.alicloud.drill_report:
        load_results: "{{ d }}/load.json"
        output_dir: "{{ d }}/report"
        fault_time: "{{ load.start_epoch | float + 1.0 }}"
        fault_address: "{{ addr }}"
        gtm_observations:
          - {time: 0.5, address: "{{ addr }}", available: true}
          - {time: 1.5, address: "{{ addr }}", available: false}
        slos: {max_time_to_detect: 0.2}
      check_mode: true
      register: strict
    - assert:
        that:
          - first.changed and first.verdict == "PASS" and first.run_id == "modtest"
          - first.summary.time_to_detect == 0.5
          - not again.changed
          - strict.changed and strict.verdict == "FAIL"
    - name: malformed inputs fail before any work
      meshdr.alicloud.drill_report:
        load_results: "{{ d }}/load.json"
        output_dir: "{{ d }}/bad"
        fault_time: "{{ item.t }}"
        slos: "{{ item.s }}"
      loop:
        - {t: "yesterday", s: {}}
        - {t: "1.0", s: {max_error_rate: 5}}
        - {t: "1.0", s: {max_time_to_detect: -1}}
      register: bad
      ignore_errors: true
    - assert:
        that:
          - bad.results[0].failed and "fault_time" in bad.results[0].msg
          - bad.results[1].failed and "slos.max_error_rate is a ratio" in bad.results[1].msg
          - bad.results[2].failed and "slos.max_time_to_detect must be >= 0" in bad.results[2].msg
    - meshdr.alicloud.drill_load: {url: "{{ url }}", qps: 20000}
      register: toofast
      ignore_errors: true
    - assert: {that: [toofast.failed, "'qps must be at most' in toofast.msg"]}
''')


def test_modules_in_a_playbook(backends, tmp_path):
    from .conftest import ADDR_A
    pb = tmp_path / 'pb.yml'
    pb.write_text(PLAYBOOK)
    extra = {'d': str(tmp_path), 'url': f'http://{ADDR_A}:{backends.port}/productpage', 'addr': ADDR_A}
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), PATH=BIN + os.pathsep + os.environ['PATH'],
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR='1')
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(pb), '-e', json.dumps(extra)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert os.path.exists(tmp_path / 'report' / 'modtest-timeline.png')
    assert not os.path.exists(tmp_path / 'bad')


VERDICT_PLAYBOOK = textwrap.dedent('''
- hosts: localhost
  gather_facts: false
  tasks:
    - include_tasks: "{{ root }}/roles/dr_drill/tasks/verdict.yml"
    - copy: {content: "{{ {'verdict': dr_drill_verdict, 'reasons': dr_drill__reasons} | to_json }}", dest: "{{ out }}"}
''')


@pytest.mark.parametrize('case,variables,verdict,reason', [
    ('steady state failed on a starved client',
     {'dr_drill__steady': {'before': {'ok': False, 'client_health': {
         'healthy': False, 'reasons': ['requests started late: p99 0.412 s behind their slot (limit 0.1 s)']}}},
      'dr_drill__status': 'failed', 'dr_drill__reason': 'steady state before does not hold'},
     'INCONCLUSIVE', 'the client, not the system, was the bottleneck in the steady state before (requests started'),
    ('steady state failed on a healthy client',
     {'dr_drill__steady': {'before': {'ok': False, 'client_health': {'healthy': True, 'reasons': []}}},
      'dr_drill__status': 'failed', 'dr_drill__reason': 'steady state before does not hold'},
     'FAIL', 'no load results: the drill stopped before its load (failed: steady state before does not hold)'),
    ('stopped before any steady state', {}, 'FAIL', 'no load results'),
    ('drill_report judged', {'dr_drill__report': {'verdict': 'PASS', 'reasons': []},
                             'dr_drill__steady': {'before': {'ok': False, 'client_health': {'healthy': False}}}},
     'PASS', None),
])
def test_the_verdict_without_load_results(tmp_path, case, variables, verdict, reason):
    """A steady state before that failed while the client could not measure is INCONCLUSIVE, never a FAIL."""
    pb = tmp_path / 'pb.yml'
    pb.write_text(VERDICT_PLAYBOOK)
    out = tmp_path / 'verdict.json'
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), PATH=BIN + os.pathsep + os.environ['PATH'],
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR='1')
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(pb),
           '-e', json.dumps(dict(variables, root=ROOT, out=str(out)))]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    got = json.loads(out.read_text())
    assert got['verdict'] == verdict, (case, got)
    if reason is None:
        assert got['reasons'] == []
    else:
        assert got['reasons'][0].startswith(reason), (case, got)
