"""Supervise a long-running child program of the lab (Prometheus, Alertmanager).

The child must not outlive the lab (a ``kill -9`` of the lab would leave it holding the lab's
ports): it sets ``PR_SET_PDEATHSIG`` (SIGKILL) before exec, and a pid file lets the next start
kill a survivor.  The death signal fires when the *thread* that spawned the child exits
(prctl(2): "the parent" is the creating thread), so one long-lived thread per child does every
spawn and stop, fed through a queue; the asyncio side awaits futures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import logging
import os
import queue
import signal
import subprocess
import threading
import time

log = logging.getLogger("drlab.supervisor")

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in the forked child before exec: the kernel SIGKILLs it when its spawner goes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_survivor(pid_file: str, marker: str) -> None:
    """Kill a child left by a previous lab process (recognised by ``marker`` in its command line)."""
    try:
        with open(pid_file, encoding="ascii") as handle:
            pid = int(handle.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if marker.encode() not in handle.read():
                return
        os.kill(pid, signal.SIGKILL)
        log.warning("killed a leftover child (pid %s, %s)", pid, marker)
        for _ in range(50):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.02)
    except (OSError, ValueError):
        return


class Supervisor:
    """Start, stop and restart-on-crash one child program; ``argv`` must name ``marker``."""

    def __init__(self, name: str, argv: list[str], workdir: str, marker: str):
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.pid: int | None = None
        self.restarts = 0
        self._want_running = False
        self._proc: subprocess.Popen | None = None
        self._ops: queue.Queue = queue.Queue()
        os.makedirs(workdir, exist_ok=True)
        self.pid_file = os.path.join(workdir, f"{name}.pid")
        self.log_path = os.path.join(workdir, f"{name}.out")
        kill_survivor(self.pid_file, marker)
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)
        self._thread.start()

    # -- process (only ever touched from the supervisor thread) --------------------
    def _spawn(self) -> None:
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - a lab program with arguments we built
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, close_fds=True,
                cwd=self.workdir, preexec_fn=die_with_parent)  # noqa: PLW1509 - only a prctl, no locks taken
        self.pid = self._proc.pid
        with open(self.pid_file, "w", encoding="ascii") as handle:
            handle.write(str(self.pid))
        log.info("%s started pid %s", self.name, self.pid)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self.pid = None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)
        log.info("%s stopped", self.name)

    def _run(self) -> None:
        backoff, next_try = 0.5, 0.0
        while True:
            try:
                op, future = self._ops.get(timeout=0.5)
            except queue.Empty:
                if self._want_running and self._proc is not None and self._proc.poll() is not None:
                    if time.monotonic() < next_try:
                        continue
                    log.warning("%s exited with %s; restarting (see %s)", self.name, self._proc.returncode,
                                self.log_path)
                    self.restarts += 1
                    self._spawn()
                    next_try = time.monotonic() + backoff
                    backoff = min(backoff * 2, 10.0)
                elif self._proc is not None and self._proc.poll() is None:
                    backoff = 0.5
                continue
            try:
                if op == "start":
                    self._want_running = True
                    if self._proc is None or self._proc.poll() is not None:
                        self._spawn()
                elif op in ("stop", "quit"):
                    self._want_running = False
                    self._kill()
                future.set_result(None)
            except Exception as exc:  # noqa: BLE001 - hand any failure to the awaiting caller
                future.set_exception(exc)
            if op == "quit":
                return

    def _submit(self, op: str) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._ops.put((op, future))
        return future

    # -- asyncio API --------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._want_running

    async def start(self) -> None:
        await asyncio.wrap_future(self._submit("start"))

    async def close(self) -> None:
        await asyncio.wrap_future(self._submit("quit"))
