"""Fixtures of the security tests: apps with their own settings on the test's rolled-back connection."""
from __future__ import annotations

from contextlib import ExitStack

import pytest

from erhc_h5.db import get_db
from tests.conftest import make_app

PRODUCTION = {
    "ENV": "production",
    "SECRET_KEY": "s" * 40,
    "PII_KEYS": {"p1": "cHJvZHVjdGlvbi1rZXktb2YtMzItYnl0ZXMtbG9uZyEh"},
    "PII_ACTIVE_KEY_ID": "p1",
    "EMPI_KEY": "e" * 40,
    "BLIND_INDEX_KEY": "b" * 40,
    "PROVINCE_URL": "https://province.example.invalid",
    "PROVINCE_APP_ID": "city-3301",
    "PROVINCE_SECRET": "p" * 40,
    "IDENTITY_PROVIDER": "http",
    "SMS_PROVIDER": "http",
    "FACE_PROVIDER": "http",
    "PROVIDER_BASE_URL": "https://idp.example.invalid",
    "PROVIDER_APP_KEY": "city-3301",
    "PROVIDER_APP_SECRET": "x" * 32,
    "OPS_TOKEN": "o" * 32,
}


@pytest.fixture
def app_with(app):
    """Build apps with extra settings (and optional test-only routes via ``setup``) that share the
    ``app`` fixture's connection, so they see its data and everything is rolled back with it."""
    connection = get_db(app).factory.kw["bind"]
    with ExitStack() as stack:
        def build(setup=None, context=True, **overrides):
            other = make_app(app.config["DATABASE_URL"], **overrides)
            if setup is not None:
                setup(other)
            get_db(other).bind_to(connection)
            stack.callback(get_db(other).engine.dispose)
            if context:  # without one, each request gets its own app context and g, as in production
                stack.enter_context(other.app_context())
            return other

        yield build
