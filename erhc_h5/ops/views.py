"""Views of the ops domain."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz():
    """Liveness: the process answers (no database access)."""
    return {"status": "ok"}
