"""The sandbox province's books of filing applications: receive a city's signed 申请表, let a provincial
reviewer approve (assigning 应用备案号 and 入网编码) or reject it, and tell the city by a signed call.

Written apart from the city's filing code (its own format checks, its signing in
``sync/province_signing.py``), as a province would: only the contracts are shared.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

import requests
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erhc_h5.errors import DomainError
from erhc_h5.outbound_tls import verify_setting
from erhc_h5.sandbox.cities import known_cities
from erhc_h5.sandbox.models import SandboxProvinceFiling
from erhc_h5.sandbox.province_books import Refusal, use_nonce
from erhc_h5.sync.province_signing import signed_headers
from erhc_h5.sync.province_verify import _path_of

DECISION_PATH = "/api/v1/province/filing-decision"
CITY_TRANSPORT = "erhc_sandbox_city_transport"  # app.extensions hook: (url, body, headers) -> (status, dict)
FORM_FIELDS = ("app_name", "app_filing_no", "org_name", "org_filing_no", "builder_unit", "builder_contact",
               "developer_unit", "developer_contact", "auth_methods", "city_opinion", "sent_on")
REQUIRED = ("app_name", "org_name", "builder_unit", "developer_unit", "auth_methods")
FILING_NO = re.compile(r"[A-Za-z0-9_-]{1,20}")
ACCESS_CODE = re.compile(r"[0-9]{6,20}")
CD_SOURCE = re.compile(r"[0-9]{4}")


class ReviewError(DomainError):
    """A reviewer's input the province refuses: the field and a Chinese message."""

    reason = "review_refused"
    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message=message)
        self.field = field


