"""Source folders other tools own (`source_folder_files`: each file read once, by path, size,
mtime and SHA-256), and each source file's format (`source_files.format`: fit, tcx, gpx, csv)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_folder_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("athlete_id", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stored_path", sa.Text(), nullable=True),
        sa.Column("first_seen_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["athlete_id"], ["athletes.id"],
                                name=op.f("fk_source_folder_files_athlete_id_athletes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_folder_files")),
        sa.UniqueConstraint("path", name=op.f("uq_source_folder_files_path")),
    )
    with op.batch_alter_table("source_files", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("format", sa.String(length=8), nullable=False,
                                      server_default="fit"))
    # journals were the one non-FIT file so far; their decoder is "csv"
    op.execute("UPDATE source_files SET format = 'csv' WHERE decoder = 'csv'")


def downgrade() -> None:
    with op.batch_alter_table("source_files", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("format")
    op.drop_table("source_folder_files")
