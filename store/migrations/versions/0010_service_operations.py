"""Running it as a service: `evaluation_claims` (each athlete evaluated once per trigger across
processes), `workers` (what each `strideguard run` last did, for `status`),
`notification_tests` (what `test-notify` sent) and `file_outcomes` (what became of each file)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_claims",
        sa.Column("trigger", sa.String(length=120), nullable=False),
        sa.Column("athlete_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("trigger", "athlete_id", name=op.f("pk_evaluation_claims")),
    )
    op.create_index("ix_evaluation_claims_open", "evaluation_claims", ["trigger", "done_at"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_scan_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_evaluation_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_dispatch_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "notification_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=80), nullable=False),
        sa.Column("athlete_id", sa.String(length=64), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=200), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_tests")),
    )
    op.create_table(
        "file_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("athlete_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("problem", sa.String(length=40), nullable=True),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_outcomes")),
    )
    op.create_index(op.f("ix_file_outcomes_at"), "file_outcomes", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_file_outcomes_at"), table_name="file_outcomes")
    op.drop_table("file_outcomes")
    op.drop_table("notification_tests")
    op.drop_table("workers")
    op.drop_index("ix_evaluation_claims_open", table_name="evaluation_claims")
    op.drop_table("evaluation_claims")
