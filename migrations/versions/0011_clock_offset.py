"""Upload attempts keep the province's clock offset measured from the reply's Date header

Revision ID: 0011_clock_offset
Revises: 0010_filing_decision
"""
from alembic import op
import sqlalchemy as sa


revision = "0011_clock_offset"
down_revision = "0010_filing_decision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_attempts") as batch:
        batch.add_column(sa.Column("clock_offset_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_attempts") as batch:
        batch.drop_column("clock_offset_seconds")
