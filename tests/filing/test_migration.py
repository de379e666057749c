"""The migration to province decisions, on a database holding a filing the city approved at 0009:
its numbers become a decision marked "migrated", and the app keeps launching with its secret."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask import request

from erhc_h5 import migrate
from erhc_h5.db import get_db
from erhc_h5.filing.models import FiledApp, FilingDecision
from erhc_h5.resident.launch import make_launch_url, verify_launch
from erhc_h5.security.pii import EncryptedText
from tests.support import drop_database, make_app, new_database_url

SECRET = "f" * 64
REVIEWED = dt.datetime(2026, 11, 30, 17, 30)  # naive UTC: 2026-12-01 01:30 in Beijing


def _filed_apps_at_0009() -> sa.Table:
    text_columns = ("app_name", "app_filing_no", "org_name", "org_filing_no", "builder_unit", "builder_contact",
                    "developer_unit", "developer_contact", "auth_methods", "review_opinion", "status",
                    "access_code", "allowed_origins")
    return sa.Table("filed_apps", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                    *(sa.Column(c, sa.Text) for c in text_columns), sa.Column("ui_design_files", sa.JSON),
                    sa.Column("launch_secret", EncryptedText), sa.Column("created_at", sa.DateTime),
                    sa.Column("submitted_at", sa.DateTime), sa.Column("reviewed_at", sa.DateTime),
                    sa.Column("secret_version", sa.Integer))


def _row(n: int, status: str, access_code: str | None, filing_no: str) -> dict:
    return {"id": n, "app_name": f"旧App{n}", "app_filing_no": filing_no, "org_name": "某卫健委",
            "org_filing_no": "ORG-1", "builder_unit": "某单位", "builder_contact": "张三 0571-1",
            "developer_unit": "某公司", "developer_contact": "李四 0571-2", "auth_methods": "1^2",
            "review_opinion": "同意备案,请按规范接入", "status": status, "access_code": access_code,
            "allowed_origins": "", "ui_design_files": [], "launch_secret": SECRET if access_code else None,
            "created_at": REVIEWED - dt.timedelta(days=3), "submitted_at": REVIEWED - dt.timedelta(days=2),
            "reviewed_at": REVIEWED if access_code else None, "secret_version": 1 if access_code else 0}


@pytest.fixture
def app_at_0009(tmp_path):
    url = new_database_url(tmp_path, prefix="erhc_mig")
    app = make_app(url)
    migrate.upgrade(app, "0009_province")
    with app.app_context(), get_db(app).engine.begin() as conn:
        conn.execute(_filed_apps_at_0009().insert(), [
            _row(1, "approved", "330100000001", "OLD-APP-1"), _row(2, "suspended", "330100000002", "OLD-APP-2"),
            _row(3, "submitted", None, "OLD-APP-3")])
        conn.execute(sa.text("INSERT INTO access_code_counters (prefix, last) VALUES ('330100', 2)"))
        # a row that refers to a filing: SQLite's table rebuild must not break it
        conn.execute(sa.text("INSERT INTO launch_nonces (app_id, nonce, seen_at) VALUES (1, :n, :t)"),
                     {"n": "a" * 32, "t": REVIEWED})
    yield app
    get_db(app).engine.dispose()
    drop_database(url)


def test_city_approved_filings_become_migrated_decisions(app_at_0009):
    app = app_at_0009
    migrate.upgrade(app)
    assert migrate.at_head(app)
    with app.app_context():
        session = get_db(app).factory()
        decisions = {d.app_id: d for d in session.scalars(sa.select(FilingDecision))}
        assert set(decisions) == {1, 2}
        first = decisions[1]
        assert (first.outcome, first.source, first.app_filing_no, first.access_code) == (
            "approved", "migrated", "OLD-APP-1", "330100000001")
        assert first.opinion == "同意备案,请按规范接入" and first.decided_on == dt.date(2026, 12, 1)
        approved, suspended, submitted = (session.get(FiledApp, n) for n in (1, 2, 3))
        assert approved.province_decided_on == dt.date(2026, 12, 1) and approved.can_launch
        assert suspended.status == "suspended" and not suspended.can_launch
        assert submitted.status == "submitted" and submitted.province_decided_on is None
        assert "access_code_counters" not in sa.inspect(session.get_bind()).get_table_names()
        url = make_launch_url("OLD-APP-1", "old-user", SECRET)
        with app.test_request_context(url):
            launch = verify_launch(session, request.args, max_skew=300)
        assert launch.app.id == 1
        session.rollback()
        session.close()


def test_downgrade_keeps_the_numbers(app_at_0009):
    app = app_at_0009
    migrate.upgrade(app)
    from alembic import command

    migrate.run(app, lambda cfg: command.downgrade(cfg, "0009_province"))
    with get_db(app).engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, status, access_code FROM filed_apps ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1, "approved", "330100000001"), (2, "suspended", "330100000002"),
                                        (3, "submitted", None)]
