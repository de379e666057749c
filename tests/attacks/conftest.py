"""The attack suite's shared gunicorn (see harness.py): started once, on first use, for all tests."""
from __future__ import annotations

import pytest

from tests.attacks.harness import Server, race, start_server  # noqa: F401  (re-exported for tests)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    """gunicorn on its own migrated, seeded database; no request may have answered 5xx by the end."""
    srv = start_server(tmp_path_factory.mktemp("race-server"))
    try:
        yield srv
        errors = srv.server_errors()
    finally:
        srv.stop()
    assert not errors, f"the race server answered 5xx: {errors[:20]}"
