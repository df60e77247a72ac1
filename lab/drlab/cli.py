"""``drlab``: start, stop and inspect the local two-region lab."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from .admin import headers as admin_headers
from .config import LabDir

DEFAULT_DIR = os.environ.get("DRLAB_DIR", ".lab")


def _pid(labdir: LabDir) -> int | None:
    try:
        with open(labdir.pid_file, encoding="utf-8") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def _admin(labdir: LabDir, path: str, body: dict[str, Any] | None = None, timeout: float = 5) -> Any:
    topo = labdir.topology()
    url = f"http://{topo['host']}:{topo['ports']['cloud']}/__drlab/{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    req.add_header("content-type", "application/json")
    if os.path.exists(labdir.admin_token_file):  # an older lab directory has none until `drlab up`
        for key, value in admin_headers(labdir.admin_token()).items():
            req.add_header(key, value)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback admin API
        return json.loads(resp.read() or b"null")


def status_of(labdir: LabDir) -> dict[str, Any] | None:
    if not os.path.exists(labdir.topology_file) or _pid(labdir) is None:
        return None
    try:
        return _admin(labdir, "status")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def cmd_up(args: argparse.Namespace) -> int:
    labdir = LabDir(args.dir)
    overrides: dict[str, Any] = {}
    if args.short_intervals:
        overrides["gtm"] = {"allow_short_intervals": True}
    if _pid(labdir) is not None:
        if status_of(labdir) is not None:
            print(f"drlab already running in {labdir.path}")
            return 0
    labdir.ensure(args.config, overrides)
    log = open(labdir.file("drlab.out"), "ab")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "drlab.server", "--dir", labdir.path],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"drlab failed to start (exit {proc.returncode}); see {labdir.file('drlab.out')} "
                  f"and {labdir.log_file}", file=sys.stderr)
            return 1
        if status_of(labdir) is not None:
            _print_summary(status_of(labdir) or {})
            return 0
        time.sleep(0.1)
    print(f"drlab did not answer within {args.timeout}s; see {labdir.log_file}", file=sys.stderr)
    return 1


def cmd_down(args: argparse.Namespace) -> int:
    labdir = LabDir(args.dir)
    pid = _pid(labdir)
    if pid is None:
        print("drlab is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("drlab stopped")
            return 0
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    print("drlab killed (did not stop in time)")
    return 0


def _redact(status: dict[str, Any]) -> dict[str, Any]:
    shown = dict(status)
    if "access_key_secret" in shown:
        shown["access_key_secret"] = "********"  # noqa: S105 - a mask, not a password
    return shown


def _print_summary(status: dict[str, Any]) -> None:
    print(f"drlab running in {status.get('dir')} (pid {status.get('pid')}) -- an emulator, not Alibaba Cloud")
    print(f"  cloud API (servicemesh + alidns): http://{status.get('cloud_endpoint')}")
    print(f"  access key id: {status.get('access_key_id')}  (secret: drlab env / credentials.json)")
    for name, comp in (status.get("components") or {}).items():
        for line in comp.get("summary", []):
            print(f"  {name}: {line}")


def cmd_status(args: argparse.Namespace) -> int:
    labdir = LabDir(args.dir)
    status = status_of(labdir)
    if status is None:
        if args.json:
            print(json.dumps({"running": False, "dir": labdir.path}))
        else:
            print(f"drlab is not running ({labdir.path})")
        return 3
    status["running"] = True
    if args.json:
        print(json.dumps(status if args.show_secrets else _redact(status), indent=1, sort_keys=True))
    else:
        _print_summary(status)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    labdir = LabDir(args.dir)
    if not os.path.exists(labdir.topology_file):
        print(f"no lab in {labdir.path}; run drlab up first", file=sys.stderr)
        return 1
    topo = labdir.topology()
    creds = labdir.credentials()
    endpoint = f"{topo['host']}:{topo['ports']['cloud']}"
    lines = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": creds["access_key_id"],
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds["access_key_secret"],
        "MESHDR_SERVICEMESH_ENDPOINT": endpoint,
        "MESHDR_ALIDNS_ENDPOINT": endpoint,
        "MESHDR_ALICLOUD_PROTOCOL": "http",
        "DRLAB_DIR": labdir.path,
        "DRLAB_DNS": f"{topo['host']}:{topo['ports']['dns']}",
    }
    for key, value in lines.items():
        print(f"export {key}='{value}'")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    labdir = LabDir(args.dir)
    path = labdir.file("events.jsonl")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if args.json:
                sys.stdout.write(line)
            else:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                stamp = time.strftime("%H:%M:%S", time.localtime(event.pop("time")))
                kind = event.pop("kind")
                rest = " ".join(f"{k}={v}" for k, v in sorted(event.items()))
                print(f"{stamp} {kind} {rest}")
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    labdir = LabDir(args.dir)
    body: dict[str, Any] = {}
    if args.throttle is not None:
        body["throttle_rate"] = args.throttle
    if args.errors is not None:
        body["error_rate"] = args.errors
    if args.throttle_next is not None:
        body["throttle_next"] = args.throttle_next
    if args.errors_next is not None:
        body["error_next"] = args.errors_next
    if args.drop_reply_next is not None:
        body["drop_reply_next"] = args.drop_reply_next
    if args.drop_reply_action is not None:
        body["drop_reply_actions"] = args.drop_reply_action
    print(json.dumps(_admin(labdir, "faults", body if body else None), indent=1, sort_keys=True))
    return 0


def cmd_calls(args: argparse.Namespace) -> int:
    labdir = LabDir(args.dir)
    result = _admin(labdir, "calls/reset", {}) if args.reset else _admin(labdir, "calls")
    result["kubernetes"] = _admin(labdir, "kube/calls/reset", {}) if args.reset else _admin(labdir, "kube/calls")
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


def cmd_sts(args: argparse.Namespace) -> int:
    labdir = LabDir(args.dir)
    body = {"duration_seconds": args.duration} if args.duration is not None else {}
    try:
        result = _admin(labdir, "sts", body)
    except urllib.error.HTTPError as err:
        print(f"drlab sts: {json.loads(err.read() or b'{}').get('error', err)}", file=sys.stderr)
        return 1
    creds = result["Credentials"]
    if args.env:
        for key, value in (("ALIBABA_CLOUD_ACCESS_KEY_ID", creds["AccessKeyId"]),
                           ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", creds["AccessKeySecret"]),
                           ("ALIBABA_CLOUD_SECURITY_TOKEN", creds["SecurityToken"])):
            print(f"export {key}='{value}'")
    else:
        print(json.dumps(result, indent=1, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--dir", default=DEFAULT_DIR, help="lab state directory (default: .lab or $DRLAB_DIR)")
        p.set_defaults(func=func)
        return p

    p = add("up", cmd_up, "start the lab in the background")
    p.add_argument("--config", help="topology file (YAML/JSON); used when the directory is new or to replace it")
    p.add_argument("--short-intervals", action="store_true",
                   help="allow GTM health-check intervals of 1-14 s (lab only)")
    p.add_argument("--timeout", type=float, default=30.0)
    p = add("down", cmd_down, "stop the lab (state is kept)")
    p.add_argument("--timeout", type=float, default=15.0)
    p = add("status", cmd_status, "what runs where")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-secrets", action="store_true", help="include the lab access key secret in --json")
    add("env", cmd_env, "print shell export lines for endpoints and credentials")
    p = add("events", cmd_events, "health and availability transitions with timestamps")
    p.add_argument("--json", action="store_true")
    p = add("faults", cmd_faults, "show or set throttling, 5xx or lost replies injected into the cloud API")
    p.add_argument("--throttle", type=float, help="share of cloud API calls answered with Throttling.User (0-1)")
    p.add_argument("--errors", type=float, help="share of cloud API calls answered with a 5xx (0-1)")
    p.add_argument("--throttle-next", type=int, metavar="N", help="refuse exactly the next N calls (Throttling.User)")
    p.add_argument("--errors-next", type=int, metavar="N", help="answer exactly the next N calls with a 5xx")
    p.add_argument("--drop-reply-next", type=int, metavar="N",
                   help="carry out the next N writes, then close the connection without an answer (a lost reply)")
    p.add_argument("--drop-reply-action", action="append", metavar="ACTION",
                   help="only writes of this action lose their reply (repeatable; default any write)")
    p = add("calls", cmd_calls, "cloud API calls per action and Kubernetes API requests, reads vs writes")
    p.add_argument("--reset", action="store_true")
    p = add("sts", cmd_sts, "issue temporary (STS) credentials the cloud API accepts with their token")
    p.add_argument("--duration", type=int, help="validity in seconds (default 3600; the lab also allows < 900)")
    p.add_argument("--env", action="store_true", help="print export lines instead of JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
