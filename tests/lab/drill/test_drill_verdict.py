"""The drill's verdict task (roles/dr_drill/tasks/verdict.yml) through ansible-playbook, without a lab:
a steady state before that failed while the client could not measure is INCONCLUSIVE, never a FAIL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 3)))
BIN = os.path.dirname(sys.executable)


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
