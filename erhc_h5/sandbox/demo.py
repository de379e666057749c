"""Sandbox demo data: a province-approved demo app, one staff user per role, one scan device (idempotent)."""
from __future__ import annotations

import hashlib
import hmac

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.filing.models import DecisionOutcome, DecisionSource, FiledApp, FilingDecision
from erhc_h5.records.codes import AuthMethod, joined_methods
from erhc_h5.scan.models import ScanDevice
from erhc_h5.timefmt import beijing_now
from erhc_h5.staff.models import ROLES, StaffUser
from erhc_h5.uow import unit_of_work

# numbers as the province would assign them: 应用备案号 AN20, 入网编码 digits after the division code
DEMO_APP_FILING_NO = "ZJ-3301-2026-0001"
DEMO_ACCESS_CODE = "330100900001"
DEMO_DEVICE_NAME = "示范接种点扫码枪"
DEMO_SITE = "示范社区卫生服务中心接种点"


def derived_secret(app: Flask, purpose: str, length: int = 24) -> str:
    """A sandbox secret derived from the app's secret key: stable across runs, useless elsewhere."""
    digest = hmac.new(app.config["SECRET_KEY"].encode(), f"demo:{purpose}".encode(), hashlib.sha256)
    return digest.hexdigest()[:length]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _demo_app(app: Flask, session: Session) -> FiledApp:
    """The demo app as the province approved it: both numbers, opinion and date recorded."""
    now, today = utcnow(), beijing_now().date()
    opinion = "同意备案(示范数据)"
    demo_app = FiledApp(
        app_name="示范城市健康服务App", app_filing_no=DEMO_APP_FILING_NO,
        org_name="示范市卫生健康委员会", org_filing_no="DEMO-ORG-0001",
        builder_unit="示范市卫生健康委员会", builder_contact="王建设 0571-00000000",
        developer_unit="示范信息技术有限公司", developer_contact="李开发 0571-00000001",
        auth_methods=joined_methods(*AuthMethod), status="approved", access_code=DEMO_ACCESS_CODE,
        launch_secret=derived_secret(app, "launch-secret", 32), review_opinion=opinion,
        submitted_at=now, reviewed_at=now, secret_version=1, province_decided_on=today,
    )
    session.add(demo_app)
    session.flush()
    session.add(FilingDecision(app_id=demo_app.id, outcome=str(DecisionOutcome.APPROVED),
                               app_filing_no=DEMO_APP_FILING_NO, access_code=DEMO_ACCESS_CODE, opinion=opinion,
                               decided_on=today, source=str(DecisionSource.SANDBOX)))
    return demo_app


def seed(app: Flask, session: Session) -> dict:
    """Create what is missing and return the contract JSON; existing rows are left unchanged."""
    demo_app = session.scalar(select(FiledApp).where(FiledApp.app_filing_no == DEMO_APP_FILING_NO))
    if demo_app is None:
        demo_app = _demo_app(app, session)
    users = {}
    for role in ROLES:
        username = f"demo-{role}"
        password = derived_secret(app, f"user:{role}", 16)
        if session.scalar(select(StaffUser).where(StaffUser.username == username)) is None:
            user = StaffUser(username=username, role=role, display_name=f"示范{ROLES[role]}", site_name=DEMO_SITE)
            user.set_password(password)
            session.add(user)
        users[role] = {"username": username, "password": password}
    device_token = "dev_" + derived_secret(app, "device", 40)
    if session.scalar(select(ScanDevice).where(ScanDevice.token_hash == token_hash(device_token))) is None:
        session.add(ScanDevice(name=DEMO_DEVICE_NAME, site_name=DEMO_SITE,
                               token_hash=token_hash(device_token), token_hint=device_token[:8]))
    session.flush()
    return {
        "app_record_no": demo_app.access_code,
        "app_record_no_recognize": demo_app.app_filing_no,
        "device_token": device_token,
        "users": users,
    }


def sandbox_app(app: Flask, session: Session) -> FiledApp:
    """The demo app, the sandbox seeded first when it is missing (committed before it is used)."""
    query = select(FiledApp).where(FiledApp.app_filing_no == DEMO_APP_FILING_NO)
    demo_app = session.scalar(query)
    if demo_app is None:
        with unit_of_work(session):
            seed(app, session)
        demo_app = session.scalar(query)
    return demo_app
