"""The Jinja2 environment of the shipped email templates (config/templates/), for every room that
renders one: strict undefined variables, HTML autoescaped, built on first use."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@cache
def email_templates(trim_blocks: bool = False) -> Environment:
    """The environment over config/templates/; `trim_blocks` also strips the whitespace around
    block tags (the digest templates, which loop a lot, are written for it)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
        trim_blocks=trim_blocks,
        lstrip_blocks=trim_blocks,
        keep_trailing_newline=True,
    )
