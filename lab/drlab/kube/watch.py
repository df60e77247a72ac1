"""What a lab controller (ASM's, the data plane's) uses to read the lab's Kubernetes APIs.

A controller reconciles from the servers' stores and sleeps until something changes: every server it
reads is subscribed once, and any write to it sets the controller's wake event.  Between wake-ups a
controller still looks every half second (changes of the cloud's own state, time-based transitions);
:class:`QuietPasses` lets that look cost nothing when nothing it reads has changed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

# A controller whose inputs did not change still reconciles this often: what it starts outside the API
# (an Envoy, a Bookinfo listener) is checked again even when no write says so. Real controllers do the
# same from their informer cache: client-go's SharedInformer replays every cached object to its handlers
# each resync period, without listing the API again (k8s.io/client-go/tools/cache, resyncPeriod).
FULL_PASS_SECONDS = 5.0


class ServerWatch:
    def __init__(self, lab: Any, wake: asyncio.Event):
        self.lab = lab
        self.wake = wake
        self.watched: set[str] = set()

    def server(self, server_id: str) -> Any:
        """The Kubernetes API of a cluster or mesh (None if the lab has none yet), watched from now on."""
        kube = self.lab.components.get("kube")
        server = kube.server(server_id) if kube is not None else None
        if server is not None and server_id not in self.watched:
            server.subscribe(lambda event, obj: self.wake.set())
            self.watched.add(server_id)
        return server

    def versions(self) -> tuple[tuple[str, int], ...]:
        """Each watched server's resourceVersion counter: the same tuple means no write in between.  A no-op
        write keeps the counter, as an apiserver does: k8s.io/apiserver's etcd3 store (GuaranteedUpdate)
        does not write an object that came back unchanged, so its resourceVersion stays."""
        kube = self.lab.components.get("kube")
        if kube is None:
            return ()
        out = []
        for server_id in sorted(self.watched):
            server = kube.server(server_id)
            out.append((server_id, server.rv if server is not None else -1))
        return tuple(out)


class QuietPasses:
    """Whether a controller's periodic pass can be skipped: nothing it reads changed since its last pass.

    Without it every lab controller re-read and re-rendered all its objects twice a second, a tenth of a core
    per idle lab taken from what the tests and benchmarks measure (benchmarks/site_converge.py).
    """

    def __init__(self) -> None:
        self._last: Any = None
        self._at = 0.0
        self.skipped = 0
        self.passes = 0

    def skip(self, inputs: Any) -> bool:
        """True when ``inputs`` equal the last pass's and the last full pass is recent; else records a pass."""
        now = time.monotonic()
        if inputs == self._last and now - self._at < FULL_PASS_SECONDS:
            self.skipped += 1
            return True
        self._last, self._at = inputs, now
        self.passes += 1
        return False

    def forget(self) -> None:
        """The last pass failed: the next one runs whatever the inputs."""
        self._last = None
