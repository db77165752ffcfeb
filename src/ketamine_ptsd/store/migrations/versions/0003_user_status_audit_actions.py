"""Users can be disabled; audit actions up to 20 characters (sign-in failures, reads,
unlocks, downgrades are logged with their own action names).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("action", existing_type=sa.String(10), type_=sa.String(20), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("action", existing_type=sa.String(20), type_=sa.String(10), existing_nullable=False)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled")
