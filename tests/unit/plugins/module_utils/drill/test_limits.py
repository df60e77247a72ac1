"""One source for the drill's bounds: module_utils/drill/limits.py.  The dr_drill role (which cannot import
Python) carries a copy in roles/dr_drill/vars/main.yml and the docs state the numbers; these tests fail as
soon as one of them drifts from the constants the modules enforce."""

from __future__ import annotations

import os

import yaml

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import limits, load
from ansible_collections.meshdr.alicloud.plugins.modules import drill_load

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
ROLE = os.path.join(ROOT, "roles", "dr_drill")


def _yaml(*parts):
    with open(os.path.join(ROLE, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_role_limits_are_the_modules_limits():
    assert _yaml("vars", "main.yml")["dr_drill__limits"] == limits.LIMITS


def test_drill_load_enforces_the_shared_limits():
    assert drill_load.MAX_QPS == limits.MAX_QPS
    assert drill_load.MAX_DURATION == limits.MAX_DURATION
    load.LoadSpec("http://127.0.0.1/", dns_watch_interval=limits.MAX_DNS_WATCH_INTERVAL)
    try:
        load.LoadSpec("http://127.0.0.1/", dns_watch_interval=limits.MAX_DNS_WATCH_INTERVAL + 0.5)
    except ValueError as exc:
        assert str(limits.MAX_DNS_WATCH_INTERVAL).rstrip("0").rstrip(".") in str(exc)
    else:
        raise AssertionError("dns_watch_interval above the limit accepted")


def test_the_role_checks_every_limit():
    """Every bound is used by the role's validation (a limit nobody checks is a limit that drifts)."""
    with open(os.path.join(ROLE, "tasks", "main.yml"), encoding="utf-8") as handle:
        tasks = handle.read()
    for name in limits.LIMITS:
        assert "dr_drill__limits." + name in tasks, name


def test_docs_state_the_same_numbers():
    role_options = _yaml("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    qps_doc = " ".join(role_options["dr_drill_qps"]["description"])
    assert f"1 to {limits.MAX_QPS}" in qps_doc
    assert f"{limits.MAX_DURATION}" in role_options["dr_drill_duration"]["description"]
    module_doc = yaml.safe_load(drill_load.DOCUMENTATION)["options"]
    assert f"At most {limits.MAX_QPS}" in " ".join(module_doc["qps"]["description"])
    assert f"At most {limits.MAX_DURATION}" in " ".join(module_doc["duration"]["description"])
