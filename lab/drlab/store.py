"""Crash-safe JSON persistence for lab state.

Every mutation is written to a temporary file in the same directory and moved
over the old one, so a ``kill -9`` at any point leaves either the old or the new
state on disk, never a torn file.  The lab runs on one asyncio loop, so handlers
that mutate and then call :meth:`JsonStore.save` without awaiting in between are
atomic with respect to each other.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def write_atomic(path: str, text: str, mode: int = 0o600) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class JsonStore:
    """A dict persisted as one JSON file."""

    def __init__(self, path: str, default: dict[str, Any] | None = None):
        self.path = path
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                self.data: dict[str, Any] = json.load(handle)
        else:
            self.data = default if default is not None else {}

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True))
