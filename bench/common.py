"""What the benchmarks share: the machine they ran on and cProfile's top functions as a table."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any


def machine(**extra: Any) -> dict[str, Any]:
    """Cores (all and usable), CPU model and Python version, plus what the caller adds."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "cpu": model, "python": platform.python_version(), **extra}


def print_top_functions(stats: dict[tuple[str, int, str], tuple[Any, ...]], top: int,
                        title: str, keep: Callable[[str], bool] = lambda path: True) -> None:
    """A Markdown table of the `top` functions by own time (pstats rows), those whose file
    `keep` accepts."""
    print(f"\n{title}:\n\n| function | calls | own s | cumulative s |\n|---|--:|--:|--:|")
    rows = [(key, row) for key, row in stats.items() if keep(key[0])]
    for (path, line, name), row in sorted(rows, key=lambda item: -item[1][2])[:top]:
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}" if line else "builtin"
        print(f"| `{name}` ({where}) | {row[1]:,} | {row[2]:.2f} | {row[3]:.2f} |")
