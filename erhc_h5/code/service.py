"""The resident's side of the code: the card to show, a fresh rendered code, and the scan receipt."""
from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.code import render, tokens
from erhc_h5.db import utcnow
from erhc_h5.resident.models import CARD_LINK_VERIFIED, AppUser, EHealthCard
from erhc_h5.scan.models import ScanEvent

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


def receipt(session: Session, card: EHealthCard, days: int = RECEIPT_DAYS) -> list[ScanEvent]:
    """Scans of this card's codes in the last ``days`` days, newest first."""
    since: dt.datetime = utcnow() - dt.timedelta(days=days)
    return list(session.scalars(
        select(ScanEvent).where(ScanEvent.card_id == card.id, ScanEvent.at >= since).order_by(ScanEvent.at.desc()).limit(500)
    ))


def face_passed_waiting(session: Session, app_user) -> bool:
    """The user's face check passed and the on-site step is still to come (the code page says so)."""
    from erhc_h5.resident.models import VerificationSession

    if app_user is None:
        return False
    return session.scalar(
        select(VerificationSession.id).where(VerificationSession.app_user_id == app_user.id,
                                             VerificationSession.state == "pending_onsite",
                                             VerificationSession.method == "3^4").limit(1)) is not None
