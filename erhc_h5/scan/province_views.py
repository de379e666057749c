"""The province's verification (验码) API: ``POST /api/v1/province/verify`` (docs/contracts.md)."""
from __future__ import annotations

import datetime as dt
import hashlib

from flask import Blueprint, current_app, jsonify, request

from erhc_h5.extensions import csrf, limiter
from erhc_h5.logs import log_event
from erhc_h5.scan import province
from erhc_h5.scan.service import NOT_AUTHENTICATED_MESSAGE, Scanner, check, record
from erhc_h5.scan.transactions import OnDemandSession, api_transaction
from erhc_h5.scan.views import MAX_BODY

bp = Blueprint("province_verify", __name__)
NOT_AUTHENTICATED = {"result": "not_authenticated", "message": NOT_AUTHENTICATED_MESSAGE}


def caller_key() -> str:
    """Limits count per calling app id (hashed) and address: all terminals share the province's gateway."""
    app_id = request.headers.get("X-Erhc-App-Id", "")
    return "province-verify:" + hashlib.sha256(app_id.encode("utf-8", "replace")).hexdigest()[:16] + ":" + (
        request.remote_addr or "127.0.0.1")


def _read_body() -> bytes | None:
    """The raw body, or None when it is larger than the API takes."""
    if (request.content_length or 0) > MAX_BODY:
        return None
    raw = request.stream.read(MAX_BODY + 1)
    return None if len(raw) > MAX_BODY else raw


@bp.post("/api/v1/province/verify")
@limiter.limit(lambda: current_app.config["PROVINCE_VERIFY_RATE_LIMIT"], key_func=caller_key)
def verify():
    """Signed {"code", "terminal"} from the provincial platform → verdict JSON (never a 500).

    Checked in this order: signature headers, size, signature, body; then, in one transaction, the
    nonce is used up and the scan is recorded at the terminal (the scan's replay/claim rule with
    the terminal as the scanner). A replayed nonce writes no scan."""
    raw = _read_body()
    nonce = province.check_signed(current_app.config, request.path, request.headers, raw)  # Refused: the one handler
    try:  # a signed but malformed body still uses its nonce up
        asked = province.parse_body(raw)
    except province.Refused as refused:
        asked = refused
    session = OnDemandSession()
    checked = None if isinstance(asked, province.Refused) else check(session, asked.code)
    with api_transaction() as (statements, cursor):
        fresh = statements.use_nonce(cursor, nonce, dt.datetime.now(dt.UTC).replace(tzinfo=None))
        if fresh and checked is not None:
            outcome = record(statements, cursor, checked, Scanner(site_name=province.SITE_NAME,
                                                                   terminal=asked.terminal))
            if outcome.result == "authenticated":
                found = statements.current_record(cursor, outcome.event["card_id"])
    if not fresh:
        raise province.Refused.unauthorized("replayed_nonce")
    if checked is None:
        raise asked
    if outcome.result != "authenticated":
        return jsonify(outcome.body), outcome.status
    if not province.is_authenticated(found):  # the card and its uploaded record disagree: say the safe thing
        log_event("province.verify_record_missing", card_id=outcome.event["card_id"])
        return jsonify(NOT_AUTHENTICATED), 200
    return jsonify(result="authenticated", record=found), 200


csrf.exempt(verify)
