"""staff and filing: session versions, four eyes, atomic one-time steps

Revision ID: 0005_staff
Revises: 0004_resident
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0005_staff"
down_revision = "0004_resident"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
