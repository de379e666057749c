"""What exists only in sandbox mode: the sandbox province's own pages."""
from __future__ import annotations

from flask import Flask, abort, request
from flask_login import current_user

# The sandbox province's pages for people: its records, the fault switch, the filing reviewer's pages
# and the vaccination desk. Its machine interfaces (uploads, filing deliveries) are signed instead.
PEOPLE_PAGES = frozenset({"province.index", "province.faults", "sandbox_filings.index", "sandbox_filings.detail",
                          "sandbox_filings.decide", "sandbox_filings.notify", "sandbox_vaccination.vaccination"})
# What changes the sandbox province's behaviour or decides for it.
CHANGES = frozenset({"province.faults", "sandbox_filings.decide", "sandbox_filings.notify"})


def staff_only_when_staging(app: Flask) -> None:
    """A staging host is reachable by more than its developers: there the sandbox province's pages ask
    for a staff sign-in, and setting its faults or deciding a filing for the ops or admin role (an
    anonymous visitor could slow every upload by 20 s). On a developer's machine they stay open."""

    @app.before_request
    def _staff_only():
        if not app.config.get("STAGING") or request.endpoint not in PEOPLE_PAGES:
            return None
        if not current_user.is_authenticated:
            return app.login_manager.unauthorized()
        if request.endpoint in CHANGES and current_user.role not in ("ops", "admin"):
            abort(403)
        return None
