"""The /api/openapi.json endpoint."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from erhc_h5.apidoc.spec import build_spec

bp = Blueprint("apidoc", __name__)


@bp.route("/api/openapi.json")
def openapi_json():
    """The OpenAPI 3.0 document of the JSON APIs."""
    return jsonify(build_spec(sandbox=bool(current_app.config["SANDBOX"])))
