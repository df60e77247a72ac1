"""site.yml convergence benchmark on a throw-away lab.

Prints, for the two-region lab inventory:

* the first converge time (goal: at most 120 s on the lab on this machine),
* the idempotent re-run time (goal: at most 30 % of the first),
* the re-run's cloud API write calls per action (goal: 0), from the lab's call counter,

plus the number of changed tasks of each run.  Figures, not assertions.  The verify play is
skipped (``--skip-tags verify``) unless ``--with-verify``: it sends requests, which is not
convergence work.

    .venv/bin/python benchmarks/site_converge.py [--with-verify]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from drlab.testing import LabHandle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".venv", "bin")


def converge(lab: LabHandle, args: list[str]) -> tuple[float, int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "MESHDR_"))}
    env.update({"DRLAB_DIR": lab.dir, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "PATH": BIN + os.pathsep + env.get("PATH", "")})
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own playbook
        [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "inventories", "lab"),
         os.path.join(ROOT, "site.yml"), *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    took = time.monotonic() - started
    try:
        stats = json.loads(result.stdout).get("stats", {})
    except ValueError:
        stats = {}
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"site.yml failed (rc {result.returncode})")
    return took, sum(h.get("changed", 0) for h in stats.values()), stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-verify", action="store_true", help="include the verify play in both runs")
    opts = parser.parse_args()
    args = [] if opts.with_verify else ["--skip-tags", "verify"]
    workdir = tempfile.mkdtemp(prefix="drlab-bench-site-")
    lab = LabHandle(directory=os.path.join(workdir, "lab")).up()
    try:
        first, first_changed, _ = converge(lab, args)
        lab.admin("calls/reset", {})
        again, again_changed, _ = converge(lab, args)
        calls = lab.admin("calls")
    finally:
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)
    writes = {name: entry["count"] for name, entry in sorted(calls["actions"].items()) if entry["kind"] == "write"}
    reads = {name: entry["count"] for name, entry in sorted(calls["actions"].items()) if entry["kind"] == "read"}
    ratio = again / first if first else 0.0
    scope = "with the verify play" if opts.with_verify else "verify play skipped"
    print(f"site.yml on the two-region lab ({scope})")
    print(f"  first converge:      {first:6.1f} s  ({first_changed} changed)       goal <= 120 s: "
          f"{'met' if first <= 120 else 'NOT met'}")
    print(f"  idempotent re-run:   {again:6.1f} s  ({again_changed} changed)  = {100 * ratio:.0f} % of the first;"
          f" goal <= 30 %: {'met' if ratio <= 0.30 else 'NOT met'}")
    print(f"  re-run write calls:  {sum(writes.values())} {writes or ''}  goal 0: "
          f"{'met' if not writes else 'NOT met'}")
    print(f"  re-run read calls:   {sum(reads.values())} " + json.dumps(reads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
