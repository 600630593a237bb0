"""Session rebuild: a summary made from bare records, for a file that never got a session."""

from __future__ import annotations

from typing import Any

from ingest.summary import Timeline

# gaps between records longer than this are pauses, not timer time
REBUILT_PAUSE_GAP_S = 60.0
REBUILT_MIN_SPAN_S = 60.0


def rebuilt_session(records: Timeline,
                    sport_values: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """A session message made from bare records (a watch that died before saving, a fragment),
    in the decoder's field names. Returns the session and a warning, or None and the reason."""
    if len(records) < 2:
        return None, f"the file has no session message and only {len(records)} timestamped records"
    start, end = records[0][0], records[-1][0]
    span_s = (end - start).total_seconds()
    if span_s < REBUILT_MIN_SPAN_S:
        return None, (f"the file has no session message and its {len(records)} records cover "
                      f"only {span_s:.0f} s")
    gaps_s = ((b[0] - a[0]).total_seconds() for a, b in zip(records, records[1:], strict=False))
    timer_s = sum(gap for gap in gaps_s if gap <= REBUILT_PAUSE_GAP_S)
    distances = [v.get("distance") for _t, v in records
                 if isinstance(v.get("distance"), int | float)]
    session = {
        "start_time": start, "timestamp": end, "total_elapsed_time": span_s,
        "total_timer_time": timer_s, "total_distance": max(distances) if distances else None,
        "sport": sport_values.get("sport") or "generic", "sub_sport": sport_values.get("sub_sport"),
    }
    return session, (f"the file has no session message (never finalised or cut short): the "
                     f"summary was rebuilt from its {len(records)} records")
