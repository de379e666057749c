"""The factory, configuration, health and the contract CLI."""
from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from erhc_h5 import create_app
from erhc_h5.config import ConfigError
from erhc_h5.db import Base, get_db, import_models
from tests.support import PRODUCTION


def test_factory_defaults_are_sandbox(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert app.config["SANDBOX"] is True
    assert app.config["CD_SOURCE"] == "3301"
    assert "province" in app.blueprints


def test_env_prefix_is_read(monkeypatch, tmp_path):
    monkeypatch.setenv("ERHC_CD_SOURCE", "4401")
    monkeypatch.setenv("ERHC_SYNC_RETRY_BASE_SECONDS", "0")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert app.config["CD_SOURCE"] == 4401 or app.config["CD_SOURCE"] == "4401"
    assert app.config["SYNC_RETRY_BASE_SECONDS"] == 0


@pytest.mark.parametrize("missing", ["SECRET_KEY", "PII_KEYS", "PROVINCE_SECRET", "PROVINCE_URL", "PROVINCE_VERIFY_SECRET",
                                     "PROVIDER_APP_SECRET", "IDENTITY_PROVIDER"])
def test_production_refuses_development_secrets(missing):
    good = {**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc"}
    app = create_app(dict(good))
    assert app.config["SANDBOX"] is False
    assert "province" not in app.blueprints
    bad = dict(good)
    bad.pop(missing)
    with pytest.raises(ConfigError) as info:
        create_app(bad)
    assert "\n" not in str(info.value) and "ERHC_" in str(info.value)


def test_bad_cd_source_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        create_app({"CD_SOURCE": "33a1", "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_unknown_page_is_chinese_not_a_trace(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404 and api.get_json()["error"] == "not_found"


def test_models_match_migrations(app):
    import_models()
    with get_db(app).engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_db_upgrade_and_demo_seed_are_idempotent(fresh_app):
    runner = fresh_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.output.strip().splitlines()[-1])
    assert set(data) >= {"app_record_no", "app_record_no_recognize", "device_token", "users"}
    assert set(data["users"]) >= {"admin", "reviewer", "operator", "ops"}
    from erhc_h5.db import session_scope
    from erhc_h5.staff.models import StaffUser
    from sqlalchemy import func, select

    with fresh_app.app_context(), session_scope() as s:
        count = s.scalar(select(func.count()).select_from(StaffUser))
    second = runner.invoke(args=["demo", "seed"])
    assert json.loads(second.output.strip().splitlines()[-1]) == data
    with fresh_app.app_context(), session_scope() as s:
        assert s.scalar(select(func.count()).select_from(StaffUser)) == count


def test_every_config_key_is_documented_in_the_readme():
    from erhc_h5 import ROOT
    from erhc_h5.config import defaults

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- config-table:start -->")[1].split("<!-- config-table:end -->")[0]
    missing = [key for key in defaults("instance") if f"`{key}`" not in table]
    assert missing == []


def test_trusted_proxy_sets_client_address(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "TRUSTED_PROXIES": 1})

    @app.route("/_addr")
    def _addr():
        from flask import request

        return f"{request.remote_addr} {request.scheme}"

    reply = app.test_client().get("/_addr", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert reply.get_data(as_text=True) == "203.0.113.9 https"
    plain = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/y.sqlite3"})
    plain.add_url_rule("/_addr", view_func=_addr)
    assert plain.test_client().get("/_addr", headers={"X-Forwarded-For": "203.0.113.9"}).get_data(as_text=True).startswith("127.0.0.1")


def test_each_key_keeps_its_default_type_whatever_the_environment_says(monkeypatch, tmp_path):
    db = f"sqlite:///{tmp_path / 'typed.sqlite3'}"
    monkeypatch.setenv("ERHC_DATABASE_URL", db)
    monkeypatch.setenv("ERHC_CD_SOURCE", "3302")  # JSON would make it the number 3302
    monkeypatch.setenv("ERHC_METRICS_ENABLED", "false")
    monkeypatch.setenv("ERHC_SMS_PER_PHONE_HOUR", '"7"')
    monkeypatch.setenv("ERHC_LOCKOUT_WINDOW_HOURS", "0.5")
    cfg = create_app().config
    assert cfg["CD_SOURCE"] == "3302" and cfg["METRICS_ENABLED"] is False
    assert cfg["SMS_PER_PHONE_HOUR"] == 7 and cfg["LOCKOUT_WINDOW_HOURS"] == 0.5
    monkeypatch.setenv("ERHC_METRICS_ENABLED", "maybe")
    with pytest.raises(ConfigError, match="ERHC_METRICS_ENABLED"):
        create_app()
