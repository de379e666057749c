"""Views of the scan domain."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("scan", __name__)
