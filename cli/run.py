"""`strideguard run [--once]`: the long-running service of service.py, or one cycle of it."""

from __future__ import annotations

import argparse

from service import open_app, serve


def cmd_run(args: argparse.Namespace) -> int:
    return serve(open_app(args.config), once=args.once)
