"""Code-signing keys that can be revoked, and the revocation counter every worker checks

Revision ID: 0008_keys
Revises: 0007_presence
"""
from alembic import op
import sqlalchemy as sa


revision = "0008_keys"
down_revision = "0007_presence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("code_signing_keys") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
    counter = op.create_table(
        "revocation_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_counter")),
    )
    op.bulk_insert(counter, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("revocation_counter")
    with op.batch_alter_table("code_signing_keys") as batch:
        batch.drop_column("revoked_at")
