"""The README's "First start in production", command by command, on an app built the way systemd
builds it: from the environment of deploy/systemd/env with its placeholders filled in. Production
refuses SQLite, so this runs on PostgreSQL (ERHC_TEST_DATABASE_URL), as CI's second pass does."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
from zoneinfo import ZoneInfo

import pytest

from erhc_h5 import create_app
from erhc_h5.db import get_db
from erhc_h5.resident.launch import make_launch_url
from tests.support import REPO, TEST_DB_URL, drop_database, env_file, new_database_url, port_in

pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.skipif(not TEST_DB_URL.startswith("postgresql"),
                                 reason="production runs on PostgreSQL: set ERHC_TEST_DATABASE_URL")]
HOST = "https://h5.city.example.invalid"
ADMIN = "admin.zhang"


def filled(database_url: str, upload_dir: str) -> dict[str, str]:
    """A city's own values for every CHANGE-ME of the sample env file."""
    token = lambda: secrets.token_urlsafe(32)  # noqa: E731 - one fresh secret per key
    return {
        "ERHC_SECRET_KEY": token(), "ERHC_EMPI_KEY": token(), "ERHC_BLIND_INDEX_KEY": token(),
        "ERHC_PII_KEYS": json.dumps({"k1": base64.b64encode(os.urandom(32)).decode()}),
        "ERHC_DATABASE_URL": database_url, "ERHC_CD_SOURCE": "3301",
        "ERHC_PROVINCE_URL": "https://erhc.province.example.invalid", "ERHC_PROVINCE_APP_ID": "city-3301-h5",
        "ERHC_PROVINCE_SECRET": token(), "ERHC_PROVINCE_VERIFY_ID": "province-verify-33",
        "ERHC_PROVINCE_VERIFY_SECRET": token(),
        "ERHC_PROVIDER_BASE_URL": "https://idp.example.invalid", "ERHC_PROVIDER_APP_KEY": "city-3301",
        "ERHC_PROVIDER_APP_SECRET": token(), "ERHC_HOTLINE": "0571-12320",
        "ERHC_ONSITE_POINTS": json.dumps([{"name": "市民中心实名认证点", "address": "市民中心一楼",
                                           "hours": "工作日 9:00-17:00"}], ensure_ascii=False),
        "ERHC_APP_ORIGINS": "https://app.city.example.invalid", "ERHC_OPS_TOKEN": token(),
        "ERHC_UPLOAD_DIR": upload_dir,
    }


@pytest.fixture
def production(tmp_path, monkeypatch):
    """The app `flask --app app` and gunicorn would build from /etc/erhc-h5/env (step 2)."""
    url = new_database_url(tmp_path, prefix="erhc_bootstrap")
    values = filled(url, str(tmp_path / "uploads"))
    for key, value in env_file().items():
        monkeypatch.setenv(key, values[key] if "CHANGE-ME" in value else value)
    redis = os.environ.get("ERHC_TEST_REDIS_URL", "")
    if not redis:  # one worker keeps its limits in memory (production allows that for one worker only)
        monkeypatch.setenv("GUNICORN_WORKERS", "1")
    monkeypatch.setenv("ERHC_RATELIMIT_STORAGE_URI", redis or "memory://")
    app = create_app()
    try:
        yield app
    finally:
        get_db(app).engine.dispose()
        drop_database(url)


def run(app, *args: str) -> str:
    """One `flask --app app …` command; its stdout (the last line is what scripts read)."""
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, (args[:2], result.output[-500:])
    return result.stdout


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def form_post(client, path: str, data: dict):
    """A browser's POST of the form on ``path``: its CSRF token, and the Referer a browser sends."""
    page = client.get(path, base_url=HOST)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert token, path
    return client.post(path, base_url=HOST, data={"csrf_token": token.group(1), **data},
                       headers={"Referer": HOST + path})


def test_first_start_in_production(production):
    assert production.config["ENV"] == "production" and production.config["SANDBOX"] is False
    assert last_json(run(production, "db", "upgrade"))["migrated"]
    admin = last_json(run(production, "users", "create", ADMIN, "--role", "admin",
                          "--display-name", "张管理员", "--one-time-password"))
    assert admin["must_change_password"] is True and len(admin["one_time_password"]) >= 16
    device = last_json(run(production, "devices", "add", "一号接种台", "--site", "市民中心接种点"))

    client = production.test_client()
    ready = client.get("/readyz", base_url=HOST)
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready", ready.get_json()

    signed = form_post(client, "/staff/login", {"username": ADMIN, "password": admin["one_time_password"]})
    assert signed.status_code == 302 and signed.headers["Location"].endswith("/staff/password")
    assert client.get("/staff/", base_url=HOST).status_code in (302, 401)  # not signed in anywhere yet
    own = "Hz-vaccine-desk-" + secrets.token_hex(4)
    changed = form_post(client, "/staff/password", {"new_password": own, "confirm": own})
    assert changed.status_code == 302, changed.get_data(as_text=True)[-400:]
    assert client.get("/staff/", base_url=HOST).status_code == 200
    assert "生产环境" in client.get("/ops", base_url=HOST).get_data(as_text=True)

    def scan(token: str):
        return client.post("/api/v1/scan", base_url=HOST, json={"code": "not-a-health-code"},
                           headers={"Authorization": f"Bearer {token}"})

    enrolled, stranger = scan(device["token"]), scan("dev_" + secrets.token_hex(20))
    assert stranger.status_code == 401
    # The enrolled device is let in and its code judged (a code nobody issued); a stranger is not.
    assert (enrolled.status_code, enrolled.get_json()["error"]) == (422, "malformed"), enrolled.get_json()


