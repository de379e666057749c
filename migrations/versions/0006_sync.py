"""sync: recorded attempts of outbound calls carry a transport detail beside their reason code

Revision ID: 0006_sync
Revises: 0005_staff
"""
from alembic import op
import sqlalchemy as sa


revision = "0006_sync"
down_revision = "0005_staff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sync_attempts", schema=None) as batch_op:
        batch_op.drop_column("detail")
