#!/usr/bin/env python3
"""The terminal client, the old way: ``python client.py [HOST] [PORT] [--name NAME]``.

Same as ``bidwire client``; works from a checkout where bidwire is not installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bidwire terminal client")
    parser.add_argument("host", nargs="?", default="127.0.0.1", help="server host")
    parser.add_argument("port", nargs="?", type=int, default=65432, help="server TCP port")
    parser.add_argument("--name", help="guest name (asked on a terminal; otherwise $USER or guest)")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("bidwire") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
    from bidwire.client.terminal import main

    return main(args.host, args.port, args.name)


if __name__ == "__main__":
    sys.exit(_main())
