"""The repository's console (ansible.cfg: stdout_callback = meshdr.alicloud.brief): what it shows
by default, and that -v gives the default callback's full output. The line count of a real drill
is checked in test_requirements_only.py."""

from __future__ import annotations

import os
import sys

import pytest

from .conftest import ROOT, run, tool

PLAYBOOK = """
- name: Console demo
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Quiet when ok
      ansible.builtin.set_fact: {a: 1}
    - name: A change
      ansible.builtin.command: "true"
    - name: Progress
      ansible.builtin.debug: {msg: "+1.0s 10 requests"}
    - name: Verdict
      ansible.builtin.debug: {msg: ["DRILL PASS - run x", "  Markdown report: /tmp/x.md"]}
    - name: Only with -v
      ansible.builtin.debug: {msg: detail, verbosity: 1}
    - name: An expected failure
      ansible.builtin.fail: {msg: expected}
      ignore_errors: true
    - name: Looped, one item fails
      ansible.builtin.fail: {msg: "bad {{ item }}"}
      loop: [1, 2]
      when: item == 2
"""


@pytest.fixture()
def play(tmp_path):
    path = tmp_path / "console.yml"
    path.write_text(PLAYBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_PYTHON_INTERPRETER=sys.executable)

    def _run(*args: str) -> list[str]:
        result = run([tool("ansible-playbook"), "-i", "localhost,", "-c", "local", str(path), *args],
                     cwd=ROOT, env=env, check=False)
        assert result.returncode == 2, result.stdout + result.stderr  # the looped failure
        return result.stdout.splitlines()

    return _run


def test_default_console_is_short(play):
    lines = play()
    text = "\n".join(lines)
    assert lines[0] == "== Console demo"
    assert "  changed: [localhost] A change" in lines
    assert "  [localhost] msg: +1.0s 10 requests" in lines
    assert "    DRILL PASS - run x" in lines and "      Markdown report: /tmp/x.md" in lines
    assert "  FAILED: [localhost] Looped, one item fails" in lines and "    (item=2) bad 2" in lines
    assert "TASK [" not in text and "ok: [" not in text and "skipping" not in text
    assert "expected" not in text and "detail" not in text
    assert any(line.startswith("localhost") and "failed=1" in line and "ignored=1" in line for line in lines)
    assert len(lines) < 15, text


def test_verbose_console_is_the_default_callback(play):
    text = "\n".join(play("-v"))
    for shown in ("TASK [Quiet when ok]", "ok: [localhost]", "detail", "...ignoring", "PLAY RECAP"):
        assert shown in text, shown
