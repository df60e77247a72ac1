"""Run every integration target against one fresh lab.

A target is ``tests/integration/targets/<name>/`` in the ansible-test layout (``tasks/main.yml``,
``aliases``).  Each runs as a role in its own ``ansible-playbook`` on localhost with the lab's
endpoints and credentials in the environment, exactly as a user's playbook would see them.
Targets whose ``aliases`` say ``disabled`` are skipped.  Usage: runner.py [TARGET ...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from drlab.testing import LabHandle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = os.path.join(ROOT, "tests", "integration", "targets")

PLAYBOOK = """\
- name: Integration target {name}
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    drlab_dir: "{lab_dir}"
  # Every uri call of the targets goes to the lab's admin routes, which need the lab token; as
  # url_password (no_log in the uri module) it never shows in output.
  module_defaults:
    ansible.builtin.uri:
      url_username: drlab
      url_password: "{{{{ lookup('file', drlab_dir ~ '/admin-token') }}}}"
      force_basic_auth: true
  roles:
    - role: "{path}"
"""


def targets(selected: list[str]) -> list[str]:
    if not os.path.isdir(TARGETS):
        return []
    names = []
    for name in sorted(os.listdir(TARGETS)):
        path = os.path.join(TARGETS, name)
        if selected and name not in selected:
            continue
        if not os.path.exists(os.path.join(path, "tasks", "main.yml")):
            continue
        aliases = os.path.join(path, "aliases")
        if os.path.exists(aliases) and "disabled" in open(aliases, encoding="utf-8").read().split():
            print(f"integration: {name} disabled")
            continue
        names.append(name)
    return names


def main(argv: list[str]) -> int:
    names = targets(argv)
    if not names:
        print("integration: no targets")
        return 0
    lab = LabHandle().up()
    failed = []
    try:
        env = dict(os.environ)
        env.update(lab.env())
        env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
        env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
        # Modules run with the venv's Python (it has the SDKs); interpreter discovery may pick another.
        env.setdefault("ANSIBLE_PYTHON_INTERPRETER", sys.executable)
        for name in names:
            with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
                handle.write(PLAYBOOK.format(name=name, lab_dir=lab.dir, path=os.path.join(TARGETS, name)))
                playbook = handle.name
            started = time.monotonic()
            result = subprocess.run(  # noqa: S603 - our own playbook
                [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", playbook],
                env=env, cwd=ROOT, check=False,
            )
            os.unlink(playbook)
            took = time.monotonic() - started
            print(f"integration: {name} {'ok' if result.returncode == 0 else 'FAILED'} in {took:.0f}s")
            if result.returncode != 0:
                failed.append(name)
    finally:
        if failed:
            print(lab.log_tail())
        lab.down()
    print(f"integration: {len(names) - len(failed)} passed, {len(failed)} failed"
          + (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
