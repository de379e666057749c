"""ops: retention, resumable import, degraded dependencies

Revision ID: 0006_ops
Revises: 0005_staff
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0006_ops"
down_revision = "0005_staff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
