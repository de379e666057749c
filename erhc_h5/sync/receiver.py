"""The sandbox provincial receiver (mounted in sandbox mode)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("province", __name__, url_prefix="/sandbox-province")