def beijing_today() -> str:
    """The province decides on a Beijing calendar day, not before the filing reached it (today)."""
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


CITY_FORM = {"app_name": "杭州健康服务", "org_name": "杭州市卫生健康委员会", "org_filing_no": "ORG-330100-0001",
             "builder_unit": "杭州市卫生健康委员会", "builder_contact": "王建设 0571-00000000",
             "developer_unit": "杭州示范信息技术有限公司", "developer_contact": "李开发 0571-00000001",
             "auth_methods": "1^2^3^4", "allowed_origins": "https://app.city.example.invalid"}


def city_form(tmp_path) -> str:
    """Step 5: deploy/app.json with the city's value in place of every CHANGE-ME; the file's path."""
    sample = json.loads((REPO / "deploy" / "app.json").read_text(encoding="utf-8"))
    form = {k: CITY_FORM[k] if "CHANGE-ME" in json.dumps(v, ensure_ascii=False) else v for k, v in sample.items()}
    application = tmp_path / "app.json"
    application.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    return str(application)


def test_filing_the_app_from_the_command_line(production, tmp_path):
    run(production, "db", "upgrade")
    app_id = run(production, "filing", "create", "--file", city_form(tmp_path)).strip().splitlines()[-1].strip()
    run(production, "filing", "decide", app_id, "--app-filing-no", "A330100000001", "--access-code", "330100900101",
        "--opinion", "同意备案", "--date", beijing_today())
    printed = run(production, "filing", "secret", app_id).strip().splitlines()[-1].strip()
    secret = printed
    if printed.startswith("{"):
        shown = json.loads(printed)
        secret = shown.get("launch_secret") or shown.get("secret")
    launch = production.test_client().get(make_launch_url("A330100000001", "user-1", secret), base_url=HOST)
    assert launch.status_code == 302, launch.get_data(as_text=True)[-400:]
    assert "/h5/launch" not in launch.headers["Location"]


# README, "Staging": the env file's changes for a rehearsal whose province is its own sandbox receiver
# behind a self-signed certificate ("TLS is mandatory" makes one).
STAGING_PORTS = range(18260, 18280)


def staging_changes(port: int, certificate: str) -> dict[str, str]:
    return {"ERHC_ENV": "staging", "ERHC_IDENTITY_PROVIDER": "sandbox", "ERHC_SMS_PROVIDER": "sandbox",
            "ERHC_FACE_PROVIDER": "sandbox", "ERHC_PROVIDER_BASE_URL": "", "ERHC_PROVIDER_APP_KEY": "",
            "ERHC_PROVIDER_APP_SECRET": "", "ERHC_PROVINCE_URL": f"https://localhost:{port}/sandbox-province",
            "ERHC_PROVINCE_CA_BUNDLE": certificate}


def test_a_staging_rehearsal_files_the_app_with_its_own_sandbox_province_over_tls(tmp_path, monkeypatch):
    """The Staging section's env changes build a staging app; the filing made with step 5 reaches its
    sandbox province at https://<host>/sandbox-province, verified against the self-signed certificate
    (ERHC_PROVINCE_CA_BUNDLE) like the uploads."""
    import threading

    from sqlalchemy import select
    from werkzeug.serving import make_server

    from erhc_h5.db import session_scope
    from erhc_h5.filing.models import FilingDelivery
    from erhc_h5.sandbox.models import SandboxProvinceFiling

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # README, "TLS is mandatory": the staging certificate
    url = new_database_url(tmp_path, prefix="erhc_bootstrap")
    port = port_in(STAGING_PORTS)
    values, changes = filled(url, str(tmp_path / "uploads")), staging_changes(port, str(cert))
    for name, value in env_file().items():
        monkeypatch.setenv(name, changes.get(name, values[name] if "CHANGE-ME" in value else value))
    monkeypatch.setenv("GUNICORN_WORKERS", "1")
    monkeypatch.setenv("ERHC_RATELIMIT_STORAGE_URI", "memory://")
    app = create_app()
    server = None
    try:
        assert app.config["STAGING"] is True and app.config["SESSION_COOKIE_SECURE"] is True
        run(app, "db", "upgrade")
        server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=(str(cert), str(key)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        app_id = int(run(app, "filing", "create", "--file", city_form(tmp_path)).strip().splitlines()[-1])
        run(app, "filing", "deliver")  # what the schedule runs; nothing left when the create's send went through
        with app.app_context(), session_scope(app) as session:
            delivery = session.scalar(select(FilingDelivery).where(FilingDelivery.app_id == app_id))
            assert (delivery.state, delivery.last_error) == ("delivered", ""), delivery.last_error
            received = session.scalar(select(SandboxProvinceFiling).where(SandboxProvinceFiling.city_filing_id == app_id))
            assert received is not None and received.form["app_name"] == CITY_FORM["app_name"]
    finally:
        if server is not None:
            server.shutdown()
        get_db(app).engine.dispose()
        drop_database(url)
