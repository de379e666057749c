"""The province decides filings: recorded decisions, the decision date on the app, an optional
应用备案号 before approval, and no more city-made access codes. Filings the city approved itself keep
working: their numbers become a decision marked "migrated", dated the day of the city's review.

Revision ID: 0010_filing_decision
Revises: 0009_province
"""
from alembic import op
import sqlalchemy as sa


revision = "0010_filing_decision"
down_revision = "0009_province"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "filing_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("app_filing_no", sa.String(length=20), nullable=True),
        sa.Column("access_code", sa.String(length=20), nullable=True),
        sa.Column("opinion", sa.Text(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("form_file", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["filed_apps.id"], name=op.f("fk_filing_decisions_app_id_filed_apps")),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["staff_users.id"],
                                name=op.f("fk_filing_decisions_recorded_by_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filing_decisions")),
    )
    op.create_index(op.f("ix_filing_decisions_app_id"), "filing_decisions", ["app_id"])
    with op.batch_alter_table("filed_apps") as batch:
        batch.add_column(sa.Column("province_decided_on", sa.Date(), nullable=True))
        batch.alter_column("app_filing_no", existing_type=sa.String(length=20), nullable=True)
    _migrate_city_approvals()
    op.drop_table("access_code_counters")


def _migrate_city_approvals() -> None:
    """Every filing the city approved (approved or suspended since) gets its numbers as a decision."""
    conn = op.get_bind()
    apps = sa.table("filed_apps", sa.column("id", sa.Integer), sa.column("status", sa.String),
                    sa.column("app_filing_no", sa.String), sa.column("access_code", sa.String),
                    sa.column("review_opinion", sa.Text), sa.column("reviewed_at", sa.DateTime),
                    sa.column("submitted_at", sa.DateTime), sa.column("created_at", sa.DateTime),
                    sa.column("province_decided_on", sa.Date))
    decisions = sa.table("filing_decisions", sa.column("app_id", sa.Integer), sa.column("outcome", sa.String),
                         sa.column("app_filing_no", sa.String), sa.column("access_code", sa.String),
                         sa.column("opinion", sa.Text), sa.column("decided_on", sa.Date),
                         sa.column("source", sa.String), sa.column("recorded_at", sa.DateTime))
    rows = conn.execute(sa.select(apps).where(apps.c.status.in_(("approved", "suspended")),
                                              apps.c.access_code.is_not(None))).mappings().all()
    for row in rows:
        when = row["reviewed_at"] or row["submitted_at"] or row["created_at"]
        day = _beijing_day(when)
        conn.execute(decisions.insert().values(
            app_id=row["id"], outcome="approved", app_filing_no=row["app_filing_no"],
            access_code=row["access_code"], opinion=row["review_opinion"] or "同意备案", decided_on=day,
            source="migrated", recorded_at=when))
        conn.execute(apps.update().where(apps.c.id == row["id"]).values(province_decided_on=day))


def _beijing_day(moment):
    """The Beijing calendar day of a naive-UTC moment (reviews are stored in UTC)."""
    import datetime as dt

    return (moment.replace(tzinfo=dt.UTC) + dt.timedelta(hours=8)).date()


def downgrade() -> None:
    op.create_table(
        "access_code_counters",
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_access_code_counters")),
    )
    conn = op.get_bind()
    # a filing with no number yet cannot go back to a schema where the number is required
    conn.execute(sa.text("UPDATE filed_apps SET app_filing_no = 'PENDING-' || CAST(id AS VARCHAR(10)) "
                         "WHERE app_filing_no IS NULL"))
    conn.execute(sa.text("UPDATE filed_apps SET status = 'submitted' WHERE status = 'province_pending'"))
    op.drop_index(op.f("ix_filing_decisions_app_id"), table_name="filing_decisions")
    op.drop_table("filing_decisions")
    with op.batch_alter_table("filed_apps") as batch:
        batch.alter_column("app_filing_no", existing_type=sa.String(length=20), nullable=False)
        batch.drop_column("province_decided_on")
