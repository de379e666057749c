"""Views of the resident domain."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("resident", __name__)


@bp.route("/")
def index():
    from flask import render_template

    return render_template("resident/placeholder.html")
