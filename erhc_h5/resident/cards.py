"""Card issuance: one e-health card per person per city, and the record version of every change.

Each function works inside the caller's transaction and writes the card change, its 5.2.2 record
version and that version's outbox entry together; the caller commits once.
"""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.filing.models import FiledApp
from erhc_h5.records.idnumbers import check_idcode, normalize_idcode
from erhc_h5.records.service import record_card_version
from erhc_h5.records.standard import canonical_methods
from erhc_h5.resident.models import AppUser, EHealthCard
from erhc_h5.security.pii import blind_index, make_empi

PROFILE_COLUMNS = (
    "name", "sex", "nation", "nationality", "birthday", "address", "phone", "linkman", "telephone",
    "birthplace", "county_code", "current_address",
)


def new_card_no() -> str:
    """A random 64-character uppercase hex e-health card number."""
    return secrets.token_hex(32).upper()


def ensure_app_user(session: Session, app: FiledApp, app_user_id: str) -> AppUser:
    """The app user row for (app, app user id), created on first sight."""
    user = session.scalar(select(AppUser).where(AppUser.app_id == app.id, AppUser.app_user_id == app_user_id))
    if user is None:
        user = AppUser(app_id=app.id, app_user_id=app_user_id)
        session.add(user)
        session.flush()
    return user


def find_card(session: Session, id_card_type_code: str, idcode: str) -> EHealthCard | None:
    """The card of this document, if any (looked up by empi, never by the clear number)."""
    empi = make_empi(id_card_type_code, normalize_idcode(idcode))
    return session.scalar(select(EHealthCard).where(EHealthCard.empi == empi))


def _apply_identity(card: EHealthCard, identity: dict) -> None:
    """Copy identity and profile values onto the card; sex and birthday come from a resident ID."""
    type_code = identity["id_card_type_code"]
    idcode = normalize_idcode(identity["idcode"])
    card.id_card_type_code = type_code
    card.idcode = idcode
    card.idcode_bidx = blind_index("idcode", f"{type_code}:{idcode}")
    for column in PROFILE_COLUMNS:
        if column in identity and identity[column] not in (None, ""):
            setattr(card, column, identity[column])
    parsed = check_idcode(type_code, idcode)
    if parsed is not None:
        card.sex = parsed.sex
        card.birthday = parsed.birthday.isoformat()
    if card.phone:
        card.phone_bidx = blind_index("phone", card.phone)


def issue_or_update_card(
    session: Session, identity: dict, app: FiledApp, *, methods: str | None, app_user: AppUser | None = None
) -> EHealthCard:
    """Create or update the person's card.

    ``methods`` set (e.g. '2' or '3^4'): the person passed real-name authentication by them; the
    card becomes authenticated and its methods are joined with those it already held.
    ``methods`` None: registration without passing; a new card gets recognize_flag 0, and an
    existing card is left untouched (a failed attempt never changes someone's card).
    """
    card = find_card(session, identity["id_card_type_code"], identity["idcode"])
    created = card is None
    if created:
        card = EHealthCard(
            erhc_card_no=new_card_no(),
            empi=make_empi(identity["id_card_type_code"], normalize_idcode(identity["idcode"])),
            recognize_flag=0,
            authentication_method="",
            status="active",
        )
        session.add(card)
    elif methods is None:
        return card
    _apply_identity(card, identity)
    if methods:
        card.recognize_flag = 1
        card.authentication_method = canonical_methods(card.authentication_method or "", methods)
        card.authenticated_at = utcnow()
        card.status = "active"
    card.app = app
    card.app_id = app.id
    record_card_version(session, card, "i" if created else "u")
    if app_user is not None and (methods or created):
        app_user.card_id = card.id
    return card


def update_profile(session: Session, card: EHealthCard, changes: dict) -> EHealthCard:
    """Apply profile edits and write an 'u' version if anything changed."""
    changed = False
    for column in PROFILE_COLUMNS:
        if column in changes and column not in ("sex", "birthday", "name") and getattr(card, column) != (changes[column] or None):
            setattr(card, column, changes[column] or None)
            changed = True
    if changed:
        if card.phone:
            card.phone_bidx = blind_index("phone", card.phone)
        record_card_version(session, card, "u")
    return card


def cancel_card(session: Session, card: EHealthCard) -> EHealthCard:
    """Cancel a card: it stops scanning as authenticated and a 'd' version goes upward."""
    card.status = "cancelled"
    record_card_version(session, card, "d")
    return card
