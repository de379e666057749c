"""resident: person key, provisional links, verification draft (binding rules)

Revision ID: 0004_resident
Revises: 0003_merge
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "0004_resident"
down_revision = "0003_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
