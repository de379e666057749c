"""resident: person key, provisional links, atomic counters, one check at a time, cancellation

Revision ID: 0004_resident
Revises: 0003_merge
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_resident"
down_revision = "0003_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_counters")),
    )
    op.create_index(op.f("ix_rate_counters_window_start"), "rate_counters", ["window_start"])
    with op.batch_alter_table("app_users") as batch:
        batch.add_column(sa.Column("card_link", sa.String(length=12), nullable=True))
    # Links made before this rule came from passed checks or from refuted ones; only the
    # authenticated cards' links are kept as verified, the rest end (the refuted ones were the bug).
    op.execute(
        "UPDATE app_users SET card_link = 'verified' WHERE card_id IN "
        "(SELECT id FROM ehealth_cards WHERE recognize_flag = 1)"
    )
    op.execute("UPDATE app_users SET card_id = NULL WHERE card_link IS NULL")
    with op.batch_alter_table("verification_sessions") as batch:
        batch.add_column(sa.Column("check_started_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("ehealth_cards") as batch:
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ehealth_cards") as batch:
        batch.drop_column("cancelled_at")
    with op.batch_alter_table("verification_sessions") as batch:
        batch.drop_column("check_started_at")
    with op.batch_alter_table("app_users") as batch:
        batch.drop_column("card_link")
    op.drop_index(op.f("ix_rate_counters_window_start"), table_name="rate_counters")
    op.drop_table("rate_counters")
