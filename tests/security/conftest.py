"""Fixtures of the security tests: apps with their own settings on the test's rolled-back connection."""
from __future__ import annotations

from contextlib import ExitStack

import pytest

from erhc_h5.db import get_db
from tests.support import make_app


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
