"""Silences: rules muted for an athlete for a while (`silences`), and the silence that held an
alert back (`alerts.silence_id`)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("athlete_id", sa.String(length=64), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("preset", sa.String(length=40), nullable=True),
        sa.Column("starts_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ending_notice_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["athlete_id"], ["athletes.id"],
                                name=op.f("fk_silences_athlete_id_athletes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index(op.f("ix_silences_athlete_id"), "silences", ["athlete_id"])
    if op.get_bind().dialect.name == "sqlite":
        # in place: SQLite adds a column with an inline REFERENCES (default NULL) but cannot
        # add a constraint afterwards, and a table copy of alerts is refused while rows refer
        # to it with foreign keys on
        op.execute("ALTER TABLE alerts ADD COLUMN silence_id VARCHAR(36) "
                   "CONSTRAINT fk_alerts_silence_id_silences REFERENCES silences (id)")
    else:
        op.add_column("alerts", sa.Column("silence_id", sa.String(length=36), nullable=True))
        op.create_foreign_key(op.f("fk_alerts_silence_id_silences"), "alerts", "silences",
                              ["silence_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("silence_id")
    op.drop_index(op.f("ix_silences_athlete_id"), table_name="silences")
    op.drop_table("silences")
