"""Cloud API benchmark: SDK round-trip latency and sustained call rate against the lab.

Starts a throw-away lab (``drlab.testing.LabHandle``), creates one mesh through the real
servicemesh SDK and waits for it to be ``running``, then:

* latency: sequential ``DescribeServiceMeshDetail`` calls from one client (ACS3 signature,
  then v1), p50/p99/max of the full SDK round trip (signing, HTTP, verification, JSON);
* throughput: the same call from a few threads, one SDK client each, for at most
  ``--calls`` calls or ``--max-seconds`` seconds, whichever comes first.

Figures, not assertions; the lab's own call counter is printed as a cross-check.

    .venv/bin/python benchmarks/cloud_api.py [--samples 300] [--calls 2000] [--max-seconds 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import threading
import time

from alibabacloud_servicemesh20200111 import models as mesh_models
from alibabacloud_servicemesh20200111.client import Client as MeshClient
from alibabacloud_tea_openapi import models as open_api_models

from drlab.testing import LabHandle


def client(lab: LabHandle, **extra: str) -> MeshClient:
    creds = lab.credentials
    return MeshClient(open_api_models.Config(access_key_id=creds["access_key_id"],
                                             access_key_secret=creds["access_key_secret"],
                                             endpoint=lab.endpoint, protocol="http", **extra))


def create_running_mesh(lab: LabHandle, sdk: MeshClient) -> str:
    region = lab.topology["regions"][0]
    mesh_id = sdk.create_service_mesh(mesh_models.CreateServiceMeshRequest(
        region_id=region["id"], vpc_id=region["vpc_id"], name="bench",
        v_switches=json.dumps(region["vswitches"]))).body.service_mesh_id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        detail = sdk.describe_service_mesh_detail(mesh_models.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id))
        if detail.body.service_mesh.service_mesh_info.state == "running":
            return mesh_id
        time.sleep(0.2)
    raise RuntimeError(f"mesh {mesh_id} never became running")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(sdk: MeshClient, mesh_id: str, samples: int) -> list[float]:
    request = mesh_models.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id)
    for _ in range(min(20, samples)):  # warm up connections and code paths
        sdk.describe_service_mesh_detail(request)
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        sdk.describe_service_mesh_detail(request)
        out.append(time.perf_counter() - start)
    return out


def throughput(lab: LabHandle, mesh_id: str, calls: int, max_seconds: float, concurrency: int) -> dict:
    lock = threading.Lock()
    state = {"left": calls, "ok": 0, "errors": 0}
    deadline = time.monotonic() + max_seconds
    request = mesh_models.DescribeServiceMeshDetailRequest(service_mesh_id=mesh_id)

    def worker() -> None:
        sdk = client(lab)
        while time.monotonic() < deadline:
            with lock:
                if state["left"] <= 0:
                    return
                state["left"] -= 1
            try:
                sdk.describe_service_mesh_detail(request)
                key = "ok"
            except Exception:  # noqa: BLE001 - counted, the run goes on
                key = "errors"
            with lock:
                state[key] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"ok": state["ok"], "errors": state["errors"], "seconds": elapsed,
            "rate": (state["ok"] + state["errors"]) / elapsed if elapsed else 0.0}


def show(label: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"  {label:<30} n={len(ms):<5} p50 {statistics.median(ms):6.2f} ms   p99 {percentile(ms, 0.99):6.2f} ms"
          f"   max {max(ms):6.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300, help="sequential calls per latency figure")
    parser.add_argument("--calls", type=int, default=2000, help="upper bound of calls in the throughput run")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="upper bound of the throughput run")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    lab = LabHandle(topology={"timing": {"mesh_create_delay": 0.5}}).up()
    try:
        sdk = client(lab)
        mesh_id = create_running_mesh(lab, sdk)
        lab.admin("calls/reset", {})
        print(f"drlab cloud API at http://{lab.endpoint}/ (loopback, an emulator); mesh {mesh_id} running")
        print("SDK round trip, DescribeServiceMeshDetail, sequential:")
        show("ACS3-HMAC-SHA256", latency(sdk, mesh_id, args.samples))
        show("v1 HMAC-SHA1 (signature 'v2')", latency(client(lab, signature_algorithm="v2"), mesh_id, args.samples))
        result = throughput(lab, mesh_id, args.calls, args.max_seconds, args.concurrency)
        print(f"Sustained, {args.concurrency} threads (one SDK client each), bounded by {args.calls} calls / "
              f"{args.max_seconds:g} s:")
        print(f"  {result['ok'] + result['errors']} calls in {result['seconds']:.2f} s = {result['rate']:.0f} calls/s"
              f"   (errors: {result['errors']})")
        counted = lab.admin("calls")
        print(f"Lab call counter since reset: {counted['total']} "
              f"({counted['reads']} reads, {counted['writes']} writes)")
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
