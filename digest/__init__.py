"""The weekly digest: one runner's ISO week and the squad's, as data, then rendered."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digest.athlete import athlete_week
    from digest.data import athlete_week_data, squad_week_data
    from digest.model import AlertLine, AthleteWeek, SquadWeek
    from digest.squad import squad_week

# name -> its module, imported on first use (PEP 562): `import digest` loads no numpy or SQL
_LAZY = {
    "athlete_week": "digest.athlete",
    "athlete_week_data": "digest.data",
    "squad_week_data": "digest.data",
    "squad_week": "digest.squad",
    "AlertLine": "digest.model",
    "AthleteWeek": "digest.model",
    "SquadWeek": "digest.model",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'digest' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


__all__ = ["AlertLine", "AthleteWeek", "SquadWeek", "athlete_week", "athlete_week_data",
           "squad_week", "squad_week_data"]
