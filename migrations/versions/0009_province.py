"""The province's verification (验码): single-use request nonces, and the province terminal in the
scan audit and scan claims

Revision ID: 0009_province
Revises: 0008_keys
"""
from alembic import op
import sqlalchemy as sa


revision = "0009_province"
down_revision = "0008_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "province_verify_nonces",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_province_verify_nonces")),
    )
    op.create_index(op.f("ix_province_verify_nonces_seen_at"), "province_verify_nonces", ["seen_at"])
    with op.batch_alter_table("scan_events") as batch:
        batch.add_column(sa.Column("terminal", sa.String(length=64), nullable=True))
    with op.batch_alter_table("scan_token_claims") as batch:
        batch.add_column(sa.Column("terminal", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_token_claims") as batch:
        batch.drop_column("terminal")
    with op.batch_alter_table("scan_events") as batch:
        batch.drop_column("terminal")
    op.drop_index(op.f("ix_province_verify_nonces_seen_at"), table_name="province_verify_nonces")
    op.drop_table("province_verify_nonces")
