"""Start or reuse the throw-away drlab lab an integration target runs against.

Prints shell ``export`` lines (the lab's endpoints, credentials, directory) for ``run-target.sh``.
``tests/integration/drlab-reuse`` (written by ``tests/integration/run.sh``, never committed)
names a running lab to reuse; without it a new lab is started in a temporary directory with
free ports and a random ``127.<octet>.N.1`` block (``drlab.testing.LabHandle``), never the
default topology, and ``DRLAB_STOP=1`` tells the caller to stop it afterwards.
Usage: lab.py up ROOT | lab.py down DIR
"""

from __future__ import annotations

import os
import shlex
import sys

from drlab.testing import LabHandle


def exports(handle: LabHandle, stop: bool) -> str:
    env = handle.env()
    env["DRLAB_STOP"] = "1" if stop else "0"
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items()))


def up(root: str) -> str:
    reuse = os.path.join(root, "tests", "integration", "drlab-reuse")
    if os.path.exists(reuse):
        with open(reuse, encoding="utf-8") as handle:
            directory = handle.read().strip()
        lab = LabHandle(directory=directory)
        try:
            lab.status()
            return exports(lab, stop=False)
        except OSError:
            pass  # named but not running: start a lab of our own instead
    return exports(LabHandle().up(), stop=True)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "up":
        print(up(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "down":
        LabHandle(directory=argv[1]).down()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
