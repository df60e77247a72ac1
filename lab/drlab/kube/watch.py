"""What a lab controller (ASM's, the data plane's) uses to read the lab's Kubernetes APIs.

A controller reconciles from the servers' stores and sleeps until something changes: every server it
reads is subscribed once, and any write to it sets the controller's wake event.
"""

from __future__ import annotations

import asyncio
from typing import Any


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
