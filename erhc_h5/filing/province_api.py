"""The province's decision on a filing, sent electronically: ``POST /api/v1/province/filing-decision``
(docs/contracts.md), signed like the verification (验码) call and checked by the same code.

Order: signature headers, size, signature; then in one transaction the nonce is used up (a signed
request with a bad body still uses it) and the decision is recorded in a savepoint that a refusal
rolls back. Never a 500 for bad input.
"""
from __future__ import annotations

import hashlib
import json

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from erhc_h5.db import get_session, writing
from erhc_h5.errors import domain_error_response
from erhc_h5.extensions import csrf, limiter
from erhc_h5.filing import delivery, province_inbox
from erhc_h5.filing.services import FilingError
from erhc_h5.logs import log_event
from erhc_h5.scan import province
from erhc_h5.scan.models import ProvinceVerifyNonce
from erhc_h5.scan.province_views import caller_key

bp = Blueprint("province_filing", __name__)
MAX_BODY = 16384


def _read_body() -> bytes | None:
    if (request.content_length or 0) > MAX_BODY:
        return None
    raw = request.stream.read(MAX_BODY + 1)
    return None if len(raw) > MAX_BODY else raw


def _use_nonce(session, nonce: str) -> bool:
    """Store the nonce (shared with 验码: one credential, one nonce space); False when seen before."""
    try:
        with session.begin_nested():
            session.add(ProvinceVerifyNonce(nonce=nonce))
            session.flush()
    except IntegrityError:
        return False
    return True


def _decide(session, raw: bytes):
    """Parse and record inside a savepoint; returns (reply, status)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    try:
        asked = province_inbox.parse(body)
        with session.begin_nested():
            result = province_inbox.receive(session, asked, hashlib.sha256(raw).hexdigest())
    except province_inbox.InboxRefusal as refused:
        return {"error": refused.error, "message": refused.message}, refused.status
    except FilingError as exc:
        return {"error": exc.reason, "message": str(exc), "field": exc.field}, 422
    log_event("filing.province_decision", filed_app_id=asked.filing_id, result=result)
    return {"result": result}, 200


@bp.post("/api/v1/province/filing-decision")
@limiter.limit(lambda: current_app.config["PROVINCE_VERIFY_RATE_LIMIT"], key_func=caller_key)
def filing_decision():
    """Signed decision JSON from the provincial platform → ``{"result"}`` or ``{"error", "message"}``."""
    raw = _read_body()
    nonce = province.check_signed(current_app.config, request.path, request.headers, raw)  # Refused: the one handler
    with writing():
        session = get_session()
        if not _use_nonce(session, nonce):
            session.rollback()
            return domain_error_response(province.Refused.unauthorized("replayed_nonce"))
        reply, status = _decide(session, raw)
        session.commit()
    if status != 200:
        log_event("filing.province_decision_refused", reason=reply["error"], status=status)
    return jsonify(reply), status


csrf.exempt(filing_decision)


@bp.app_template_global("filing_delivery")
def filing_delivery(app):
    """The latest electronic delivery of ``app``'s 申请表 (None: none, paper only) for the filing page."""
    return delivery.latest_delivery(get_session(), app)
