"""sync: recorded attempts of outbound calls

Revision ID: 0007_sync
Revises: 0006_ops
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0007_sync"
down_revision = "0006_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
