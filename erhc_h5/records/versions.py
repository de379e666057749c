"""The record builder: every change to a card becomes a validated record version in the outbox."""
from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.errors import DomainError
from erhc_h5.records.models import AuthRecord
from erhc_h5.sync.models import OutboxEntry
from erhc_h5.sync.outbox import pending_entry
from erhc_h5.timefmt import BEIJING, SECONDS, beijing_now
from erhc_h5.records.codes import to_alpha3
from erhc_h5.records.standard import CHINESE_DOCUMENT_TYPES, FIELD_NAMES, Violation, normalize_county, validate_record

CD_TIME_FORMAT = SECONDS


class RecordInvalid(DomainError, ValueError):
    """The card cannot produce a valid 5.2.2 record; nothing was written. ``violations`` name each
    field and rule; the message joins their Chinese texts."""

    reason = "record_invalid"
    status = 422

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(message="信息不符合上报标准:" + ";".join(v.message for v in violations))
        self.violations = violations


def nationality_of(card) -> str | None:
    """GB/T 2659 alpha-3 as sent upward: numeric codes converted, CHN for Chinese documents when blank."""
    if card.nationality:
        return to_alpha3(card.nationality)
    return "CHN" if card.id_card_type_code in CHINESE_DOCUMENT_TYPES else None


def build_payload(card, *, record_id: str, operation: str, cd_time: str, cd_source: str) -> dict:
    """The 25-field record of a card, in wire types, with cd_batch left for the batch to fill."""
    app = card.app
    flag = 1 if card.recognize_flag == 1 else 0
    payload = {
        "id": record_id,
        "erhc_card_no": card.erhc_card_no,
        "empi": card.empi,
        "name": card.name,
        "sex": card.sex,
        "nation": card.nation,
        "nationality": nationality_of(card),
        "birthday": card.birthday,
        "address": card.address or None,
        "id_card_type_code": card.id_card_type_code,
        "idcode": card.idcode,
        "phone": card.phone,
        "linkman": card.linkman or None,
        "telephone": card.telephone or None,
        "birthplace": card.birthplace or None,
        "county_code": normalize_county(card.county_code) if card.county_code else None,
        "current_address": card.current_address or None,
        "authentication_method": card.authentication_method if flag else "",
        "app_record_no": app.access_code if app else None,
        "app_record_no_recognize": app.app_filing_no if app else None,
        "recognize_flag": flag,
        "cd_time": cd_time,
        "cd_source": cd_source,
        "cd_batch": None,
        "cd_operation": operation,
    }
    assert tuple(payload) == FIELD_NAMES
    return payload


def record_card_version(session: Session, card, operation: str | None = None, *, new_card: bool = False) -> AuthRecord:
    """Write the card's next record version and its outbox entry into the caller's transaction.

    ``operation`` defaults to 'i' for a card's first version and 'u' after; pass 'd' on
    cancellation. ``new_card``: the caller inserted the card in this transaction, so it has no
    version yet and none is looked for; otherwise the card's row is held until the transaction
    ends, so parallel writers read and advance the version counter in turn. Raises RecordInvalid
    (writing nothing) if the record would break the standard.
    """
    session.flush()  # the card needs its id
    if not new_card:  # the card's own row: FOR UPDATE cannot reach the outer join of its eager loads
        session.execute(select(type(card).id).where(type(card).id == card.id).with_for_update())
    last = None if new_card else session.scalars(
        select(AuthRecord).where(AuthRecord.card_id == card.id).order_by(AuthRecord.version.desc()).limit(1)
    ).first()
    record_id = last.record_id if last else uuid.uuid4().hex
    operation = operation or ("u" if last else "i")
    now = beijing_now()
    if last is not None:
        previous = dt.datetime.strptime(last.cd_time, CD_TIME_FORMAT).replace(tzinfo=BEIJING)
        if now <= previous:  # versions of one record are strictly ordered by cd_time
            now = previous + dt.timedelta(seconds=1)
    cd_time = now.strftime(CD_TIME_FORMAT)
    payload = build_payload(
        card, record_id=record_id, operation=operation, cd_time=cd_time,
        cd_source=current_app.config["CD_SOURCE"],
    )
    violations = validate_record(payload, fields=tuple(n for n in FIELD_NAMES if n != "cd_batch"))
    if violations:
        raise RecordInvalid(violations)
    record = AuthRecord(**record_columns(payload, card_id=card.id, version=(last.version + 1) if last else 1))
    session.add(record)
    session.flush()
    session.add(OutboxEntry(**pending_entry(record.id)))
    return record


def record_columns(payload: dict, *, card_id: int, version: int, stored_payload=None,
                   now: dt.datetime | None = None) -> dict:
    """The ``auth_records`` row of a record version (the ORM path and the bulk import both write it).

    ``stored_payload``: the payload as the column stores it, when the caller sealed it already."""
    return {
        "record_id": payload["id"], "version": version, "card_id": card_id, "cd_operation": payload["cd_operation"],
        "cd_time": payload["cd_time"], "recognize_flag": payload["recognize_flag"],
        "authentication_method": payload["authentication_method"], "app_record_no": payload["app_record_no"],
        "payload": payload if stored_payload is None else stored_payload, "created_at": now or utcnow(),
    }
