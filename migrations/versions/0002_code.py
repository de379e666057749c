"""code: opaque per-card references carried by dynamic health codes

Revision ID: 0002_code
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002_code"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_card_refs",
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["ehealth_cards.id"], name=op.f("fk_code_card_refs_card_id_ehealth_cards")),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_code_card_refs")),
        sa.UniqueConstraint("ref", name=op.f("uq_code_card_refs_ref")),
    )


def downgrade() -> None:
    op.drop_table("code_card_refs")
