"""Stored alert payloads say `warn`, the rules' word, instead of `warning`

One severity vocabulary (info, warn, critical) everywhere: payloads rendered before it are
rewritten, so a later `alert.resolved` webhook or listing built from them says `warn` too.
Notifications already rendered into the outbox keep their bytes (a retry resends what was
promised).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ALERTS = sa.table("alerts", sa.column("id", sa.String), sa.column("severity", sa.String),
                   sa.column("payload", sa.JSON))


def _rewrite_payload_severity(old: str, new: str) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_ALERTS.c.id, _ALERTS.c.payload)
                        .where(_ALERTS.c.severity == "warn")).all()
    for alert_id, payload in rows:
        if isinstance(payload, dict) and payload.get("severity") == old:
            bind.execute(_ALERTS.update().where(_ALERTS.c.id == alert_id)
                         .values(payload={**payload, "severity": new}))


def upgrade() -> None:
    _rewrite_payload_severity("warning", "warn")


def downgrade() -> None:
    _rewrite_payload_severity("warn", "warning")
