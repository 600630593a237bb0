"""`strideguard silence add | list | expire`: mute rules for an athlete for a while (DESIGN §8)."""

from __future__ import annotations

import argparse
import getpass
import json
import uuid
from datetime import datetime
from typing import Any

from cli.common import parse_day, print_table
from rules.silences import (
    check_rule_ids,
    presets_for,
    rule_groups,
    rule_labels,
    silence_end,
    until_text,
)
from store import ensure_athlete, utc_now
from store.queries import athlete_ids
from store.silences import SilenceRow, add_silence, end_silence, find_silences, list_silences
from wiring import App, open_app


def _user_name() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return None


def _requested_rules(app: App, args: argparse.Namespace) -> tuple[tuple[str, ...], str | None]:
    """The rule ids to mute and the preset they came from (None for `--rule`)."""
    known = [rule.id for rule in app.rules.rules]
    if args.rule:
        return check_rule_ids(args.rule, known), None
    presets = presets_for(list(app.config.rules), known)
    return presets.rules_of(args.preset), args.preset


def cmd_silence_add(args: argparse.Namespace) -> int:
    reason = args.reason.strip()
    if not reason:
        raise ValueError("--reason: say why (it is shown in alerts and the digest)")
    until = parse_day(args.until, "--until")
    with open_app(args.config) as app:
        rule_ids, preset = _requested_rules(app, args)
        if not rule_ids:
            raise ValueError(f"preset {preset!r} names no rule in force")
        timezone_name = app.config.timezone_for(args.athlete)
        now = utc_now()
        ends_at = silence_end(now, timezone_name, duration=args.duration, until=until)
        with app.store.session() as session:
            known = athlete_ids(session, (a.id for a in app.config.athletes))
            if args.athlete not in known:
                raise ValueError(f"unknown athlete {args.athlete!r}; the athletes are: "
                                 f"{', '.join(known) or '(none yet)'}")
            ensure_athlete(session, args.athlete)
            silence = add_silence(session, silence_id=str(uuid.uuid4()), athlete_id=args.athlete,
                                  rule_ids=rule_ids, preset=preset, starts_at=now,
                                  ends_at=ends_at, reason=reason,
                                  created_by=args.by or _user_name())
            session.commit()
        labels = rule_labels(rule_ids, rule_groups(list(app.config.rules)))
    print(f"silenced {', '.join(labels)} for {silence.athlete_id} until "
          f"{until_text(ends_at, timezone_name)} ({timezone_name})"
          + (f", preset {preset}" if preset else "") + f": {reason}")
    print(silence.id)
    return 0


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def silence_json(silence: SilenceRow, now: datetime) -> dict[str, Any]:
    """One silence as `silence list --json` prints it (and `status --json` lists them)."""
    return {"id": silence.id, "athlete": silence.athlete_id, "rules": list(silence.rule_ids),
            "starts_at": _iso(silence.starts_at), "ends_at": _iso(silence.ends_at),
            "reason": silence.reason, "created_by": silence.created_by,
            "preset": silence.preset, "active": silence.active_at(now)}


def cmd_silence_list(args: argparse.Namespace) -> int:
    now = utc_now()
    with open_app(args.config) as app:
        with app.store.session() as session:
            found = list_silences(session, active_at=None if args.all else now)
        groups = rule_groups(list(app.config.rules))
        timezone_of = app.config.timezone_for
    if args.json:
        print(json.dumps([silence_json(silence, now) for silence in found], indent=2))
        return 0
    rows = []
    for silence in found:
        state = "active" if silence.active_at(now) else (
            "ended" if silence.ends_at <= now else "not started")
        rows.append((silence.id, silence.athlete_id,
                     ", ".join(rule_labels(silence.rule_ids, groups)),
                     until_text(silence.ends_at, timezone_of(silence.athlete_id)), state,
                     f"{silence.preset}: {silence.reason}" if silence.preset else silence.reason,
                     silence.created_by or "-"))
    title = f"{len(rows)} silences" + ("" if args.all else " in force")
    print_table(title, ("id", "athlete", "rules", "until (local)", "state", "reason", "by"),
                rows)
    return 0


def cmd_silence_expire(args: argparse.Namespace) -> int:
    now = utc_now()
    with open_app(args.config) as app, app.store.session() as session:
        found = find_silences(session, args.id)
        if not found:
            raise ValueError(f"no silence {args.id!r} (see `strideguard silence list --all`)")
        if len(found) > 1:
            raise ValueError(f"{args.id!r} starts {len(found)} silence ids: "
                             f"{', '.join(s.id for s in found)}; give more of it")
        [silence] = found
        if silence.ends_at <= now:
            print(f"silence {silence.id} already ended at {_iso(silence.ends_at)}")
            return 0
        ended = end_silence(session, silence.id, now)
        session.commit()
    print(f"silence {ended.id} ended at {_iso(ended.ends_at)}; the next evaluation sends "
          "what it held back if the condition still holds")
    return 0
