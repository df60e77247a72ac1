import json
import os
import shutil

import pytest

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import backends as backends_mod
from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import load

from .conftest import ADDR_A, ADDR_CLOSED

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def test_fortio_runbook_json():
    res = backends_mod.parse_fortio(json.loads(fixture('fortio_runbook.json')))
    agg = res['aggregates']
    assert res['backend'] == 'fortio' and res['records'] == [] and res['timeline'] == []
    assert agg['RetCodes'] == {'-1': 526, '200': 3374}
    assert agg['IPCountMap'] == {'47.100.1.10': 1951, '47.101.2.20': 1949}  # ip:port -> ip
    assert agg['ActualQPS'] == 12.999 and agg['ActualDuration'] == 300023000000 and agg['NumThreads'] == 1
    assert agg['DurationHistogram']['Percentiles'][-1] == {'Percentile': 99.9, 'Value': 3.0}
    # +08:00: 20:26:40.123456789 local is 12:26:40.123456789 UTC.
    assert res['start_epoch'] == pytest.approx(1779971200.123457, abs=1e-5)
    assert res['end_epoch'] - res['start_epoch'] == pytest.approx(300.023)
    assert res['options']['url'] == 'http://productpage.example.com/productpage'
    ok = backends_mod.fortio_success_latency(agg['DurationHistogram'], agg['ErrorsDurationHistogram'])
    assert ok['count'] == 3374 and ok['avg'] == pytest.approx((1710.2 - 1576.1) / 3374)
    assert 'IPCountMap counts connections' in res['notes'][0]


def test_fortio_ipv6_and_utc():
    res = backends_mod.parse_fortio(json.loads(fixture('fortio_ipv6_ok.json')))
    assert res['aggregates']['IPCountMap'] == {'::1': 4}
    assert res['start_epoch'] == backends_mod.parse_rfc3339('2026-05-28T12:00:00Z')


@pytest.mark.parametrize('doc', [{}, {'RetCodes': {}}, [], {'DurationHistogram': {}}])
def test_fortio_rejects_other_json(doc):
    with pytest.raises(ValueError, match='not a fortio HTTP result'):
        backends_mod.parse_fortio(doc)


def test_fortio_command_line():
    spec = load.LoadSpec('http://productpage.example.com/productpage', qps=100, duration=60, concurrency=8)
    cmd = backends_mod.fortio_command('/usr/bin/fortio', spec, '/tmp/x.json')
    assert cmd[:4] == ['/usr/bin/fortio', 'load', '-json', '/tmp/x.json']
    assert '-keepalive=false' in cmd and cmd[cmd.index('-qps') + 1] == '100' and cmd[cmd.index('-t') + 1] == '60s'
    assert cmd[-1] == spec.url


def test_hey_csv_counts_missing_failures():
    spec = load.LoadSpec('http://127.0.0.1:8080/', qps=2, duration=2, concurrency=2)
    res = backends_mod.parse_hey_csv(fixture('hey_partial.csv'), spec, 1000.0, 1002.0, address='127.0.0.1')
    agg = res['aggregates']
    # 3 rows answered (one 503); 4 scheduled: 1 request failed or was never sent, the CSV cannot say.
    assert agg['RetCodes'] == {'200': 2, '503': 1}
    assert agg['ScheduledRequests'] == 4 and agg['MissingFromCSV'] == 1
    assert [b['total'] for b in res['timeline']] == [2, 1]
    assert 'upper bound of the failed requests' in res['notes'][0]
    assert backends_mod.hey_command('hey', spec)[:7] == ['hey', '-z', '2s', '-c', '2', '-q', '1']


def test_hey_rejects_other_text():
    spec = load.LoadSpec('http://127.0.0.1:8080/')
    with pytest.raises(ValueError, match='not hey CSV'):
        backends_mod.parse_hey_csv('Summary:\n  Total: 1 secs\n', spec, 0, 1)


@pytest.mark.parametrize('backend,kw,msg', [
    ('hey', {'nameserver': '127.0.0.1:5353'}, 'nameserver needs the builtin backend'),
    ('fortio', {'multi_address': True}, 'multi_address needs the builtin backend'),
])
def test_external_backends_refuse_builtin_only_options(backend, kw, msg):
    with pytest.raises(backends_mod.BackendError, match=msg):
        backends_mod.run_backend(backend, load.LoadSpec('http://127.0.0.1:1/', **kw))


@pytest.mark.skipif(shutil.which('hey') is None, reason='hey not installed (apt-get install hey)')
def test_hey_live(backends):
    ok = backends_mod.run_backend('hey', load.LoadSpec(f'http://{ADDR_A}:{backends.port}/', qps=20,
                                                       duration=1, concurrency=2))
    assert ok['backend'] == 'hey' and ok['aggregates']['RetCodes'].get('200', 0) >= 15
    assert set(ok['aggregates']['IPCountMap']) == {ADDR_A}
    refused = backends_mod.run_backend('hey', load.LoadSpec(f'http://{ADDR_CLOSED}:{backends.port}/',
                                                            qps=20, duration=1, concurrency=2))
    assert refused['records'] == [] and refused['aggregates']['RetCodes'] == {}
    assert refused['aggregates']['MissingFromCSV'] == 20


def test_fortio_backend_runs_the_tool(tmp_path, monkeypatch):
    """A stand-in `fortio` on the PATH (fortio itself is not installable here) records its arguments
    and writes the documented -json output where asked."""
    tool = tmp_path / 'fortio'
    args_file = tmp_path / 'args'
    fixture_path = os.path.join(FIXTURES, 'fortio_ipv6_ok.json')
    tool.write_text('#!/bin/sh\n'
                    f'printf "%s\\n" "$@" > {args_file}\n'
                    'while [ "$1" != "-json" ]; do shift; done\n'
                    f'cp {fixture_path} "$2"\n'
                    'echo "fortio log line" >&2\n')
    tool.chmod(0o755)
    monkeypatch.setenv('PATH', f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    spec = load.LoadSpec('http://localhost:8080/', qps=100, duration=10, concurrency=4)
    res = backends_mod.run_backend('fortio', spec)
    assert res['backend'] == 'fortio' and res['aggregates']['RetCodes'] == {'200': 1000}
    assert res['options']['qps'] == 100.0
    args = args_file.read_text().split('\n')
    assert args[:3] == ['load', '-json', args[2]] and '-keepalive=false' in args and 'http://localhost:8080/' in args
    assert not os.path.exists(args[2])  # the temporary JSON file is removed
    tool.write_text('#!/bin/sh\necho "bad flag" >&2\nexit 1\n')
    with pytest.raises(backends_mod.BackendError, match='fortio failed .rc=1.: bad flag'):
        backends_mod.run_backend('fortio', spec)
