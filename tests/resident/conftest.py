"""Resident journey fixtures: a launched resident on the demo app and helpers to walk the steps."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from erhc_h5.filing.models import FiledApp
from erhc_h5.identity import set_providers
from erhc_h5.resident.launch import make_launch_url

# Obviously fake people; their ID number is checked against GB 11643 in tests/test_factories.py.
IDENTITY = {"name": "测试甲", "id_card_type_code": "01", "idcode": "330106199003071236"}
PROFILE = {"nation": "01", "phone": "13800000001", "county_code": "330106", "current_address": "测试路1号",
           "linkman": "", "telephone": ""}


def demo_app(db_session) -> FiledApp:
    from erhc_h5.demo import DEMO_APP_FILING_NO

    return db_session.scalar(select(FiledApp).where(FiledApp.app_filing_no == DEMO_APP_FILING_NO))


class Journey:
    """Walks a resident through the pages with the test client."""

    def __init__(self, client, db_session):
        self.client = client
        self.db = db_session

    def launch(self, uid: str = "user-1"):
        app = demo_app(self.db)
        return self.client.get(make_launch_url(app, uid, app.launch_secret))

    def consent(self):
        return self.client.post("/h5/consent", data={"agree": "y"})

    def identity(self, **changes):
        return self.client.post("/h5/identity", data={**IDENTITY, **changes})

    def profile(self, **changes):
        return self.client.post("/h5/profile", data={**PROFILE, **changes})

    def ready(self, uid: str = "user-1", identity: dict | None = None, profile: dict | None = None):
        self.launch(uid)
        self.consent()
        assert self.identity(**(identity or {})).status_code == 302
        response = self.profile(**(profile or {}))
        assert response.status_code == 302 and response.headers["Location"].endswith("/h5/methods"), \
            response.get_data(as_text=True)
        return response

    def vs(self):
        from erhc_h5.resident.models import VerificationSession

        with self.client.session_transaction() as cookie:
            vs_id = cookie["resident"]["vs"]
        self.db.expire_all()
        return self.db.get(VerificationSession, vs_id)


@pytest.fixture
def journey(client, db_session, seeded):
    return Journey(client, db_session)


@pytest.fixture
def provider_mode(app):
    """Switch the sandbox providers' fault mode (normal | timeout | error)."""

    def set_mode(mode: str):
        app.config["SANDBOX_PROVIDER_MODE"] = mode

    set_providers(app, None)
    yield set_mode
    app.config["SANDBOX_PROVIDER_MODE"] = "normal"
