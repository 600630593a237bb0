"""`strideguard digest`: the weekly digest as files to look at, or queued and sent with --send."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli.common import print_table
from wiring import App, open_app

if TYPE_CHECKING:
    from digest.render import DigestMail

SQUAD_STEM = "squad"


def _week_for(app: App, athlete_id: str | None, week: str | None, now: datetime) -> str:
    """The asked week, else the week just ended in the athlete's (or the service's) zone."""
    from digest.week import format_week, parse_week, week_ended_before
    from metrics import local_date_of

    if week is not None:
        try:
            return format_week(*parse_week(week))
        except ValueError as exc:
            raise ValueError(f"--week: {exc}") from None
    zone = app.config.timezone_for(athlete_id) if athlete_id else app.config.timezone
    return week_ended_before(local_date_of(now, zone))


def cmd_digest(args: argparse.Namespace) -> int:
    with open_app(args.config) as app:
        now = datetime.now(UTC)
        known = app.athlete_ids()
        if args.athlete and args.athlete not in known:
            raise ValueError(f"--athlete: no athlete {args.athlete!r} in the store or the config "
                             f"(known: {', '.join(known) or 'none yet'})")
        athletes = [args.athlete] if args.athlete else known
        weeks = {athlete: _week_for(app, athlete, args.week, now) for athlete in athletes}
        squad_week = None if args.athlete else _week_for(app, None, args.week, now)
        if args.send:
            return _send(app, weeks, squad_week, now)
        return _preview(app, weeks, squad_week, Path(args.out), now)


def _send(app: App, weeks: dict[str, str], squad_week: str | None, now: datetime) -> int:
    outcomes = app.queue_digests(weeks, squad_week, now=now)
    # everything due now, in as many batches as it takes; rows waiting to retry keep their time
    delivered = app.dispatch()
    print_table("weekly digests", ("digest", "athlete", "week", "status", "notifications"),
                [(o.kind, o.athlete_key, o.week, str(o.status), str(o.notifications))
                 for o in outcomes])
    if delivered:
        print("delivered: " + ", ".join(f"{n} {outcome}" for outcome, n in delivered.items()))
    return 0


def _preview(app: App, weeks: dict[str, str], squad_week: str | None, out_dir: Path,
             now: datetime) -> int:
    """HTML (charts as PNG files beside it) and an .eml per digest; nothing stored or sent."""
    from digest.send import build_athlete_week, render_athlete, render_squad

    rows = []
    for athlete_id, week in sorted(weeks.items()):
        aw = build_athlete_week(app.store, app.config, app.rules, athlete_id, week, now)
        rows.append(_write(app, render_athlete(aw), out_dir / week, athlete_id))
    if squad_week is not None:
        squad = [build_athlete_week(app.store, app.config, app.rules, athlete_id, squad_week,
                                    now) for athlete_id in app.athlete_ids()]
        rows.append(_write(app, render_squad(squad, squad_week), out_dir / squad_week,
                           SQUAD_STEM))
    print_table(f"digest preview in {out_dir} (nothing sent; --send queues them)",
                ("digest", "week", "subject", "open in a browser"), rows)
    return 0


def _write(app: App, mail: DigestMail, folder: Path, stem: str) -> tuple[str, str, str, str]:
    """The preview files and an .eml as the runner (or coach) would receive it."""
    from digest.preview import safe_name, write_preview
    from notify.channels.file import LOCAL_SENDER
    from notify.mail import render_digest_email

    paths = write_preview(mail, folder, stem)
    email = app.config.notify.email
    athlete = app.config.athlete(mail.athlete_id) if mail.athlete_id else None
    if athlete is not None and athlete.email:
        to = [athlete.email]
    elif mail.athlete_id is None and email is not None and email.to:
        to = list(email.to)
    else:
        to = [f"{mail.athlete_id or 'coach'}@localhost"]
    eml = folder / f"{safe_name(stem)}.eml"
    eml.write_bytes(render_digest_email(mail, sender=email.sender if email else LOCAL_SENDER,
                                        to=to, event_id=f"preview-{mail.week}-{stem}"))
    html = next((path for path in paths if path.suffix == ".html"), eml)
    return stem, mail.week, mail.subject, str(html)
