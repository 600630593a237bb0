"""`strideguard run [--once]`: the long-running worker of service.py, or one cycle of it. The one
command that imports service.py (the contracts in pyproject.toml allow no other)."""

from __future__ import annotations

import argparse

from service import serve
from wiring import open_app
from wiring.logs import use_log_format


def cmd_run(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    use_log_format(app.config.log_format)
    return serve(app, once=args.once)
