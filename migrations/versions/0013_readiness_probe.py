"""The readiness probe's table: emptied and written by every probe, so a full disk is seen

Revision ID: 0013_readiness_probe
Revises: 0012_filing_exchange
"""
from alembic import op
import sqlalchemy as sa


revision = "0013_readiness_probe"
down_revision = "0012_filing_exchange"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "readiness_probes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("readiness_probes")
