"""Assurance levels: what each card's verifications proved, and at which level each account is linked

Revision ID: 0005_assurance
Revises: 0004_integrity
"""
from alembic import op
import sqlalchemy as sa


revision = "0005_assurance"
down_revision = "0004_integrity"
branch_labels = None
depends_on = None

# The level of a method code (two-factor 1, three-factor 2, face 3, on-site 4), written as SQL over
# the card's canonical method string ('1', '2^3', '3^4' …): the highest method it holds.
_LEVEL_OF_METHODS = """CASE
    WHEN {col} LIKE '%4%' THEN 4 WHEN {col} LIKE '%3%' THEN 3
    WHEN {col} LIKE '%2%' THEN 2 WHEN {col} LIKE '%1%' THEN 1 ELSE 0 END"""


def upgrade() -> None:
    with op.batch_alter_table("ehealth_cards") as batch:
        batch.add_column(sa.Column("assurance_level", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("phone_level", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("profile_level", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("app_users") as batch:
        batch.add_column(sa.Column("link_level", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "link_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("app_user_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["ehealth_cards.id"], name=op.f("fk_link_notices_card_id_ehealth_cards")),
        sa.ForeignKeyConstraint(["app_user_id"], ["app_users.id"], name=op.f("fk_link_notices_app_user_id_app_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_notices")),
    )
    op.create_index(op.f("ix_link_notices_card_id"), "link_notices", ["card_id"])
    op.create_index(op.f("ix_link_notices_state"), "link_notices", ["state"])
    op.create_index(op.f("ix_link_notices_created_at"), "link_notices", ["created_at"])
    level = _LEVEL_OF_METHODS.format(col="authentication_method")
    # Cards authenticated before levels existed: the level their methods prove. A phone proven by an
    # SMS code is what method 2 means; the profile was supplied by the check that set the level.
    op.execute(f"UPDATE ehealth_cards SET assurance_level = {level}, profile_level = {level} "
               "WHERE recognize_flag = 1")
    op.execute("UPDATE ehealth_cards SET phone_level = 2 WHERE recognize_flag = 1 "
               "AND authentication_method LIKE '%2%'")
    op.execute("UPDATE app_users SET link_level = (SELECT c.assurance_level FROM ehealth_cards c "
               "WHERE c.id = app_users.card_id) WHERE card_link = 'verified' AND card_id IS NOT NULL")


def downgrade() -> None:
    op.drop_table("link_notices")
    with op.batch_alter_table("app_users") as batch:
        batch.drop_column("link_level")
    with op.batch_alter_table("ehealth_cards") as batch:
        batch.drop_column("profile_level")
        batch.drop_column("phone_level")
        batch.drop_column("assurance_level")
