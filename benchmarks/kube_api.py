"""Kubernetes API benchmark: get, list and patch calls per second through the kubernetes client.

Starts a throw-away lab, creates a namespace with a few Deployments through cluster-1's
kubeconfig, then runs each call type sequentially on one keep-alive connection for a bounded
number of calls or seconds (whichever ends first) and prints calls/s and latency percentiles.
Patches alternate between two values, so every one is a real write (saved to disk, watchers
notified).  Figures, not assertions.

    .venv/bin/python benchmarks/kube_api.py [--calls 500] [--max-seconds 10] [--objects 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from typing import Callable

# This checkout's lab, whatever the shared venv's editable install points at.
LAB_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab")
sys.path.insert(0, LAB_SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (LAB_SRC, os.environ.get("PYTHONPATH")) if p)

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402

from drlab.testing import LabHandle  # noqa: E402


def deployment(name: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"bench": "yes"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]}}}}


def measure(name: str, call: Callable[[int], object], calls: int, max_seconds: float) -> None:
    latencies = []
    start = time.perf_counter()
    for index in range(calls):
        began = time.perf_counter()
        call(index)
        latencies.append(time.perf_counter() - began)
        if began - start > max_seconds:
            break
    elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"{name:<7} {len(latencies):>5} calls in {elapsed:5.2f} s = {len(latencies) / elapsed:7.1f} calls/s  "
          f"p50 {statistics.median(latencies) * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per type (upper bound)")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="time bound per call type")
    parser.add_argument("--objects", type=int, default=20, help="Deployments in the listed namespace")
    args = parser.parse_args()
    lab = LabHandle().up()
    try:
        api = kube_config.new_client_from_config(config_file=os.path.join(lab.dir, "kubeconfig", "cluster-1.yaml"))
        core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        core.create_namespace({"metadata": {"name": "bench"}})
        for index in range(args.objects):
            apps.create_namespaced_deployment("bench", deployment(f"web-{index}"))
        print(f"drlab kube API, {args.objects} Deployments in the namespace, kubernetes client "
              f"(typed, one connection, sequential)")
        measure("get", lambda i: apps.read_namespaced_deployment("web-0", "bench"), args.calls, args.max_seconds)
        measure("list", lambda i: apps.list_namespaced_deployment("bench", label_selector="bench=yes"), args.calls,
                args.max_seconds)
        measure("patch", lambda i: apps.patch_namespaced_deployment(
            "web-0", "bench", {"metadata": {"labels": {"round": str(i % 2)}}}), args.calls, args.max_seconds)
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
