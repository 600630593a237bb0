"""The weekly digest: its ledger (`digests`, unique per kind, athlete and week), the alerts each
digest listed, alerts routed to the digest (`alerts.deliver`) and when they last escalated
(`alerts.escalated_at`), and digest rows in the outbox (`outbox.alert_id` may be empty,
`outbox.digest_id`)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("athlete_key", sa.String(length=64), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("kind", "athlete_key", "week",
                            name=op.f("uq_digests_kind_athlete_key_week")),
    )
    op.create_table(
        "digest_alerts",
        sa.Column("digest_id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["digest_id"], ["digests.id"], ondelete="CASCADE",
                                name=op.f("fk_digest_alerts_digest_id_digests")),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"],
                                name=op.f("fk_digest_alerts_alert_id_alerts")),
        sa.PrimaryKeyConstraint("digest_id", "alert_id", name=op.f("pk_digest_alerts")),
    )
    op.create_index(op.f("ix_digest_alerts_alert_id"), "digest_alerts", ["alert_id"])
    op.create_index("ix_alerts_athlete_fired", "alerts", ["athlete_id", "fired_at"])
    # an added column with a constant default is an in-place ALTER on both backends
    with op.batch_alter_table("alerts", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("deliver", sa.String(length=16), nullable=False,
                                      server_default="immediate"))
        batch_op.add_column(sa.Column("escalated_at", store.models.UTCDateTime(timezone=True),
                                      nullable=True))
    # a NOT NULL that goes away needs SQLite's table copy: nothing refers to outbox rows, so
    # the copy may replace the table while foreign keys are on
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("alert_id", existing_type=sa.String(length=36), nullable=True)
        batch_op.add_column(sa.Column("digest_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(op.f("fk_outbox_digest_id_digests"), "digests",
                                    ["digest_id"], ["id"])
        batch_op.create_index(op.f("ix_outbox_digest_id"), ["digest_id"])


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE alert_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_outbox_digest_id"))
        batch_op.drop_constraint(op.f("fk_outbox_digest_id_digests"), type_="foreignkey")
        batch_op.drop_column("digest_id")
        batch_op.alter_column("alert_id", existing_type=sa.String(length=36), nullable=False)
    with op.batch_alter_table("alerts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("escalated_at")
        batch_op.drop_column("deliver")
    op.drop_index("ix_alerts_athlete_fired", table_name="alerts")
    op.drop_index(op.f("ix_digest_alerts_alert_id"), table_name="digest_alerts")
    op.drop_table("digest_alerts")
    op.drop_table("digests")
