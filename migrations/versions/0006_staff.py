"""Staff accounts: who opened each account and who last issued its password (four eyes), the
forced change after a reset, and per-username sign-in backoff

Revision ID: 0006_staff
Revises: 0005_assurance
"""
from alembic import op
import sqlalchemy as sa


revision = "0006_staff"
down_revision = "0005_assurance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("password_issued_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_foreign_key(op.f("fk_staff_users_created_by_id_staff_users"), "staff_users",
                                 ["created_by_id"], ["id"])
        batch.create_foreign_key(op.f("fk_staff_users_password_issued_by_id_staff_users"), "staff_users",
                                 ["password_issued_by_id"], ["id"])
    op.create_table(
        "staff_login_throttles",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_staff_login_throttles")),
    )
    op.create_index(op.f("ix_staff_login_throttles_updated_at"), "staff_login_throttles", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_login_throttles_updated_at"), table_name="staff_login_throttles")
    op.drop_table("staff_login_throttles")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint(op.f("fk_staff_users_password_issued_by_id_staff_users"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_staff_users_created_by_id_staff_users"), type_="foreignkey")
        batch.drop_column("must_change_password")
        batch.drop_column("password_issued_by_id")
        batch.drop_column("created_by_id")
