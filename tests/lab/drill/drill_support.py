"""Run site.yml and drill.yml against a throw-away lab as a user would (ansible-playbook in a subprocess,
the lab inventory, DRLAB_DIR), and look at the result from outside: the drill's journal, the lab's DNS,
HTTP through each region's gateway, the cluster's Kubernetes API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import dns.resolver
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(ROOT, ".venv", "bin")
DOMAIN = "bookinfo.meshdr-lab.example.com"
HTTP_PORT = 8080  # the lab serves the gateways' port 80 on 8080
GATEWAY = "istio-ingressgateway"


def env(lab) -> dict[str, str]:
    """Only DRLAB_DIR: the lab inventory finds endpoints and credentials in the lab directory itself."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "MESHDR_", "ANSIBLE_"))}
    out.update({
        "DRLAB_DIR": lab.dir,
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
    })
    return out


def playbook(lab, name: str, log: str, *args: str) -> list[str]:
    return [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, name), *args]


def run(lab, name: str, log: str, *args: str, timeout: float = 400) -> tuple[int, str]:
    """Run a playbook to the end; its output is kept in `log` for the assertion messages."""
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.run(playbook(lab, name, log, *args), env=env(lab), cwd=ROOT, stdout=out,  # noqa: S603
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    with open(log, encoding="utf-8") as handle:
        return proc.returncode, handle.read()


def start(lab, name: str, log: str, *args: str) -> subprocess.Popen:
    """Start a playbook in its own process group (so a test can kill it like a lost terminal)."""
    out = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(playbook(lab, name, log, *args), env=env(lab), cwd=ROOT, stdout=out,  # noqa: S603
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def background_loads(lab) -> list[int]:
    """The drill_load processes started for this lab. An async job leaves the playbook's process group
    (Ansible's async_wrapper daemonizes), so killing the group spares them."""
    marker = f"DRLAB_DIR={lab.dir}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if b"drill_load" in cmdline and marker in environ:
            found.append(int(entry))
    return found


def lose_the_host(lab, proc: subprocess.Popen) -> None:
    """Stop a drill as a lost host would: nothing of it goes on. Its background load goes first: it
    watches the playbook and, seeing it gone, stops and restores by itself (drill_load on_interrupt),
    which would race the next run that a test means to find the region still broken."""
    loads = background_loads(lab)
    assert loads, "no background load of the drill to stop"
    for pid in loads:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    kill(proc)


def extra_vars(**values: Any) -> list[str]:
    return ["-e", json.dumps(values)]


def journal(report_dir: str, run_id: str) -> dict[str, Any]:
    with open(os.path.join(report_dir, f"{run_id}-journal.json"), encoding="utf-8") as handle:
        return json.load(handle)


def regions(lab) -> list[dict[str, Any]]:
    return [{"id": r["id"], "address": r["address"], "cluster": r["clusters"][0]["name"],
             "kubeconfig": os.path.join(lab.dir, "kubeconfig", r["clusters"][0]["name"] + ".yaml")}
            for r in lab.topology["regions"]]


def resolve(lab) -> list[str]:
    """The GTM answer for the business domain, from the lab's DNS."""
    topo = lab.topology
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [topo["host"]]
    resolver.port = topo["ports"]["dns"]
    return sorted(a.address for a in resolver.resolve(DOMAIN, "A", lifetime=3))


def serves(address: str) -> str | None:
    """The cluster (x-drlab-cluster) that answers /productpage through the gateway at `address`, or None."""
    req = urllib.request.Request(f"http://{address}:{HTTP_PORT}/productpage", headers={"Host": DOMAIN})
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:  # noqa: S310 - loopback lab address
            return resp.headers.get("x-drlab-cluster") if resp.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def both_regions_serve(lab, timeout: float = 30) -> None:
    """GTM answers with every region's address and each gateway serves its own cluster's page."""
    want = regions(lab)
    deadline = time.monotonic() + timeout
    while True:
        answer = resolve(lab)
        served = {r["address"]: serves(r["address"]) for r in want}
        if answer == sorted(r["address"] for r in want) and all(served[r["address"]] == r["cluster"] for r in want):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"both regions should serve: DNS answers {answer}, gateways serve {served}")
        time.sleep(1)


def deployment_exists(region: dict[str, Any]) -> bool:
    """Whether the region's gateway Deployment exists, read from its cluster's Kubernetes API."""
    from kubernetes import client, config

    api = client.AppsV1Api(config.new_client_from_config(config_file=region["kubeconfig"]))
    try:
        api.read_namespaced_deployment(GATEWAY, "istio-system")
        return True
    except client.exceptions.ApiException as exc:
        if exc.status == 404:
            return False
        raise


def lab_topology(resync: float) -> dict[str, Any]:
    return {"timing": {"gateway_resync": resync},
            "regions": [{"id": "cn-hangzhou", "clusters": [{"name": "cluster-1"}]},
                        {"id": "ap-southeast-1", "clusters": [{"name": "cluster-2"}]}]}


def gtm_monitor(lab) -> dict[str, Any]:
    with open(os.path.join(ROOT, "inventories", "lab", "group_vars", "all", "main.yml"), encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return {"monitor": data["dr_gtm_monitor"], "ttl": data["dr_ttl"]}


def lab_events(lab) -> list[dict[str, Any]]:
    """The lab's own event log (DIR/events.jsonl): health transitions as the lab saw them."""
    out = []
    with open(os.path.join(lab.dir, "events.jsonl"), encoding="utf-8") as handle:
        for line in handle:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
