"""Views of the code domain."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("code", __name__)
