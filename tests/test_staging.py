"""ERHC_ENV=staging: production's settings and checks, with the sandbox providers, the sandbox
province receiver and the demo data allowed, and a banner on every page so nobody takes it for the
live service."""
from __future__ import annotations

import json

import pytest

from erhc_h5 import create_app
from erhc_h5.config import ConfigError
from tests.support import PRODUCTION

SERVER_DB = {"DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc"}
# What a city rehearses with: every provider and the province are the sandbox's own.
SANDBOXED = {"IDENTITY_PROVIDER": "sandbox", "SMS_PROVIDER": "sandbox", "FACE_PROVIDER": "sandbox",
             "PROVINCE_URL": "https://staging.example.invalid/sandbox-province", "PROVINCE_APP_ID": "sandbox-city-3301"}
BANNER = "演练环境(测试环境)"


def settings(env: str, **changes) -> dict:
    return {**PRODUCTION, **SERVER_DB, **SANDBOXED, "ENV": env, **changes}


@pytest.fixture(autouse=True)
def _four_workers(monkeypatch):
    monkeypatch.setenv("GUNICORN_WORKERS", "4")


def test_staging_starts_with_the_sandbox_providers_and_receiver_with_production_cookies():
    app = create_app(settings("staging"))
    assert app.config["SANDBOX"] is True and app.config["STAGING"] is True
    assert "province" in app.blueprints  # the sandbox receiver answers at /sandbox-province
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("key", ["IDENTITY_PROVIDER", "SMS_PROVIDER", "FACE_PROVIDER", "PROVINCE_URL", "PROVINCE_APP_ID"])
def test_production_refuses_each_sandbox_setting_staging_takes(key):
    one_sandboxed = {**PRODUCTION, **SERVER_DB, "ENV": "production", key: SANDBOXED[key]}
    with pytest.raises(ConfigError) as info:
        create_app(one_sandboxed)
    assert f"ERHC_{key}" in str(info.value)


@pytest.mark.parametrize("change", [
    {"SECRET_KEY": None}, {"PII_KEYS": None}, {"EMPI_KEY": None}, {"BLIND_INDEX_KEY": None},
    {"PROVINCE_SECRET": None}, {"PROVINCE_VERIFY_SECRET": "short"}, {"OPS_TOKEN": None},
    {"DATABASE_URL": "sqlite:///staging.sqlite3"}, {"RATELIMIT_STORAGE_URI": "memory://"},
], ids=lambda change: next(iter(change)))
@pytest.mark.parametrize("env", ["staging", "production"])
def test_staging_refuses_what_production_refuses(env, change):
    bad = settings(env) if env == "staging" else {**PRODUCTION, **SERVER_DB}
    for key, value in change.items():
        bad.pop(key) if value is None else bad.update({key: value})
    with pytest.raises(ConfigError) as info:
        create_app(bad)
    assert f"ERHC_{next(iter(change))}" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("typo", ["prod", "Production", "stage", ""])
def test_an_unknown_environment_is_refused_not_taken_for_sandbox(typo, tmp_path):
    with pytest.raises(ConfigError, match="ERHC_ENV"):
        create_app({"ENV": typo, "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})


@pytest.mark.parametrize("name", ["sandbox", "dev", "test", "TESTING"])
def test_the_sandbox_common_names_are_the_development_mode(name, tmp_path):
    app = create_app({"ENV": name, "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert app.config["ENV"] == "development" and app.config["SANDBOX"] is True
    assert app.config["PRODUCTION_CHECKS"] is False


def _as_staging(app):
    """The test app (SQLite) with staging's mode flags: staging itself needs a server database."""
    app.config.update(ENV="staging", STAGING=True)


def test_every_page_says_staging_and_only_in_staging(app, client):
    for path in ("/staff/login", "/h5/check", "/no-such-page"):
        assert BANNER not in client.get(path).get_data(as_text=True), path
    _as_staging(app)
    for path in ("/staff/login", "/h5/check", "/no-such-page"):
        page = client.get(path).get_data(as_text=True)
        assert 'id="env-banner"' in page and BANNER in page, path


def test_ops_shows_the_mode(app, client, auth):
    auth.login("ops")
    assert "开发沙箱" in client.get("/ops").get_data(as_text=True)
    assert client.get("/ops/status.json").get_json()["environment"] == {"env": "development", "label": "开发沙箱"}
    _as_staging(app)
    page = client.get("/ops").get_data(as_text=True)
    assert 'data-env="staging"' in page and BANNER in page
    assert client.get("/ops/status.json").get_json()["environment"]["env"] == "staging"


def test_demo_seed_runs_in_staging_with_a_warning_and_is_refused_in_production(app, runner):
    _as_staging(app)
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "警告:演练环境" in result.stderr
    assert set(json.loads(result.stdout.strip().splitlines()[-1])) >= {"users", "device_token"}
    app.config.update(ENV="production", STAGING=False, SANDBOX=False)
    refused = runner.invoke(args=["demo", "seed"])
    assert refused.exit_code != 0 and "ERHC_ENV=production" in refused.output


@pytest.mark.parametrize("method, path", [
    ("GET", "/sandbox-province/"), ("POST", "/sandbox-province/faults"), ("GET", "/sandbox-province/filings/"),
    ("GET", "/sandbox-province/filings/1"), ("POST", "/sandbox-province/filings/1/decide"),
    ("GET", "/sandbox-province/vaccination"),
])
def test_on_staging_the_sandbox_provinces_pages_ask_for_a_staff_sign_in(method, path):
    """An anonymous visitor of a staging host set the sandbox province's faults (latency 20 s, accepted)."""
    app = create_app(settings("staging", WTF_CSRF_ENABLED=False))
    answer = app.test_client().open(path, method=method, data={"latency_ms": "20000"})
    assert answer.status_code == 302 and "/staff/login" in answer.headers["Location"], answer.status_code


def test_on_staging_the_sandbox_provinces_signed_interfaces_are_not_sent_to_sign_in():
    app = create_app(settings("staging", WTF_CSRF_ENABLED=False))
    answer = app.test_client().post("/sandbox-province/erhc/v1/auth-records", data=b"{}",
                                    headers={"Content-Type": "application/json"})
    assert answer.status_code != 302 and "/staff/login" not in answer.headers.get("Location", "")
