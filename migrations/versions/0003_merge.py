"""Merge the code and resident branches into one head.

Revision ID: 0003_merge
Revises: 0002_code, 0002_resident
Create Date: 2026-11-25
"""

revision = "0003_merge"
down_revision = ("0002_code", "0002_resident")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
