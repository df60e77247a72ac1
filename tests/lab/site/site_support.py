"""Run the collection's playbooks against a throw-away lab, as a user would: ansible-playbook in a subprocess,
the lab inventory (copied, so a test can add a region to it), JSON output parsed for stats and custom stats."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(ROOT, ".venv", "bin")

# A region of the lab topology and the host_vars naming it in the inventory: the only things a user writes.
EXTRA_REGIONS = [
    {"id": "eu-central-1", "cluster": "cluster-3", "mesh": "mesh-3", "weight": 50},
]


def topology(extra: int = 0) -> dict[str, Any]:
    regions = [{"id": "cn-hangzhou", "clusters": [{"name": "cluster-1"}]},
               {"id": "ap-southeast-1", "clusters": [{"name": "cluster-2"}]}]
    regions += [{"id": r["id"], "clusters": [{"name": r["cluster"]}]} for r in EXTRA_REGIONS[:extra]]
    return {"regions": regions}


def inventory(tmp_path, extra: int = 0) -> str:
    """inventories/lab copied, plus `extra` regions: one hosts.yml line and one host_vars file each."""
    dest = os.path.join(str(tmp_path), "inventory")
    shutil.copytree(os.path.join(ROOT, "inventories", "lab"), dest)
    hosts_file = os.path.join(dest, "hosts.yml")
    with open(hosts_file, encoding="utf-8") as handle:
        hosts = yaml.safe_load(handle)
    for region in EXTRA_REGIONS[:extra]:
        hosts["all"]["children"]["regions"]["hosts"][region["id"]] = None
        with open(os.path.join(dest, "host_vars", f"{region['id']}.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump({"dr_region_id": region["id"], "dr_cluster_name": region["cluster"],
                            "dr_mesh_name": region["mesh"], "dr_region_weight": region["weight"]}, handle)
    with open(hosts_file, "w", encoding="utf-8") as handle:
        yaml.safe_dump(hosts, handle)
    return dest


def env(lab) -> dict[str, str]:
    """Only DRLAB_DIR: the inventory finds endpoints and credentials in the lab directory itself."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "MESHDR_"))}
    out.update({
        "DRLAB_DIR": lab.dir,
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_SHOW_CUSTOM_STATS": "true",
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
    })
    return out


def command(lab, inv: str, playbook: str, *args: str) -> list[str]:
    return [os.path.join(BIN, "ansible-playbook"), "-i", inv, os.path.join(ROOT, playbook), *args]


def parse(stdout: str, stderr: str = "") -> dict[str, Any]:
    """The json callback's report, or the tail of what the run printed."""
    try:
        return json.loads(stdout)
    except ValueError:
        return {"raw": stdout[-4000:], "stderr": stderr[-4000:]}


def run(lab, inv: str, playbook: str, *args: str, timeout: float = 600) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(command(lab, inv, playbook, *args), env=env(lab), cwd=ROOT,  # noqa: S603
                            capture_output=True, text=True, timeout=timeout, check=False)
    return result.returncode, parse(result.stdout, result.stderr)


def totals(report: dict[str, Any]) -> dict[str, int]:
    stats = report.get("stats") or {}
    return {key: sum(host.get(key, 0) for host in stats.values())
            for key in ("ok", "changed", "failures", "unreachable")}


def failed_tasks(report: dict[str, Any]) -> list[str]:
    """'host: task: msg' for every failed task result (ignored ones included), for assertion messages."""
    out = []
    for play in report.get("plays") or []:
        for task in play.get("tasks") or []:
            for host, result in (task.get("hosts") or {}).items():
                if result.get("failed"):
                    # dr_verify's failed requests say what the clients saw (status, error, address)
                    samples = f" samples: {result['samples'][:5]}" if result.get("samples") else ""
                    out.append(f"{host}: {task['task']['name']}: {str(result.get('msg'))[:300]}{samples}")
    return out


def changed_tasks(report: dict[str, Any]) -> list[str]:
    """'host: task' for every task result that reported a change."""
    out = []
    for play in report.get("plays") or []:
        for task in play.get("tasks") or []:
            for host, result in (task.get("hosts") or {}).items():
                if result.get("changed"):
                    out.append(f"{host}: {task['task']['name']}: {sorted(result.get('changes') or [])}")
    return out


def task_results(report: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """Results by host of the (last) task named `name`."""
    found: dict[str, dict[str, Any]] = {}
    for play in report.get("plays") or []:
        for task in play.get("tasks") or []:
            if task["task"]["name"] == name:
                found = task.get("hosts") or {}
    return found
