"""Fixtures of the filing tests: the demo reviewer and admin, an upload folder, a filing awaiting the
province and the wire between city and province (defined in ``tests/filing/exchange.py``, which the
sandbox tests import as well)."""
from __future__ import annotations

from tests.filing.exchange import checker, pending, reviewer, staff, upload_dir, wire  # noqa: F401
