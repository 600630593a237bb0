"""The coach's week: every athlete's digest data in risk order."""

from __future__ import annotations

import math
from collections.abc import Sequence

from digest.model import SEVERITY_ORDER, AthleteWeek, SquadWeek
from digest.week import week_days

INACTIVE_AFTER_DAYS = 7  # days without any activity from which the squad digest flags a runner


def risk_key(athlete: AthleteWeek) -> tuple[int, float, str]:
    """Sort key, most at risk first: the worst open alert (critical, warn, info, then none);
    within a group the highest ratio of this week's km to the 4-week average (a week with km
    after no average, a start or a return, ranks first: +inf; no km at all ranks last: 0);
    ties by athlete id."""
    group = (SEVERITY_ORDER.index(athlete.open_severity)
             if athlete.open_severity in SEVERITY_ORDER else len(SEVERITY_ORDER))
    ratio = athlete.distance_ratio_4w
    if ratio is None:
        ratio = math.inf if athlete.this_week.distance_km > 0 else 0.0
    return group, -ratio, athlete.athlete_id


def squad_week(weeks: Sequence[AthleteWeek], week: str) -> SquadWeek:
    """The squad digest's data for an ISO week from its athletes' weeks (risk_key order)."""
    first_day, last_day = week_days(week)
    return SquadWeek(week=week, first_day=first_day, last_day=last_day,
                     athletes=tuple(sorted(weeks, key=risk_key)),
                     inactive_after_days=INACTIVE_AFTER_DAYS)
