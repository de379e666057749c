"""staff and filing: session versions, four eyes, atomic one-time steps

Revision ID: 0005_staff
Revises: 0004_resident
"""
from alembic import op
import sqlalchemy as sa


revision = "0005_staff"
down_revision = "0004_resident"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("filed_apps") as batch:
        batch.add_column(sa.Column("submitted_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_filed_apps_submitted_by_id_staff_users"), "staff_users",
                                 ["submitted_by_id"], ["id"])
    op.create_table(
        "access_code_counters",
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_access_code_counters")),
    )
    op.create_table(
        "scan_token_claims",
        sa.Column("token_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_fingerprint", name=op.f("pk_scan_token_claims")),
    )
    op.create_index(op.f("ix_scan_token_claims_at"), "scan_token_claims", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_scan_token_claims_at"), table_name="scan_token_claims")
    op.drop_table("scan_token_claims")
    op.drop_table("access_code_counters")
    with op.batch_alter_table("filed_apps") as batch:
        batch.drop_constraint(op.f("fk_filed_apps_submitted_by_id_staff_users"), type_="foreignkey")
        batch.drop_column("submitted_by_id")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("session_version")
