"""The electronic filing path: deliveries of the 申请表 to the province, the province's decision number
and signed-body hash on a decision, and the sandbox province's books of applications.

Revision ID: 0012_filing_exchange
Revises: 0011_clock_offset
"""
from alembic import op
import sqlalchemy as sa


revision = "0012_filing_exchange"
down_revision = "0011_clock_offset"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "filing_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["filed_apps.id"], name=op.f("fk_filing_deliveries_app_id_filed_apps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filing_deliveries")),
    )
    op.create_index(op.f("ix_filing_deliveries_app_id"), "filing_deliveries", ["app_id"])
    op.create_index(op.f("ix_filing_deliveries_state"), "filing_deliveries", ["state"])
    with op.batch_alter_table("filing_decisions") as batch:
        batch.add_column(sa.Column("province_decision_no", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("signed_body_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "sandbox_province_filings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cd_source", sa.String(length=12), nullable=False),
        sa.Column("city_filing_id", sa.Integer(), nullable=False),
        sa.Column("city_delivery_id", sa.Integer(), nullable=True),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("decision_no", sa.String(length=64), nullable=True),
        sa.Column("app_filing_no", sa.String(length=20), nullable=True),
        sa.Column("access_code", sa.String(length=20), nullable=True),
        sa.Column("opinion", sa.Text(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("city_reply", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_province_filings")),
        sa.UniqueConstraint("decision_no", name=op.f("uq_sandbox_province_filings_decision_no")),
        sa.UniqueConstraint("app_filing_no", name=op.f("uq_sandbox_province_filings_app_filing_no")),
        sa.UniqueConstraint("access_code", name=op.f("uq_sandbox_province_filings_access_code")),
    )
    op.create_index(op.f("ix_sandbox_province_filings_cd_source"), "sandbox_province_filings", ["cd_source"])
    op.create_index(op.f("ix_sandbox_province_filings_city_filing_id"), "sandbox_province_filings",
                    ["city_filing_id"])
    op.create_index(op.f("ix_sandbox_province_filings_city_delivery_id"), "sandbox_province_filings",
                    ["city_delivery_id"])
    op.create_index(op.f("ix_sandbox_province_filings_status"), "sandbox_province_filings", ["status"])


def downgrade() -> None:
    op.drop_table("sandbox_province_filings")
    with op.batch_alter_table("filing_decisions") as batch:
        batch.drop_column("signed_body_sha256")
        batch.drop_column("province_decision_no")
    op.drop_table("filing_deliveries")
