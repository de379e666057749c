"""The integrity release: person key and provisional links, atomic limits and one-time steps,
staff session versions and four eyes, scan claims, card cancellation, upload attempt details

Revision ID: 0004_integrity
Revises: 0003_merge
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_integrity"
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
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("filed_apps") as batch:
        batch.add_column(sa.Column("submitted_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_filed_apps_submitted_by_id_staff_users"), "staff_users",
                                 ["submitted_by_id"], ["id"])
    op.create_table(
        "access_code_counters",
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_access_code_counters")),
    )
    op.create_table(
        "scan_token_claims",
        sa.Column("token_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_fingerprint", name=op.f("pk_scan_token_claims")),
    )
    op.create_index(op.f("ix_scan_token_claims_at"), "scan_token_claims", ["at"])
    with op.batch_alter_table("sync_attempts") as batch:
        batch.add_column(sa.Column("detail", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sync_attempts") as batch:
        batch.drop_column("detail")
    op.drop_index(op.f("ix_scan_token_claims_at"), table_name="scan_token_claims")
    op.drop_table("scan_token_claims")
    op.drop_table("access_code_counters")
    with op.batch_alter_table("filed_apps") as batch:
        batch.drop_constraint(op.f("fk_filed_apps_submitted_by_id_staff_users"), type_="foreignkey")
        batch.drop_column("submitted_by_id")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("session_version")
    with op.batch_alter_table("ehealth_cards") as batch:
        batch.drop_column("cancelled_at")
    with op.batch_alter_table("verification_sessions") as batch:
        batch.drop_column("check_started_at")
    with op.batch_alter_table("app_users") as batch:
        batch.drop_column("card_link")
    op.drop_index(op.f("ix_rate_counters_window_start"), table_name="rate_counters")
    op.drop_table("rate_counters")
