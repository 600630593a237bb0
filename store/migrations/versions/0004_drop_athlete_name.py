"""athletes.name is gone: it was never written (names live in the config)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # in place (ALTER TABLE ... DROP COLUMN, SQLite 3.35+): a batch copy would drop the old
    # table, which the rows referring to athletes forbid while foreign keys are on (they are,
    # and cannot be switched off inside the migration's transaction)
    with op.batch_alter_table("athletes", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("name")


def downgrade() -> None:
    with op.batch_alter_table("athletes", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
