"""On-site verification by an operator: find a pending code, confirm or reject, register without a phone."""
from __future__ import annotations

import hmac
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import lock_row, utcnow
from erhc_h5.errors import DomainError
from erhc_h5.filing.models import FiledApp
from erhc_h5.logs import log_event
from erhc_h5.records.codes import ID_CARD_TYPES, NATIONS, SEX, AuthMethod, has_method, method_label
from erhc_h5.records.idnumbers import IdNumberError, normalize_idcode, parse_resident_id, uses_resident_id_layout
from erhc_h5.records.standard import Violation, normalize_phone, normalize_record, validate_record
from erhc_h5.resident import limits
from erhc_h5.cards.service import issue_or_update_card
from erhc_h5.resident.models import VerificationSession
from erhc_h5.resident.states import VerificationState
from erhc_h5.resident.verification import Outcome, complete, data, expire_if_due, is_due, move
from erhc_h5.security.inputs import unsafe_text
from erhc_h5.security.masking import mask_address, mask_phone
from erhc_h5.uow import unit_of_work


def normalize_code(raw: str | None) -> str:
    """What an operator typed or scanned: case and separators ignored."""
    return re.sub(r"[^0-9A-Za-z]", "", raw or "").upper()[:12]


def find_pending(session: Session, raw_code: str | None) -> VerificationSession | None:
    """The session waiting on-site under this code, if still valid. A code found past its validity
    is expired and committed at once (joining the caller's unit of work, if any), although the
    operator is only told it is not found; a valid one is only read."""
    code = normalize_code(raw_code)
    if len(code) != 8:
        return None
    vs = session.scalar(select(VerificationSession).where(VerificationSession.onsite_code == code))
    if vs is None or vs.state != VerificationState.PENDING_ONSITE:
        return None
    if is_due(vs):
        with unit_of_work(session):
            expire_if_due(vs)
        return None
    return vs


def summary(vs: VerificationSession) -> dict:
    """What the operator sees: the registration in full (name, document, birth date, sex), to compare
    with the document in hand; contact details stay masked. For a staff page only, never logged."""
    values = data(vs)
    type_code, number = values.get("id_card_type_code") or "", values.get("idcode") or ""
    sex, birthday = values.get("sex") or "", values.get("birthday") or ""
    if uses_resident_id_layout(type_code, number):
        try:
            parsed = parse_resident_id(number)
            sex, birthday = parsed.sex, parsed.birthday.isoformat()
        except IdNumberError:
            pass  # shown as registered; the typed number is what decides
    return {
        "name": values.get("name") or "",
        "id_card_type": ID_CARD_TYPES.get(type_code, ""),
        "idcode": number,
        "birthday": birthday,
        "sex": SEX.get(sex, ""),
        "phone": mask_phone(values.get("phone")),
        "nation": NATIONS.get(values.get("nation") or "", ""),
        "current_address": mask_address(values.get("current_address")),
        "methods": method_label(vs.method),
        "face_passed": has_method(vs.method, AuthMethod.FACE),
        "expires_at": vs.onsite_expires_at,
    }


def opened(session: Session, vs: VerificationSession, staff_id: int) -> None:
    """Audit that this operator opened the registration in full; committed before the page shows it."""
    with unit_of_work(session):
        audit(session, "onsite.review_opened", actor_type="staff", actor_id=staff_id,
              target_type="verification_session", target_id=vs.id, detail={})


class DocumentMismatch(DomainError):
    """The document number typed from the card in hand is not the registered one."""

    reason = "document_mismatch"
    status = 422
    message = ("证件号码与登记信息不一致,不能确认。请核对居民出示的证件原件并重新输入;"
               "如证件与登记的不是同一人,请选择“人证不一致,不予通过”")


def check_document(session: Session, vs: VerificationSession, staff_id: int, typed: str | None) -> None:
    """Compare the number typed (or read by a card reader) with the registration: case and spaces
    (full-width too) ignored. Both outcomes are audited, without the number; DocumentMismatch
    when they differ (the audit row is to be committed all the same)."""
    registered = normalize_idcode(data(vs).get("idcode") or "")
    given = normalize_idcode(typed or "")
    matched = bool(given) and hmac.compare_digest(given.encode("utf-8"), registered.encode("utf-8"))
    audit(session, "onsite.document_checked", actor_type="staff", actor_id=staff_id,
          target_type="verification_session", target_id=vs.id,
          detail={"result": "match" if matched else "mismatch", "typed_length": len(given)})
    if not matched:
        log_event("onsite.document_mismatch", session=vs.id[:8])
        raise DocumentMismatch()


