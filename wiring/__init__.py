"""One process's StrideGuard: its config, rules and store, and the two steps every command and
the worker wire together the same way: evaluate (rules, queueing through notify's outbox) and
dispatch. `cli/` and `service.py` both start from `open_app`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from types import TracebackType

from sqlalchemy.orm import Session

from config import ServiceConfig
from config.locate import load_config
from ingest import IngestOutcome, IngestSettings, ingest_inbox, settings_from_config
from notify.channel import NoticeKind
from notify.channels import channel_kinds
from notify.dispatch import dispatch_due
from notify.outbox import enqueue_alert
from rules.evaluate import EvaluationReport, evaluate
from rules.loader import RuleSet, RulesReloader, load_rules
from store import Alert, Store, open_store


@dataclass
class App:
    """The loaded config, rules and store of one process; `with` disposes of the store."""

    config: ServiceConfig
    rules_reloader: RulesReloader
    store: Store

    def __enter__(self) -> App:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.store.dispose()

    @property
    def rules(self) -> RuleSet:
        return self.rules_reloader.rule_set

    def reload_rules(self) -> bool:
        """Take edited rules files into use; a broken edit is logged and the old rules kept."""
        return self.rules_reloader.refresh()

    def ingest_settings(self) -> IngestSettings:
        return settings_from_config(self.config)

    def evaluate(self, *, as_of: date | None = None, dry_run: bool = False,
                 athlete_id: str | None = None, rule_id: str | None = None) -> EvaluationReport:
        def enqueue(session: Session, alert: Alert, kind: NoticeKind) -> None:
            enqueue_alert(session, self.config, alert, kind)

        return evaluate(self.store, self.config, self.rules, as_of=as_of, enqueue=enqueue,
                        dry_run=dry_run, athlete_id=athlete_id, rule_id=rule_id)

    def dispatch(self, *, ignore_backoff: bool = False) -> Counter[str]:
        return dispatch_due(self.store, self.config, ignore_backoff=ignore_backoff)


def open_app(config_arg: str | None) -> App:
    """Read the config (see config.locate) and its rules, and open (migrating) the store.

    Rules may name only the channels notify has: the registry's kinds are passed to the loader
    as data, so that rules never imports notify.
    """
    config, _path = load_config(config_arg)
    rule_paths = list(config.rules) or None
    kinds = channel_kinds()
    rule_set = load_rules(rule_paths, channel_kinds=kinds)
    return App(config, RulesReloader(rule_set, rule_paths, channel_kinds=kinds),
               open_store(config.database))


def run_cycle(app: App) -> list[IngestOutcome]:
    """One full cycle: scan → ingest → evaluate → deliver everything queued.

    It evaluates even without new files (a new day can fire a rule) and retries queued
    notifications whatever their backoff: whoever runs a cycle by hand wants it now.
    """
    outcomes = ingest_inbox(app.store, app.ingest_settings())
    app.evaluate()
    app.dispatch(ignore_backoff=True)
    return outcomes