def parse_application(body: bytes) -> dict:
    """The city's JSON, checked for shape; Refusal 400 otherwise."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("filing_id"), int) \
            or not CD_SOURCE.fullmatch(str(data.get("cd_source") or "")):
        raise Refusal(400, "bad_request", "申请表应为 JSON 对象,含 filing_id(整数)与 cd_source(4位数字)")
    missing = [name for name in REQUIRED if not data.get(name)]
    if missing:
        raise Refusal(400, "bad_request", f"申请表缺少字段:{', '.join(missing)}")
    return data


def receive_application(session: Session, data: dict, nonce: str) -> SandboxProvinceFiling:
    """Store the application (a resend refreshes the one still awaiting review); the nonce is single use."""
    use_nonce(session, nonce)
    form = {name: data.get(name) for name in FORM_FIELDS}
    delivery_id = data.get("delivery_id") if isinstance(data.get("delivery_id"), int) else None
    if delivery_id is not None:  # the same delivery again (its reply was lost): already held, decided or not
        held = session.scalar(select(SandboxProvinceFiling).where(
            SandboxProvinceFiling.cd_source == data["cd_source"], SandboxProvinceFiling.city_delivery_id == delivery_id))
        if held is not None:
            return held
    row = session.scalar(select(SandboxProvinceFiling).where(
        SandboxProvinceFiling.cd_source == data["cd_source"], SandboxProvinceFiling.city_filing_id == data["filing_id"],
        SandboxProvinceFiling.status == "received").with_for_update())
    if row is None:
        row = SandboxProvinceFiling(cd_source=data["cd_source"], city_filing_id=data["filing_id"], form=form,
                                    status="received", opinion="", city_reply="", city_delivery_id=delivery_id)
        session.add(row)
    else:
        row.form, row.city_delivery_id = form, delivery_id
    session.flush()
    return row


def suggested_numbers(session: Session, row: SandboxProvinceFiling, year: int) -> tuple[str, str]:
    """The next free 应用备案号 (ZJBA + city + year + 4 digits) and 入网编码 (city + 01 + 6 digits)."""
    taken = session.scalar(select(func.count()).select_from(SandboxProvinceFiling)
                           .where(SandboxProvinceFiling.access_code.is_not(None)))
    seq = int(taken or 0) + 1
    while True:
        filing_no, access_code = f"ZJBA{row.cd_source}{year}{seq:04d}", f"{row.cd_source}01{seq:06d}"
        clash = session.scalar(select(SandboxProvinceFiling.id).where(
            (SandboxProvinceFiling.app_filing_no == filing_no) | (SandboxProvinceFiling.access_code == access_code)))
        if clash is None:
            return filing_no, access_code
        seq += 1


def decide(session: Session, row: SandboxProvinceFiling, *, approve: bool, app_filing_no: str, access_code: str,
           opinion: str, today: dt.date) -> None:
    """The provincial reviewer's decision, checked by the province's own rules; ReviewError otherwise."""
    session.refresh(row, with_for_update=True)
    if row.status != "received":
        raise ReviewError("outcome", f"该申请已审批({row.status_label}),请刷新查看")
    opinion = (opinion or "").strip()
    if not opinion or len(opinion) > 500:
        raise ReviewError("opinion", "请填写管理单位意见(1至500字)")
    if approve:
        app_filing_no, access_code = (app_filing_no or "").strip(), (access_code or "").strip()
        if not FILING_NO.fullmatch(app_filing_no):
            raise ReviewError("app_filing_no", "应用备案号应为1至20位字母、数字、下划线或连字符")
        if not ACCESS_CODE.fullmatch(access_code):
            raise ReviewError("access_code", "入网编码应为6至20位数字")
        row.app_filing_no, row.access_code = app_filing_no, access_code
    row.status, row.opinion, row.decided_on = ("approved" if approve else "rejected"), opinion, today
    row.decision_no = f"ZJSP{today:%Y%m%d}{row.id:06d}"
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ReviewError("app_filing_no", "应用备案号或入网编码已分配给其他应用,请换一个") from None


def decision_body(row: SandboxProvinceFiling) -> bytes:
    body = {"filing_id": row.city_filing_id, "outcome": row.status, "app_filing_no": row.app_filing_no or "",
            "access_code": row.access_code or "", "opinion": row.opinion,
            "decided_on": row.decided_on.isoformat() if row.decided_on else "", "decision_no": row.decision_no}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class CityNotice:
    """A signed decision call, ready to send (built before the caller ends its transaction)."""

    url: str
    body: bytes
    headers: dict


def prepare_notice(row: SandboxProvinceFiling, server_port: str) -> CityNotice | None:
    """The signed call telling the city; None when the province knows no address for that city."""
    cfg = current_app.config
    base = known_cities(cfg, server_port).get(row.cd_source)
    if base is None:
        return None
    base = base.rstrip("/")
    path = _path_of(base) + DECISION_PATH
    body = decision_body(row)
    headers = signed_headers(str(cfg["PROVINCE_VERIFY_ID"]), str(cfg["PROVINCE_VERIFY_SECRET"]), path, body)
    return CityNotice(base[: len(base) - len(_path_of(base))] + path, body, headers)


def send_notice(notice: CityNotice | None) -> str:
    """Send the decision; returns what to keep in ``city_reply`` (the city's result or a reason)."""
    if notice is None:
        return "unknown_city"
    transport = current_app.extensions.get(CITY_TRANSPORT) or _http_post
    try:
        status, reply = transport(notice.url, notice.body, notice.headers)
    except requests.RequestException as exc:
        return type(exc).__name__[:64]
    if status == 200 and reply.get("result") in ("recorded", "already_recorded"):
        return reply["result"]
    return str(reply.get("error") or f"http_{status}")[:64]


def _http_post(url: str, body: bytes, headers: dict) -> tuple[int, dict]:
    """POST to the city. The sandbox province stands in for the province on the city's own host (a
    staging rehearsal), so it trusts what the city trusts for the province: ERHC_PROVINCE_CA_BUNDLE
    (a staging host's self-signed certificate), else the public CAs."""
    timeout = float(current_app.config["SANDBOX_PROVINCE_TIMEOUT"])
    reply = requests.post(url, data=body, headers=headers, timeout=(timeout, timeout), allow_redirects=False,
                          verify=verify_setting(current_app.config.get("PROVINCE_CA_BUNDLE")))
    try:
        data = reply.json()
    except ValueError:
        data = {}
    return reply.status_code, data if isinstance(data, dict) else {}
