"""Views of the filing domain."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("filing", __name__)
