"""Foreground entry point of the lab process (``python -m drlab.server --dir DIR``)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from .config import LabDir
from .lab import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="drlab-server")
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    labdir = LabDir(args.dir)
    logging.basicConfig(
        filename=labdir.log_file,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(run(labdir))


if __name__ == "__main__":
    main()
