"""GTM DNS latency benchmark: p50/p99 of the lab's DNS answers, idle and beside a CPU hog.

Starts a throw-away lab (``drlab.testing.LabHandle``, loopback only), creates one GTM access
domain through the real alidns SDK (one manual-mode address, so no probes are needed), then
measures sequential UDP queries (dnspython) in three phases:

* idle: nothing else runs;
* hog: ``--hogs`` busy Python processes (default 2, one per core of the lab host) spin beside
  the lab, each ending by itself after ``--hog-seconds``;
* hog + API: the same hog while a thread keeps the lab's main loop busy with cloud API calls
  (``ListCloudGtmAddresses``), what a converging playbook does;
* hog + stall: the same hog while the lab's main loop is blocked 1 s at a time
  (``POST /__drlab/stall``), what a long reconcile does; before DNS had its own thread every
  query in a stall waited for its end.

DNS runs on its own thread (``drlab/dataplane/realtime.py``); the issue's bar is p99 < 50 ms in
the hog phases.  Figures, not assertions.

    .venv/bin/python benchmarks/dns_latency.py [--samples 400] [--hogs 2] [--hog-seconds 60]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time

import dns.exception
import dns.message
import dns.query
from alibabacloud_alidns20150109 import models as d
from alibabacloud_alidns20150109.client import Client as DnsClient
from alibabacloud_tea_openapi import models as open_api_models

from drlab.testing import LabHandle

HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def sdk(lab: LabHandle) -> DnsClient:
    creds = lab.credentials
    return DnsClient(open_api_models.Config(access_key_id=creds["access_key_id"],
                                            access_key_secret=creds["access_key_secret"],
                                            endpoint=lab.endpoint, protocol="http"))


def create_domain(lab: LabHandle, client: DnsClient) -> str:
    zone = lab.topology["zones"][0]
    address = client.create_cloud_gtm_address(d.CreateCloudGtmAddressRequest(
        name="bench", address="127.0.0.1", type="IPv4", enable_status="enable", available_mode="manual",
        manual_available_status="available", health_judgement="any_ok")).body.address_id
    pool = client.create_cloud_gtm_address_pool(d.CreateCloudGtmAddressPoolRequest(
        address_pool_name="bench", address_pool_type="IPv4", enable_status="enable",
        health_judgement="any_ok")).body.address_pool_id
    client.replace_cloud_gtm_address_pool_address(d.ReplaceCloudGtmAddressPoolAddressRequest(
        address_pool_id=pool, addresses=[d.ReplaceCloudGtmAddressPoolAddressRequestAddresses(
            address_id=address, weight_value=1, serial_number=1)]))
    created = client.create_cloud_gtm_instance_config(d.CreateCloudGtmInstanceConfigRequest(
        charge_type="postpay", schedule_zone_mode="custom", schedule_zone_name=zone, schedule_hostname="bench",
        schedule_rr_type="A", ttl=5, enable_status="enable")).body
    client.replace_cloud_gtm_instance_config_address_pool(d.ReplaceCloudGtmInstanceConfigAddressPoolRequest(
        instance_id=created.instance_id, config_id=created.config_id,
        address_pools=[d.ReplaceCloudGtmInstanceConfigAddressPoolRequestAddressPools(address_pool_id=pool,
                                                                                      weight_value=1)]))
    return f"bench.{zone}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(lab: LabHandle, name: str, samples: int) -> tuple[list[float], int]:
    topo = lab.topology
    host, port = topo["host"], topo["ports"]["dns"]
    timings, lost = [], 0
    for _ in range(samples):
        query = dns.message.make_query(name, "A")
        started = time.perf_counter()
        try:
            reply = dns.query.udp(query, host, port=port, timeout=2)
        except dns.exception.Timeout:
            lost += 1
            continue
        timings.append((time.perf_counter() - started) * 1000)
        assert reply.answer, "no answer"
        time.sleep(0.005)
    return timings, lost


def report(label: str, timings: list[float], lost: int) -> None:
    if not timings:
        print(f"{label:<10} no answers ({lost} lost)")
        return
    print(f"{label:<10} n={len(timings):<5} p50={percentile(timings, 0.5):7.2f} ms  "
          f"p99={percentile(timings, 0.99):7.2f} ms  max={max(timings):7.2f} ms  lost={lost}")


def api_load(client: DnsClient, stop: threading.Event, counter: list[int]) -> None:
    while not stop.is_set():
        client.list_cloud_gtm_addresses(d.ListCloudGtmAddressesRequest(page_number=1, page_size=20))
        counter[0] += 1


def stall_load(lab: LabHandle, stop: threading.Event, counter: list[int]) -> None:
    while not stop.is_set():
        lab.admin("stall", {"seconds": 1})
        counter[0] += 1


def phase(lab: LabHandle, name: str, samples: int, label: str, load, *load_args) -> int:
    stop, counter = threading.Event(), [0]
    worker = threading.Thread(target=load, args=(*load_args, stop, counter), daemon=True)
    worker.start()
    try:
        report(label, *measure(lab, name, samples))
    finally:
        stop.set()
        worker.join(10)
    return counter[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--hog-seconds", type=float, default=60.0, help="each hog ends by itself after this")
    args = parser.parse_args()

    lab = LabHandle().up()
    hogs: list[subprocess.Popen] = []
    try:
        client = sdk(lab)
        name = create_domain(lab, client)
        time.sleep(0.5)
        report("idle", *measure(lab, name, args.samples))
        hogs = [subprocess.Popen([sys.executable, "-c", HOG.format(seconds=args.hog_seconds)])  # noqa: S603
                for _ in range(args.hogs)]
        time.sleep(0.5)
        report("hog", *measure(lab, name, args.samples))
        calls = phase(lab, name, args.samples, "hog+api", api_load, sdk(lab))
        stalls = phase(lab, name, args.samples, "hog+stall", stall_load, lab)
        print(f"(hog: {args.hogs} busy processes; hog+api: {calls} cloud API calls meanwhile; "
              f"hog+stall: main loop blocked {stalls} x 1 s meanwhile)")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
