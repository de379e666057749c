"""Resident session versions: a relaunch, a card cancellation or an unlink ends older sessions

Revision ID: 0007_presence
Revises: 0006_staff
"""
from alembic import op
import sqlalchemy as sa


revision = "0007_presence"
down_revision = "0006_staff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("app_users") as batch:
        batch.drop_column("session_version")
