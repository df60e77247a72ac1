"""Data plane benchmark: sustained rate through one region's gateway, one new connection per request.

Starts a throw-away lab, sets up region 1 (mesh, Bookinfo, IstioGateway, Gateway,
VirtualService) through the real SDK and kubernetes client, then sends a bounded number of
``GET /productpage`` requests (each a new TCP connection, ``Connection: close``) from a few
concurrent workers, and prints throughput, latency percentiles, errors and the lab's memory
at rest (RSS of the lab process and its Envoys).  Figures, not assertions.

    .venv/bin/python benchmarks/dataplane.py [--requests 3000] [--concurrency 8] [--max-seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab", "dataplane"))

from dp_world import GATEWAY_PORT, build_world, new_lab, wait_for  # noqa: E402


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                out += [int(c) for c in handle.read().split()]
        except OSError:
            continue
    return out


async def one(address: str) -> tuple[float, int]:
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(address, GATEWAY_PORT)
    writer.write(b"GET /productpage HTTP/1.1\r\nHost: bookinfo.example.com\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return time.perf_counter() - start, status


async def load(address: str, total: int, concurrency: int, max_seconds: float) -> tuple[list[float], dict, float]:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    remaining = [total]
    deadline = time.monotonic() + max_seconds

    async def worker():
        while remaining[0] > 0 and time.monotonic() < deadline:
            remaining[0] -= 1
            try:
                latency, status = await asyncio.wait_for(one(address), 5)
            except (OSError, TimeoutError):
                latency, status = 5.0, 0
            latencies.append(latency)
            codes[status] = codes.get(status, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, codes, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    args = parser.parse_args()
    started = time.monotonic()
    lab = new_lab()
    print(f"drlab up: {time.monotonic() - started:.2f} s")
    try:
        world = build_world(lab, regions=1)
        address = world.address(0)
        def serving() -> bool:
            try:
                return asyncio.run(one(address))[1] == 200
            except OSError:
                return False
        wait_for(serving, 10, what="productpage through the gateway")
        time.sleep(1.0)
        pid = lab.pid() or 0
        envoys = [c for c in children(pid) if b"envoy" in open(f"/proc/{c}/cmdline", "rb").read()]
        lab_rss, envoy_rss = rss_kib(pid), sum(rss_kib(e) for e in envoys)
        print(f"memory at rest: lab process {lab_rss / 1024:.1f} MiB, {len(envoys)} Envoy(s) "
              f"{envoy_rss / 1024:.1f} MiB, total {(lab_rss + envoy_rss) / 1024:.1f} MiB")
        latencies, codes, elapsed = asyncio.run(load(address, args.requests, args.concurrency, args.max_seconds))
        latencies.sort()
        n = len(latencies)
        q = statistics.quantiles(latencies, n=100) if n > 1 else latencies * 99
        print(f"requests: {n} in {elapsed:.2f} s, new connection each, concurrency {args.concurrency}")
        print(f"rate: {n / elapsed:.0f} req/s (target >= 300)")
        print(f"latency ms: p50 {q[49] * 1000:.1f}  p90 {q[89] * 1000:.1f}  p99 {q[98] * 1000:.1f} (target <= 50)  "
              f"max {latencies[-1] * 1000:.1f}")
        print(f"status codes: {dict(sorted(codes.items()))}")
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
