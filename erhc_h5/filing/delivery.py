"""The 申请表 delivered to the province electronically, where it offers that path.

Sending a filing to the province (``services.transition(..., "approve")`` or ``send_to_province``)
writes a ``FilingDelivery`` row in the same transaction; after the commit the row is sent, once the
response has gone out (``erhc_h5.afterwards``), signed like the record upload (``X-Erhc-*``, ``PROVINCE_SECRET``). A
province that is down never blocks or undoes the city's state change: the failure is recorded on
the row and ``flask filing deliver`` sends what is left. Two senders may race on one row; the
province keeps one application per city filing, so a second copy only refreshes it.

``PROVINCE_FILING_URL`` names the province's endpoint; left empty, sandbox mode uses the built-in
sandbox province when ``PROVINCE_URL`` names it, and production files on paper only.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.afterwards import after_commit
from erhc_h5.db import utcnow, writing
from erhc_h5.filing.models import DeliveryState, FiledApp, FilingDelivery
from erhc_h5.logs import log_event
from erhc_h5.outbound import Limits, OutboundFailure, fetch, new_session
from erhc_h5.outbound_tls import verify_setting
from erhc_h5.sync.client import signature
from erhc_h5.timefmt import to_beijing

SANDBOX_RECEIVER = "/sandbox-province"
SANDBOX_APPLICATIONS_PATH = "/filings/applications"
TRANSPORT = "erhc_filing_transport"  # app.extensions hook: (url, body, headers) -> HTTP status
MAX_REPLY_BYTES = 65536

Transport = Callable[[str, bytes, dict], int]


def filing_url(cfg) -> str:
    """The province's application endpoint, or '' when filings go on paper only."""
    configured = str(cfg.get("PROVINCE_FILING_URL") or "").strip()
    if configured:
        return configured
    province_url = str(cfg.get("PROVINCE_URL") or "").rstrip("/")
    if cfg.get("SANDBOX") and province_url.endswith(SANDBOX_RECEIVER):
        return province_url + SANDBOX_APPLICATIONS_PATH
    return ""


def queue_delivery(session: Session, app: FiledApp) -> FilingDelivery | None:
    """Note, in the caller's transaction, that ``app``'s 申请表 is to be delivered; None on paper only."""
    url = filing_url(current_app.config)
    if not url:
        return None
    row = FilingDelivery(app_id=app.id, url=url, state=DeliveryState.PENDING, attempts=0, last_error="")
    session.add(row)
    session.flush()
    after_commit(session, "filing_delivery", row.id, _deliver)
    return row


def application_body(app: FiledApp, cfg, delivery_id: int) -> bytes:
    """The JSON the province receives: the 申请表's fields, the city's filing id, cd_source, methods, and
    the delivery's id (a copy of one delivery sent twice is recognised as the same)."""
    sent = app.reviewed_at or app.submitted_at
    body = {
        "filing_id": app.id, "delivery_id": delivery_id, "cd_source": str(cfg["CD_SOURCE"]), "app_name": app.app_name,
        "app_filing_no": app.app_filing_no or "", "org_name": app.org_name, "org_filing_no": app.org_filing_no,
        "builder_unit": app.builder_unit, "builder_contact": app.builder_contact,
        "developer_unit": app.developer_unit, "developer_contact": app.developer_contact,
        "auth_methods": [m for m in (app.auth_methods or "").split("^") if m],
        "city_opinion": app.review_opinion or "",
        "sent_on": to_beijing(sent).date().isoformat() if sent else None,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_headers(cfg, path: str, body: bytes) -> dict:
    """The upload's X-Erhc-* headers for one POST of ``body`` to ``path``."""
    stamp, nonce = str(int(time.time())), secrets.token_hex(16)
    return {"X-Erhc-App-Id": str(cfg["PROVINCE_APP_ID"]), "X-Erhc-Timestamp": stamp, "X-Erhc-Nonce": nonce,
            "X-Erhc-Signature": signature(str(cfg["PROVINCE_SECRET"]), path, stamp, nonce, body),
            "Content-Type": "application/json"}


def http_post(url: str, body: bytes, headers: dict) -> int:
    """POST within the upload's timeouts and deadline; the reply's status (OutboundFailure when none)."""
    cfg = current_app.config
    limits = Limits(float(cfg["PROVINCE_CONNECT_TIMEOUT"]), float(cfg["PROVINCE_READ_TIMEOUT"]),
                    float(cfg["SYNC_DEADLINE_SECONDS"]), MAX_REPLY_BYTES)
    with new_session() as http:
        prepared = http.prepare_request(requests.Request("POST", url, data=body, headers=headers))
        # The province's private CA (ERHC_PROVINCE_CA_BUNDLE) verifies this endpoint as it does the upload's.
        return fetch(http, prepared, limits, verify=verify_setting(cfg.get("PROVINCE_CA_BUNDLE"))).status


def send(session: Session, row_id: int, transport: Transport | None = None) -> bool:
    """Deliver one pending row now; True when the province took it (2xx). No transaction (nor SQLite
    snapshot) is held across the call; the outcome is written and committed after it."""
    row = session.get(FilingDelivery, row_id)
    if row is None or row.state != DeliveryState.PENDING:
        session.rollback()
        return False
    cfg = current_app.config
    url, body = row.url, application_body(session.get(FiledApp, row.app_id), cfg, row_id)
    session.rollback()
    error = _post(transport, url, body, signed_headers(cfg, urlsplit(url).path, body))
    with writing():
        row = session.get(FilingDelivery, row_id)
        row.attempts += 1
        if error:
            row.last_error = error[:64]
        else:
            row.state, row.delivered_at, row.last_error = DeliveryState.DELIVERED, utcnow(), ""
        session.commit()
    log_event("filing.delivery_failed" if error else "filing.delivered", filed_app_id=row.app_id, delivery=row_id,
              reason=error, attempts=row.attempts)
    return not error


def _post(transport: Transport | None, url: str, body: bytes, headers: dict) -> str:
    """'' when the province took the application, else a reason code."""
    post = transport or current_app.extensions.get(TRANSPORT) or http_post
    try:
        status = post(url, body, headers)
    except OutboundFailure as exc:
        return exc.reason
    except requests.RequestException as exc:
        return type(exc).__name__
    return "" if 200 <= status < 300 else f"http_{status}"


def deliver_pending(session: Session, ids: list[int] | None = None, transport: Transport | None = None) -> dict:
    """Send the given rows (or every pending one); ``{"delivered": n, "failed": m}``. Commits each."""
    query = select(FilingDelivery.id).where(FilingDelivery.state == DeliveryState.PENDING).order_by(FilingDelivery.id)
    if ids is not None:
        query = query.where(FilingDelivery.id.in_(ids))
    pending = list(session.scalars(query))
    result = {"delivered": 0, "failed": 0}
    for row_id in pending:
        result["delivered" if send(session, row_id, transport) else "failed"] += 1
    return result


def latest_delivery(session: Session, app: FiledApp) -> FilingDelivery | None:
    return session.scalar(select(FilingDelivery).where(FilingDelivery.app_id == app.id)
                          .order_by(FilingDelivery.id.desc()).limit(1))


def _deliver(ids: list[int]) -> None:
    """Send the rows a committed transaction queued (``afterwards``), in a session of their own."""
    from erhc_h5.db import session_scope

    with session_scope() as db:
        deliver_pending(db, ids)
