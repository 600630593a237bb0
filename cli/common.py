"""What several commands share: reading a day argument, finding a rule, printing a table or CSV."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from config import ConfigError
from rules.loader import RuleSet
from rules.schema import Rule


def parse_day(text: str | None, option: str = "--as-of") -> date | None:
    """A YYYY-MM-DD argument, or None when it was not given."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError as exc:
        raise ValueError(f"{option}: expected a date YYYY-MM-DD, got {text!r} ({exc})") from exc


def rule_or_error(rules: RuleSet, rule_id: str) -> Rule:
    rule = rules.rule(rule_id)
    if rule is None:
        raise ConfigError(f"no rule {rule_id!r}; the rules are: "
                          f"{', '.join(r.id for r in rules.rules)}")
    return rule


def thresholds_text(rule: Rule, overrides: dict[str, Any] | None) -> str:
    return ", ".join(f"{severity} {condition}"
                     for severity, condition in rule.thresholds(overrides).items())


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A rich table on stdout (rich is imported only by commands that print one)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def csv_cell(value: Any) -> str:
    """A JSON value as a CSV cell: null empty, a list joined by "; ", a float as Python writes
    it (it reads back to the very same number), anything else as text."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(csv_cell(each) for each in value)
    return str(value)


def print_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """A header row, then one row per mapping (its values in `columns` order), on stdout."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
