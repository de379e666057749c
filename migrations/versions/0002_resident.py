"""resident journey: counted verification events (failures, SMS sends) for the limits

Revision ID: 0002_resident
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002_resident"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=True),
        sa.Column("phone_bidx", sa.String(length=64), nullable=True),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_events")),
    )
    with op.batch_alter_table("verification_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verification_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_verification_events_phone_bidx"), ["phone_bidx"], unique=False)
        batch_op.create_index(batch_op.f("ix_verification_events_subject_hash"), ["subject_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("verification_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_events_subject_hash"))
        batch_op.drop_index(batch_op.f("ix_verification_events_phone_bidx"))
        batch_op.drop_index(batch_op.f("ix_verification_events_at"))
    op.drop_table("verification_events")
