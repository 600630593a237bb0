"""The journal (`journal_entries`: pain 0-10 with an area, and notes, per local day) and how a
run felt (`activities.feel`, FIT workout_feel)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("athlete_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("area", sa.String(length=20), nullable=True),
        sa.Column("pain", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_file_id", sa.Integer(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["athlete_id"], ["athletes.id"],
                                name=op.f("fk_journal_entries_athlete_id_athletes")),
        sa.ForeignKeyConstraint(["source_file_id"], ["source_files.id"],
                                name=op.f("fk_journal_entries_source_file_id_source_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
    )
    op.create_index("ix_journal_entries_athlete_day", "journal_entries", ["athlete_id", "day"])
    with op.batch_alter_table("activities", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("feel", sa.Float(), nullable=True))
    # FIT workout_rpe 0 means "not rated" (research/science-addendum.md §3): it is no longer
    # read as an effort of 0, so session-RPE load does not count it as a rest
    op.execute("UPDATE activities SET rpe = NULL WHERE rpe = 0")


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("feel")
    op.drop_index("ix_journal_entries_athlete_day", table_name="journal_entries")
    op.drop_table("journal_entries")
