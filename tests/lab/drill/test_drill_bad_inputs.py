"""drill.yml given bad inputs (issue 14, item 2): it refuses them before anything runs, with the bound it
broke, and never breaks a region without a running load.

One lab converged with site.yml for the module.  The input cases each run drill.yml to its validation (a few
seconds each) and check the message, the untouched gateway Deployment of every region and zero cloud write
calls.  The last case kills the background load after it started: the drill must abort before its fault,
leave the gateway in place and have nothing to roll back.

The drill's own modules (drill_load, drill_report, dr_verify; issue 14 part 4) run in this process with bad
arguments: each fails with its message, sends nothing (a counting HTTP listener and a counting DNS socket
stand where the load or the check would go), writes no file, and the lab counts no write call.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import drill_support as ds
import pytest
import yaml

from drlab.testing import LabHandle

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cloud_support  # noqa: E402,F401 - makes the collection importable (tests/lab/cloud_support.py)

pytestmark = pytest.mark.timeout(900)

# The bounds the role applies: its copy of plugins/module_utils/drill/limits.py (kept equal by the unit test
# test_limits.py; this suite runs without the collection on sys.path).
with open(os.path.join(ds.ROOT, "roles", "dr_drill", "vars", "main.yml"), encoding="utf-8") as _handle:
    LIMITS = yaml.safe_load(_handle)["dr_drill__limits"]
MAX_QPS = LIMITS["max_qps"]
MAX_DURATION = LIMITS["max_duration"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    handle = LabHandle(directory=str(tmp_path_factory.mktemp("drill-bad-lab")), topology=ds.lab_topology(resync=0))
    handle.up()
    try:
        rc, out = ds.run(handle, "site.yml", os.path.join(handle.dir, "site.log"), timeout=600)
        assert rc == 0, out[-4000:]
        yield handle
    finally:
        handle.down()


def writes(lab) -> dict[str, int]:
    calls = lab.admin("calls")
    return {action: entry["count"] for action, entry in calls["actions"].items() if entry["kind"] == "write"}


def assert_nothing_broken(lab) -> None:
    for region in ds.regions(lab):
        assert ds.deployment_exists(region), f"gateway Deployment gone in {region['id']}"


CASES = {
    "duration far beyond drill_load's cap": (
        {"dr_drill_duration": 1000000000}, [f"duration 1-{MAX_DURATION} s (got 1000000000)"]),
    "duration just above the cap": ({"dr_drill_duration": MAX_DURATION + 1}, [f"duration 1-{MAX_DURATION} s"]),
    "qps too high": ({"dr_drill_qps": MAX_QPS + 1}, [f"qps must be 1-{MAX_QPS} (got {MAX_QPS + 1})"]),
    "qps zero": ({"dr_drill_qps": 0}, [f"qps must be 1-{MAX_QPS} (got 0)"]),
    "fault delay beyond the duration": (
        {"dr_drill_duration": 30, "dr_drill_fault_delay": 45}, ["fault_delay 45 < duration 30"]),
    "warm-up rate too high": ({"dr_drill_warmup_qps": MAX_QPS * 2}, [f"(0-{MAX_QPS})"]),
    "dns watch interval too long": ({"dr_drill_dns_watch_interval": 5}, ["dns_watch_interval 0-1.0 s (got 5)"]),
    # Readiness first: 700/s split by weight puts 700/s on a survivor whose gateway serves 3 x 100/s.
    "the survivor cannot carry the drill's load": (
        {"dr_drill_qps": 700}, ["now would hurt", "clients would get HTTP 429",
                                "dr_drill_ignore_readiness=true"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_refused_before_anything_runs(lab, tmp_path, case):
    values, messages = CASES[case]
    lab.admin("calls/reset", {})
    rc, out = ds.run(lab, "drill.yml", str(tmp_path / "drill.log"),
                     *ds.extra_vars(dr_drill_report_dir=str(tmp_path / "reports"), **values), timeout=180)
    assert rc != 0, out[-3000:]
    flat = " ".join(out.split())
    for message in messages:
        assert message in flat, (message, out[-3000:])
    assert "Nothing was run" in flat or "nothing was run" in flat, out[-3000:]
    assert "Steady state before" not in out, out[-3000:]  # stopped at validation, nothing loaded
    assert writes(lab) == {}
    assert not (tmp_path / "reports" / "pending-rollback.json").exists()
    assert_nothing_broken(lab)


def _load_processes(marker: str) -> list[int]:
    """The drill's background load: the drill_load module processes started from this test's playbook (found by
    a marker in their environment, inherited through Ansible's async daemon), not the synchronous warm-up."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if b"drill_load" in cmdline and marker.encode() in environ:
            found.append(int(pid))
    return found


def test_load_that_dies_before_the_fault_aborts_the_drill_with_nothing_broken(lab, tmp_path):
    reports = tmp_path / "reports"
    run_id = "dies-" + uuid.uuid4().hex[:6]
    marker = "DRILL_BAD_INPUT_TEST=" + run_id
    log = str(tmp_path / "drill.log")
    env = dict(ds.env(lab), DRILL_BAD_INPUT_TEST=run_id)
    lab.admin("calls/reset", {})
    out = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(  # noqa: S603
        ds.playbook(lab, "drill.yml", log, *ds.extra_vars(
            dr_drill_report_dir=str(reports), dr_drill_run_id=run_id, dr_drill_duration=40, dr_drill_fault_delay=12,
            dr_drill_qps=10, dr_drill_warmup_seconds=2, dr_drill_recover_timeout=30)),
        env=env, cwd=ds.ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        progress = reports / f"{run_id}-progress.json"
        deadline = time.monotonic() + 120
        while not progress.exists():
            assert proc.poll() is None, open(log, encoding="utf-8").read()[-3000:]
            assert time.monotonic() < deadline, "the background load never wrote its progress"
            time.sleep(0.2)
        killed = _load_processes(marker)
        assert killed, "no load process found"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        rc = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        out.close()
    text = open(log, encoding="utf-8").read()
    flat = " ".join(text.split())
    assert rc != 0, text[-3000:]
    # Killed with its async wrapper, the job file never says finished: the stale progress file tells.
    assert "ABORT: the load is not running (it is gone: its progress file" in flat, text[-3000:]
    assert "the fault was not injected and nothing was broken" in flat, text[-3000:]
    assert "Fault: delete the gateway Deployment" not in text.split("ABORT: the load is not running")[0]
    assert "The gateway workload before the rollback acts" not in text, text[-3000:]  # nothing to restore
    assert f"Drill {run_id}: FAIL - no load results" in flat, text[-3000:]
    assert not (reports / "pending-rollback.json").exists()
    assert not (reports / f"{run_id}-state.json").exists()  # no fault time: no fault sent
    assert writes(lab) == {}
    assert_nothing_broken(lab)
    # The lab's GTM answers with one address (weighted): look at each gateway itself.
    assert {r["address"]: ds.serves(r["address"]) for r in ds.regions(lab)} == {
        r["address"]: r["cluster"] for r in ds.regions(lab)}


def test_multi_address_with_a_one_address_answer_stops_and_says_how_to_change_it(lab, tmp_path):
    """Item 5 of issue 15: this lab's pool is weighted (GTM answers with one address per query), so browser-like
    clients have nothing to fall back to; the drill says so in the steady state before, and how to change it,
    instead of measuring nothing; no fault, no write call."""
    reports = tmp_path / "reports"
    lab.admin("calls/reset", {})
    rc, out = ds.run(lab, "drill.yml", str(tmp_path / "drill.log"), *ds.extra_vars(
        dr_drill_report_dir=str(reports), dr_drill_multi_address=True, dr_drill_warmup_seconds=3), timeout=300)
    flat = " ".join(out.split())
    assert rc != 0, out[-3000:]
    assert f"every GTM answer for {ds.DOMAIN} held one address" in flat, out[-3000:]
    assert "dr_gtm_lb_strategy: round_robin" in flat and "run site.yml, then the drill again" in flat, out[-3000:]
    assert "Fault: delete the gateway Deployment" not in out, out[-3000:]
    assert writes(lab) == {}
    assert not (reports / "pending-rollback.json").exists()
    assert_nothing_broken(lab)


# --- the drill's modules, one bad argument each ---------------------------------------------------------------

class Listeners:
    """A TCP listener and a UDP socket on loopback that count what reaches them (nothing should)."""

    def __init__(self):
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(64)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.connections = self.datagrams = 0
        self._stop = False
        self._threads = [threading.Thread(target=self._accept, daemon=True),
                         threading.Thread(target=self._receive, daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def http_port(self):
        return self.tcp.getsockname()[1]

    @property
    def dns(self):
        return f"127.0.0.1:{self.udp.getsockname()[1]}"

    def _accept(self):
        while not self._stop:
            try:
                self.tcp.accept()[0].close()
                self.connections += 1
            except OSError:
                continue

    def _receive(self):
        while not self._stop:
            try:
                self.udp.recv(4096)
                self.datagrams += 1
            except OSError:
                continue

    def close(self):
        self._stop = True
        for t in self._threads:
            t.join(2)
        self.tcp.close()
        self.udp.close()


@pytest.fixture()
def listeners():
    out = Listeners()
    yield out
    out.close()


def run_drill_module(name: str, **args) -> dict:
    """The module's main() in this process, as Ansible runs it (no cloud credentials: these modules take none)."""
    from ansible.module_utils import basic

    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    basic._ANSIBLE_PROFILE = "legacy"
    module = importlib.import_module("ansible_collections.meshdr.alicloud.plugins.modules." + name)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            module.main()
    except SystemExit:
        pass
    finally:
        basic._ANSIBLE_ARGS = None
    return json.loads(out.getvalue())


def _load(lst, **over):
    args = {"url": f"http://drill.invalid:{lst.http_port}/productpage", "nameserver": lst.dns, "qps": 10,
            "duration": 2, "probe_addresses": ["127.0.0.1"]}
    args.update(over)
    return args


def _verify(lst, **over):
    args = {"domain": "drill.invalid", "dns_server": "127.0.0.1", "dns_port": int(lst.dns.rsplit(":", 1)[1]),
            "port": lst.http_port, "requests": 5,
            "regions": [{"name": "r1", "address": "127.0.0.1", "weight": 50},
                        {"name": "r2", "address": "127.0.0.2", "weight": 50}]}
    args.update(over)
    return args


MODULE_CASES = {
    # drill_load: refused before the first request, DNS query or probe.
    "drill_load qps above the cap": ("drill_load", lambda lst, tmp: _load(lst, qps=MAX_QPS + 1),
                                     f"qps must be at most {MAX_QPS}, got {MAX_QPS + 1}"),
    "drill_load duration above the cap": ("drill_load", lambda lst, tmp: _load(lst, duration=MAX_DURATION + 1),
                                          f"duration must be at most {MAX_DURATION} s"),
    "drill_load url not http": ("drill_load", lambda lst, tmp: _load(lst, url="ftp://drill.invalid/"),
                                "url must be http:// or https:// with a host"),
    "drill_load nameserver port not a number": ("drill_load", lambda lst, tmp: _load(lst, nameserver="127.0.0.1:x"),
                                                'nameserver must be "ip" or "ip:port"'),
    "drill_load probe address not an IP": ("drill_load", lambda lst, tmp: _load(lst, probe_addresses=["gw.invalid"]),
                                           "probe addresses must be IPv4 literals"),
    "drill_load dns watch interval too long": ("drill_load", lambda lst, tmp: _load(lst, dns_watch_interval=5),
                                               "dns_watch_interval must be at most"),
    "drill_load abort error rate above 1": ("drill_load", lambda lst, tmp: _load(lst, abort_error_rate=2),
                                            "abort_error_rate must be between 0 and 1"),
    "drill_load records file in a missing directory": (
        "drill_load", lambda lst, tmp: _load(lst, records_file=str(tmp / "missing" / "load.json")),
        "records_file: directory"),
    "drill_load multi-address on hey": ("drill_load", lambda lst, tmp: _load(lst, backend="hey", nameserver=None,
                                                                             multi_address=True),
                                        "multi_address needs backend=builtin"),
    # drill_report: refused before it reads or writes anything.
    "drill_report missing load results": (
        "drill_report", lambda lst, tmp: {"load_results": str(tmp / "none.json"), "output_dir": str(tmp / "out")},
        "does not exist"),
    "drill_report recovery error rate above 1": (
        "drill_report", lambda lst, tmp: {"load_results": _file(tmp), "output_dir": str(tmp / "out"),
                                          "recovery_error_rate": 2}, "recovery_error_rate must be between 0 and 1"),
    "drill_report error-rate SLO above 1": (
        "drill_report", lambda lst, tmp: {"load_results": _file(tmp), "output_dir": str(tmp / "out"),
                                          "slos": {"max_error_rate": 1.5}}, "slos.max_error_rate is a ratio"),
    "drill_report negative time SLO": (
        "drill_report", lambda lst, tmp: {"load_results": _file(tmp), "output_dir": str(tmp / "out"),
                                          "slos": {"max_time_to_detect": -1}}, "slos.max_time_to_detect must be >= 0"),
    "drill_report fault time not a time": (
        "drill_report", lambda lst, tmp: {"load_results": _file(tmp), "output_dir": str(tmp / "out"),
                                          "fault_time": "yesterday"}, "fault_time: not epoch seconds or an ISO 8601"),
    "drill_report negative TTL": (
        "drill_report", lambda lst, tmp: {"load_results": _file(tmp), "output_dir": str(tmp / "out"), "dns_ttl": -1},
        "dns_ttl must be >= 0"),
    "drill_report abort for zero seconds": (
        "drill_report", lambda lst, tmp: {"load_results": _file(tmp), "output_dir": str(tmp / "out"),
                                          "abort_conditions": {"error_rate": 0.5, "for_seconds": 0}},
        "abort_conditions.for_seconds must be >= 1"),
    # dr_verify: refused before the first DNS query or request.
    "dr_verify zero requests": ("dr_verify", lambda lst, tmp: _verify(lst, requests=0),
                                "requests must be between 1 and"),
    "dr_verify tolerance above 1": ("dr_verify", lambda lst, tmp: _verify(lst, tolerance=2),
                                    "tolerance must be a fraction between 0 and 1"),
    "dr_verify zero timeout": ("dr_verify", lambda lst, tmp: _verify(lst, timeout=0), "timeout must be positive"),
    "dr_verify no region": ("dr_verify", lambda lst, tmp: _verify(lst, regions=[]),
                            "regions must list at least one region"),
    "dr_verify one address for two regions": (
        "dr_verify", lambda lst, tmp: _verify(lst, regions=[{"name": "r1", "address": "127.0.0.1", "weight": 1},
                                                            {"name": "r2", "address": "127.0.0.1", "weight": 1}]),
        "address 127.0.0.1 is listed for two regions"),
    "dr_verify weights add up to zero": (
        "dr_verify", lambda lst, tmp: _verify(lst, regions=[{"name": "r1", "address": "127.0.0.1", "weight": 0}]),
        "weights add up to 0"),
}


def _file(tmp) -> str:
    path = tmp / "load.json"
    path.write_text("{}")
    return str(path)


@pytest.mark.parametrize("case", list(MODULE_CASES))
def test_drill_module_refuses_a_bad_argument_and_sends_nothing(lab, tmp_path, listeners, case):
    name, make_args, message = MODULE_CASES[case]
    args = make_args(listeners, tmp_path)
    lab.admin("calls/reset", {})
    before = set(os.listdir(tmp_path))
    result = run_drill_module(name, **args)
    assert result.get("failed") and message in result["msg"], (case, result.get("msg"))
    time.sleep(0.3)  # anything sent would have arrived on loopback by now
    assert (listeners.connections, listeners.datagrams) == (0, 0), case
    assert set(os.listdir(tmp_path)) == before, case  # no report, records or progress file
    assert writes(lab) == {}


def test_the_counting_listeners_see_what_a_valid_run_sends(listeners):
    """The control of the case above: the same arguments, valid, do reach the listeners (a zero means nothing)."""
    result = run_drill_module("drill_load", **_load(listeners, duration=0.3, timeout=0.5))
    assert not result.get("failed"), result.get("msg")
    time.sleep(0.3)
    assert listeners.connections >= 1 and listeners.datagrams >= 1, (listeners.connections, listeners.datagrams)
