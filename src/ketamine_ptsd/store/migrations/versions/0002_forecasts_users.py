"""Maintenance booking on courses (fixed interval or forecast), stored forecasts, and the
users of the web app.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-15
"""

import sqlalchemy as sa
from alembic import op

from ketamine_ptsd.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("maintenance_rule", sa.String(10), nullable=True))
        batch.add_column(sa.Column("maintenance_every_days", sa.Float(), nullable=True))
        batch.add_column(sa.Column("maintenance_due_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("maintenance_reason", sa.Text(), nullable=True))
        batch.create_check_constraint(
            "maintenance_rule", "maintenance_rule IS NULL OR maintenance_rule IN ('interval', 'forecast')")
    op.create_table(
        "forecasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("first_dose_at", UTCDateTime(), nullable=False),
        sa.Column("horizon_days", sa.Float(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_forecasts_course_id_courses")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_forecasts_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecasts")),
    )
    op.create_index(op.f("ix_forecasts_patient_id"), "forecasts", ["patient_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'clinician', 'readonly')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_index(op.f("ix_forecasts_patient_id"), table_name="forecasts")
    op.drop_table("forecasts")
    with op.batch_alter_table("courses") as batch:
        batch.drop_constraint(op.f("ck_courses_maintenance_rule"), type_="check")
        batch.drop_column("maintenance_reason")
        batch.drop_column("maintenance_due_on")
        batch.drop_column("maintenance_every_days")
        batch.drop_column("maintenance_rule")
