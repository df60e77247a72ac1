"""Load engine benchmark: achieved/asked rate and CPU per 1,000 requests, built-in engine vs hey.

Starts a minimal HTTP server in a child process on 127.0.0.1 (raw asyncio protocol: one fixed
response, then close), then runs, each bounded to a few seconds:

- the built-in engine (``plugins/module_utils/drill/load.py``) at 100/s and 1000/s, a new
  connection per request: achieved/asked rate (goal >= 0.99) and the engine's CPU seconds
  (user + system of this process) per 1,000 requests;
- hey (``apt-get install hey``) at 1000/s with ``-disable-keepalive``, in the same run: its CPU
  seconds per 1,000 requests (children's rusage), and the ratio (goal: built-in <= 2x hey).

The machine is shared: figures, not assertions.

    .venv/bin/python benchmarks/load_engine.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "meshdr", "alicloud")
if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
sys.path.insert(0, COLLECTIONS)

from ansible_collections.meshdr.alicloud.plugins.module_utils.drill import backends, load  # noqa: E402

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"x-drlab-cluster: bench\r\nConnection: close\r\n\r\nok")


class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        if b"\r\n\r\n" in self.buf:
            self.transport.write(RESPONSE)
            self.transport.close()


def serve(port: int) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu(who=resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def builtin(url: str, qps: float, seconds: float) -> dict:
    before = cpu()
    res = load.run_load(load.LoadSpec(url, qps=qps, duration=seconds, concurrency=256, timeout=2))
    used = cpu() - before
    n = len(res["records"])
    return {"n": n, "qps": res["aggregates"]["ActualQPS"], "errors": sum(1 for r in res["records"] if r["error"]),
            "cpu_per_1000": used * 1000.0 / n if n else float("nan")}


def hey(url: str, qps: float, seconds: float) -> dict | None:
    tool = shutil.which("hey")
    if not tool:
        return None
    spec = load.LoadSpec(url, qps=qps, duration=seconds, concurrency=10, timeout=2)
    before = cpu(resource.RUSAGE_CHILDREN)
    res = backends.run_hey(tool, spec)
    used = cpu(resource.RUSAGE_CHILDREN) - before
    n = sum(res["aggregates"]["RetCodes"].values())  # answered requests: hey's CSV has no others
    return {"n": n, "qps": res["aggregates"]["ActualQPS"], "errors": res["aggregates"]["MissingFromCSV"],
            "cpu_per_1000": used * 1000.0 / n if n else float("nan")}


def line(name: str, qps: float, r: dict) -> str:
    return (f"{name:<8} asked {qps:>6.0f}/s  achieved {r['qps']:>7.1f}/s  ratio {r['qps'] / qps:5.3f}  "
            f"requests {r['n']:>6}  errors {r['errors']:>4}  CPU {r['cpu_per_1000']:.3f} s per 1,000 requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each run (default 5)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(port)])
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/productpage"
        print(f"server: raw asyncio on 127.0.0.1:{port} (child process); new connection per request; "
              f"{args.seconds:g} s per run; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        results = {}
        for qps in (100, 1000):
            results[qps] = builtin(url, qps, args.seconds)
            print(line("builtin", qps, results[qps]), flush=True)
            time.sleep(1)
        h = hey(url, 1000, args.seconds)
        if h is None:
            print("hey not installed (Debian: apt-get install hey); no CPU comparison")
        else:
            print(line("hey", 1000, h) + "  (errors = missing from its CSV: failed or not sent)")
            print(f"CPU per request, builtin / hey at 1000/s: {results[1000]['cpu_per_1000'] / h['cpu_per_1000']:.2f}x "
                  "(goal <= 2x)")
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
