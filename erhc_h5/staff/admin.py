"""Administration pages (admin role): staff users and scan devices."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")
