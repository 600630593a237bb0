"""Getting started: `init` (starter files), `check-config`, `demo` (a history that fires)."""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from config import ConfigError, load_service_config, redact_url
from config.locate import DEFAULT_CONFIG_NAME, DEMO_CONFIG, EXAMPLE_CONFIG, EXIT_CONFIG, load_config
from notify.channels import channel_kinds
from notify.channels.push import push_url_problems
from rules.loader import SHIPPED_ADVICE, SHIPPED_RULES, load_rules
from rules.schema import SEVERITIES
from rules.silences import SHIPPED_SILENCES, SILENCES_NAME, load_presets, presets_for, presets_path

DEMO_ATHLETE = "demo-runner"


def cmd_init(args: argparse.Namespace) -> int:
    folder = Path(args.dir or ".")
    folder.mkdir(parents=True, exist_ok=True)
    for source, name in ((EXAMPLE_CONFIG, DEFAULT_CONFIG_NAME), (SHIPPED_RULES, "rules.yaml"),
                         (SHIPPED_ADVICE, "advice.yaml"), (SHIPPED_SILENCES, SILENCES_NAME)):
        target = folder / name
        if target.exists():
            print(f"kept existing {target}")
        else:
            shutil.copyfile(source, target)
            print(f"wrote {target}")
    config = load_service_config(folder / DEFAULT_CONFIG_NAME)
    for path in (config.inbox, config.archive, config.quarantine, config.mail_dir):
        path.mkdir(parents=True, exist_ok=True)
    print(f"drop FIT files into {config.inbox}/<athlete-id>/ and run: "
          f"strideguard --config {folder / DEFAULT_CONFIG_NAME} run")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Every problem in the config, its rules and the silence presets beside them,
    `file:line:col: path: problem`, then exit 2."""
    errors: list[str] = []
    config = None
    try:
        config, _path = load_config(args.config)
    except ConfigError as exc:
        errors.extend(exc.errors)
    if config is not None:
        errors.extend(push_url_problems(config, _path))  # Apprise is loaded only if URLs are set
        rule_paths, rule_ids = list(config.rules), None
        try:
            rule_set = load_rules(rule_paths or None, channel_kinds=channel_kinds())
            rule_ids = [rule.id for rule in rule_set.rules]
        except ConfigError as exc:
            errors.extend(exc.errors)
        try:  # with unusable rules, the presets file on its own
            if rule_ids is None:
                load_presets(presets_path(rule_paths))
            else:
                presets_for(rule_paths, rule_ids)
        except ConfigError as exc:
            errors.extend(exc.errors)
    if errors or config is None:
        print("\n".join(errors), file=sys.stderr)
        return EXIT_CONFIG
    rules_files = ", ".join(str(p) for p in config.rules) or f"{SHIPPED_RULES} (shipped)"
    print(f"config ok: database {redact_url(config.database)}, inbox {config.inbox}, "
          f"rules {rules_files}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """A ten-week synthetic history ending in a long-run spike, one cycle, and the alert mail."""
    from fitwriter.synthetic import demo_plan, write_plan
    from metrics.history import local_date_of
    from store.queries import list_alerts
    from wiring import open_app, run_cycle

    folder = Path(args.dir or "strideguard-demo").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / DEFAULT_CONFIG_NAME
    if not config_file.exists():
        shutil.copyfile(DEMO_CONFIG, config_file)
    with open_app(str(config_file)) as app:
        inbox = app.config.inbox / DEMO_ATHLETE
        today = local_date_of(datetime.now(UTC), app.config.timezone)
        written = write_plan(demo_plan(today), inbox)
        print(f"wrote {len(written)} FIT files (ten weeks, last run a long-run spike) to {inbox}")
        run_cycle(app)
        with app.store.session() as session:
            alerts = list_alerts(session, DEMO_ATHLETE)
    mails = sorted(app.config.mail_dir.glob("*.eml"))
    if not alerts:
        print("no alert fired (was the demo already run here? see `strideguard alerts`)")
        return 0
    ranked = sorted(alerts, key=lambda a: SEVERITIES.index(a.severity), reverse=True)
    for alert in ranked:
        print(f"\nALERT {alert.severity.upper()} {alert.rule_id}: {alert.payload['summary']}")
    print(f"\n{len(mails)} email(s) in {app.config.mail_dir} (open them in any mail client).")
    shown = next((m for m in mails if ranked[0].alert_id.encode() in m.read_bytes()), None)
    if shown is not None:
        message = message_from_bytes(shown.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(f"\n{shown.name}\nSubject: {message['Subject']}\n\n"
              f"{body.get_content() if body else ''}")  # type: ignore[attr-defined]
    year, week, _ = today.isocalendar()
    print(f"try: strideguard --config {config_file} report\n"
          f"     strideguard --config {config_file} digest --week {year}-W{week:02d} "
          f"--out {folder / 'digest-preview'}\n"
          "     (the weekly digest of this week so far, as HTML to open in a browser)")
    return 0
