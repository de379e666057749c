"""The resident's side of the code: the card to show, a fresh rendered code, and the scan receipt."""
from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from erhc_h5.audit import audit
from erhc_h5.code import render, tokens
from erhc_h5.db import utcnow, writing
from erhc_h5.resident import session as resident_session
from erhc_h5.cards.service import cancel_card
from erhc_h5.cards.models import CARD_LINK_VERIFIED, AppUser, EHealthCard
from erhc_h5.scan.models import ScanEvent
from erhc_h5.uow import unit_of_work

RECEIPT_DAYS = 30


@dataclass(frozen=True)
class CodeImage:
    src: str  # data: URI
    expires_at: int
    ttl: int


def card_of(app_user: AppUser | None) -> EHealthCard | None:
    """The active card a launched app user may show, or None.

    A provisional link (a registration awaiting its check) shows only an unauthenticated card:
    should the card have become authenticated by someone else's pass, this user has no card."""
    if app_user is None or app_user.card_id is None:
        return None
    card = app_user.card
    if card is None or card.status != "active":
        return None
    if app_user.card_link != CARD_LINK_VERIFIED and card.recognize_flag == 1:
        return None
    return card


def fresh_code(session: Session, card: EHealthCard, fmt: str = "png", now: float | None = None,
               ref: str | None = None) -> CodeImage:
    """Issue a new code for the card and render it (PNG or SVG data URI); ``ref``: the card's code
    reference if the caller read it in this transaction."""
    issued = tokens.issue(session, card.id, now, ref=ref)
    modules = render.matrix(issued.text)
    if fmt == "svg":
        src = "data:image/svg+xml;base64," + base64.b64encode(render.svg(modules).encode()).decode("ascii")
    else:
        src = "data:image/png;base64," + base64.b64encode(render.png(modules, scale=8)).decode("ascii")
    return CodeImage(src, issued.expires_at, issued.expires_at - issued.issued_at)


def show_code(session: Session, card: EHealthCard, fmt: str = "png", *, loaded_ref: str | None) -> CodeImage:
    """A fresh code for the card's face, committed before it is shown: what issuing it wrote (the
    first signing key, when none exists yet) is every worker's by the time a scanner reads it.
    ``loaded_ref``: the card's code reference as this request read it ("": it has none yet; None:
    not read)."""
    ref = _new_card_ref(session, card) if loaded_ref == "" else loaded_ref
    with unit_of_work(session):
        return fresh_code(session, card, fmt, ref=ref)


def _new_card_ref(session: Session, card: EHealthCard) -> str:
    """A card's first code creates its reference. The read transaction is committed here on purpose
    and the reference written in a transaction of its own that takes the write lock at BEGIN (on
    SQLite a write from a read transaction would lose to any parallel writer and the whole page would
    run again); the code is then signed and drawn outside it."""
    session.commit()
    with writing(), unit_of_work(session):
        return tokens.card_ref(session, card.id, "")  # none was read: insert it, or read a parallel request's


def cancel(session: Session, card: EHealthCard, app_user: AppUser) -> None:
    """The resident cancels their own card, committed; a parallel cancellation that came first leaves
    nothing to write (and nothing audited twice). Every session of the card's app users ends, copies
    of this browser's cookie included; this browser alone is bound again at the account's new
    version, so the resident who cancelled reads the confirmation and may start again."""
    with unit_of_work(session):
        if cancel_card(session, card):
            audit(session, "card.cancelled", actor_type="resident", actor_id=app_user.id, target_type="card",
                  target_id=card.id, detail={"by": "resident"})
        version = session.scalar(select(AppUser.session_version).where(AppUser.id == app_user.id))
    set_committed_value(app_user, "session_version", version)
    resident_session.bind(app_user, resident_session.consent_version())


def receipt(session: Session, card: EHealthCard, days: int = RECEIPT_DAYS) -> list[ScanEvent]:
    """Scans of this card's codes in the last ``days`` days, newest first."""
    since: dt.datetime = utcnow() - dt.timedelta(days=days)
    return list(session.scalars(
        select(ScanEvent).where(ScanEvent.card_id == card.id, ScanEvent.at >= since).order_by(ScanEvent.at.desc()).limit(500)
    ))


def face_passed_waiting(session: Session, app_user) -> bool:
    """The user's face check passed and the on-site step is still to come (the code page says so)."""
    from erhc_h5.records.codes import FACE_THEN_ONSITE
    from erhc_h5.resident.models import VerificationSession
    from erhc_h5.resident.states import VerificationState

    if app_user is None:
        return False
    return session.scalar(
        select(VerificationSession.id).where(VerificationSession.app_user_id == app_user.id,
                                             VerificationSession.state == VerificationState.PENDING_ONSITE,
                                             VerificationSession.method == FACE_THEN_ONSITE).limit(1)) is not None
