"""Resident journey fixtures: a launched resident on the demo app walking the steps (tests/support.Journey)."""
from __future__ import annotations

import pytest

from erhc_h5.identity import set_providers
from tests.support import Journey


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