class AlreadyHandled(DomainError):
    """Another operator confirmed or rejected this code first (or it expired meanwhile)."""

    reason = "already_handled"
    status = 409
    message = "该认证码已由其他核验员处理,无需重复操作"


def _claim(session: Session, vs: VerificationSession) -> None:
    """Hold the session's row for this operator; operators acting at once queue here, and the later
    ones find it no longer pending."""
    lock_row(session, vs)
    if vs.state != VerificationState.PENDING_ONSITE or expire_if_due(vs):
        raise AlreadyHandled()


def confirm(session: Session, vs: VerificationSession, staff_id: int, note: str,
            document_number: str | None) -> Outcome:
    """The operator checked the document and typed its number: the pass with the session's methods
    ('4' or '3^4').

    Committed. Raises AlreadyHandled (rolled back) when another operator got there first,
    RecordInvalid (rolled back) when the standard refuses the record, DocumentMismatch when the
    number is not the registered one: then nothing changed but the audit row of the refused number,
    which is committed on purpose (every mismatch stays on record) before the error is raised."""
    with unit_of_work(session):
        _claim(session, vs)
        try:
            check_document(session, vs, staff_id, document_number)
        except DocumentMismatch as exc:
            mismatch = exc
        else:
            return complete(session, vs, vs.method or AuthMethod.ONSITE, staff_id=staff_id, note=note)
    raise mismatch


def reject(session: Session, vs: VerificationSession, staff_id: int, note: str) -> None:
    """The document does not match the person: the session fails and the failure counts for the
    identity. Committed; AlreadyHandled (rolled back) when another operator got there first."""
    with unit_of_work(session):
        _claim(session, vs)
        limits.record_event(session, "failure", session_id=vs.id, subject=vs.subject_hash, phone=vs.phone_bidx,
                            ip=vs.ip_hash, reason="onsite_rejected")
        if vs.subject_hash:
            limits.count_failure(session, limits.Who.of(vs))
        vs.confirmed_by_id, vs.confirm_note, vs.failure_reason = staff_id, note, "onsite_rejected"
        move(vs, VerificationState.FAILED)
        audit(session, "onsite.rejected", actor_type="staff", actor_id=staff_id,
              target_type="verification_session", target_id=vs.id, detail={})
    log_event("onsite.rejected", session=vs.id[:8])


REGISTER_FIELDS = ("name", "id_card_type_code", "idcode", "nationality", "nation", "county_code", "current_address",
                   "address", "birthplace", "linkman", "telephone")


def register_without_phone(session: Session, app: FiledApp, form: dict, staff_id: int, note: str):
    """Method 4 for a resident with no phone: the contact person's mobile fills ``phone`` and ``telephone``.

    Returns (card, []), committed, or (None, violations) with nothing written; RecordInvalid (rolled
    back) when the record builder refuses it."""
    with unit_of_work(session):
        return _register(session, app, form, staff_id, note)


def _register(session: Session, app: FiledApp, form: dict, staff_id: int, note: str):
    """The registration's checks, then the card, in the caller's transaction."""
    record = normalize_record({k: form.get(k) or "" for k in REGISTER_FIELDS + ("sex", "birthday")})
    fields = REGISTER_FIELDS + ("phone",)
    if not uses_resident_id_layout(record["id_card_type_code"], record["idcode"]):
        fields += ("sex", "birthday")
    else:
        record.pop("sex"), record.pop("birthday")
    record["phone"] = normalize_phone(record["telephone"] or "")
    violations = validate_record(record, fields=fields) + unsafe_text(record)
    for key, label in (("linkman", "联系人姓名"), ("telephone", "联系人手机号")):
        if not record.get(key):
            violations.append(Violation(key, "required", f"{label}不能为空(本人无手机时须登记联系人)"))
    fixed = {v.field: v for v in violations if v.field != "phone"}
    for v in violations:  # a phone problem is the contact's mobile: show it there
        if v.field == "phone" and "telephone" not in fixed:
            fixed["telephone"] = Violation("telephone", v.reason, v.message.replace("手机号", "联系人手机号"))
    if fixed:
        return None, list(fixed.values())
    identity = {k: (v or None) for k, v in record.items()}
    card = issue_or_update_card(session, identity, app, methods=AuthMethod.ONSITE)
    audit(session, "onsite.registered", actor_type="staff", actor_id=staff_id, target_type="card",
          target_id=card.id, detail={"note_len": len(note), "at": utcnow().isoformat()})
    log_event("onsite.registered", card_id=card.id)
    return card, []

