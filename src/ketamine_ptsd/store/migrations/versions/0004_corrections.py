"""Corrections: readings, sessions and assessments can be withdrawn (kept, marked) and
corrected, each with a reason in the corrections table; a patient's name may be marked as
a pseudonym.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from ketamine_ptsd.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("vitals", "sessions", "assessments"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("withdrawn_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("pseudonym", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(20), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("old_values", sa.JSON(), nullable=False),
        sa.Column("new_values", sa.JSON(), nullable=True),
        sa.CheckConstraint("table_name IN ('vitals', 'sessions', 'assessments')",
                           name=op.f("ck_corrections_table_name")),
        sa.CheckConstraint("kind IN ('correct', 'withdraw')", name=op.f("ck_corrections_kind")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_corrections_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index(op.f("ix_corrections_patient_id"), "corrections", ["patient_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_corrections_patient_id"), table_name="corrections")
    op.drop_table("corrections")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("pseudonym")
    for table in ("assessments", "sessions", "vitals"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("withdrawn_at")
