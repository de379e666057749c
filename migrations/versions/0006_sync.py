"""sync: recorded attempts of outbound calls carry a transport detail beside their reason code

Revision ID: 0007_sync
Revises: 0006_ops
"""
from alembic import op
import sqlalchemy as sa


revision = "0007_sync"
down_revision = "0006_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sync_attempts", schema=None) as batch_op:
        batch_op.drop_column("detail")
