"""Card issuance: one e-health card per person per city, and the record version of every change.

The binding rule (README, "Binding a person to a card"):
- a check the provider refuted creates and changes no card and sends nothing upward;
- a registration that awaits its check (on-site) holds a card with recognize_flag 0, linked
  *provisionally* to the app user who made it; it never shows an authenticated code and nothing of
  it goes upward until a check passes;
- a passed check makes the lasting (verified) link at its level; when the person passes, the verified
  details replace unverified ones, every other provisional link and every link made by a weaker
  check ends, and codes shown before stop scanning (the card's code reference is renewed);
- assurance only climbs (``cards/assurance.py``): a check below the card's level changes
  nothing and links nobody (StepUpRequired); a new link to a card whose phone was proven queues an
  SMS to that phone (``cards/notices.py``).

Each function works inside the caller's transaction and writes the card change, its 5.2.2 record
version and that version's outbox entry together; the caller commits once.
"""
from __future__ import annotations


from sqlalchemy import delete, inspect, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from erhc_h5.code.models import CardCodeRef
from erhc_h5.db import utcnow
from erhc_h5.filing.models import FiledApp
from erhc_h5.cards.identity import Identity
from erhc_h5.cards.writer import apply_identity, new_card_no, passed_card
from erhc_h5.records.idnumbers import normalize_idcode
from erhc_h5.records.versions import record_card_version
from erhc_h5.records.standard import canonical_methods
from erhc_h5.cards import notices
from erhc_h5.cards.assurance import PHONE_PROVEN_LEVEL, level_of, proves_phone
from erhc_h5.cards.models import CARD_LINK_PROVISIONAL, CARD_LINK_VERIFIED, AppUser, EHealthCard
from erhc_h5.security.pii import blind_index, make_empi

# What a resident may change on a card without a new check.
EDITABLE_COLUMNS = ("nation", "address", "phone", "linkman", "telephone", "birthplace", "county_code",
                    "current_address")


def ensure_app_user(session: Session, app: FiledApp, app_user_id: str) -> AppUser:
    """The app user row for (app, app user id), created on first sight."""
    user = session.scalar(select(AppUser).where(AppUser.app_id == app.id, AppUser.app_user_id == app_user_id))
    if user is None:
        user = AppUser(app_id=app.id, app_user_id=app_user_id)
        session.add(user)
        session.flush()
    return user


def find_card(session: Session, id_card_type_code: str, idcode: str, nationality: str | None = None) -> EHealthCard | None:
    """The person's card, if any, whatever document type the number is typed under (by empi, never the clear number)."""
    empi = make_empi(id_card_type_code, normalize_idcode(idcode), nationality)
    return session.scalar(select(EHealthCard).where(EHealthCard.empi == empi))


def _card_of(session: Session, person: Identity) -> EHealthCard | None:
    return session.scalar(select(EHealthCard).where(EHealthCard.empi == person.person_key))


def _claim_new_card(session: Session, person: Identity, app: FiledApp, methods: str | None = None) -> EHealthCard | None:
    """Insert the person's first card; None when a parallel request inserted it first (one card per person).

    ``methods``: the person passed by them; the card is inserted authenticated, as
    ``issue_or_update_card`` would leave it, so no UPDATE follows the INSERT."""
    card = EHealthCard(erhc_card_no=new_card_no(), empi=person.person_key, recognize_flag=0,
                       authentication_method="", status="active", app_id=app.id)
    if methods:
        passed_card(card, person.values, app, methods, normalized=True)
    else:
        apply_identity(card, person.values, normalized=True)
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # One statement instead of SAVEPOINT, INSERT, RELEASE: a conflict on the person (empi)
        # inserts nothing and returns no row; the returned card joins the session.
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        values = {attr.key: getattr(card, attr.key) for attr in inspect(EHealthCard).column_attrs
                  if attr.key in card.__dict__}
        claimed = session.scalars(
            insert_(EHealthCard).values(**values).on_conflict_do_nothing(index_elements=["empi"])
            .returning(EHealthCard)
        ).first()
        if claimed is None:
            return None
        set_committed_value(claimed, "app", app)  # the row's app_id is app.id: no read, no change
        return claimed
    card.app = app  # pragma: no cover - other databases
    try:
        with session.begin_nested():
            session.add(card)
            session.flush()
    except IntegrityError:
        return None
    return card


def end_card_sessions(db: Session, card_id: int) -> None:
    """End the sessions of every app user linked to this card (call before the links are removed)."""
    db.execute(update(AppUser).where(AppUser.card_id == card_id)
               .values(session_version=AppUser.session_version + 1).execution_options(synchronize_session=False))


class StepUpRequired(Exception):
    """A check below the card's level passed: nothing changes; a method of ``required`` level will do."""

    def __init__(self, card: EHealthCard, required: int) -> None:
        super().__init__(f"level {required} required")
        self.card, self.required = card, required


def link(session: Session, app_user: AppUser, card: EHealthCard, *, verified: bool, level: int = 0) -> None:
    """Tie an app user to a card: lasting after a pass (at the check's level), provisional while a
    registration awaits its check."""
    if not verified and app_user.card_link == CARD_LINK_VERIFIED and app_user.card_id is not None:
        return  # a pending registration never displaces the person this account already proved to be
    same = app_user.card_id == card.id and app_user.card_link == CARD_LINK_VERIFIED
    app_user.card_id = card.id
    app_user.card_link = CARD_LINK_VERIFIED if verified else CARD_LINK_PROVISIONAL
    app_user.link_level = max(level, app_user.link_level or 0) if same and verified else (level if verified else 0)


def authority(card: EHealthCard, app_user: AppUser | None, level: int) -> int:
    """What a request may do to ``card``: its fresh check's level, or its account's link to this card."""
    linked = (app_user.link_level or 0) if (app_user is not None and app_user.card_id == card.id
                                            and app_user.card_link == CARD_LINK_VERIFIED) else 0
    return max(level, linked)


def _end_weaker_links(session: Session, card: EHealthCard, keep: AppUser | None, level: int) -> int:
    """The person passed at ``level``: nobody else keeps an unverified hold on their card, nor a link made
    by a weaker check, nor a code shown before (the card's code reference is renewed). Returns links ended."""
    weaker = or_(AppUser.card_link == CARD_LINK_PROVISIONAL, AppUser.link_level < level)
    query = update(AppUser).where(AppUser.card_id == card.id, weaker)
    if keep is not None and keep.id is not None:
        query = query.where(AppUser.id != keep.id)
    ended = session.execute(query.values(card_id=None, card_link=None, link_level=0)
                            .execution_options(synchronize_session="fetch")).rowcount or 0
    session.execute(delete(CardCodeRef).where(CardCodeRef.card_id == card.id))
    return ended


def _apply_pass(card: EHealthCard, person: Identity, level: int, methods: str, was_verified: bool) -> None:
    """A pass whose authority reaches the card's level: its details replace those of a weaker check (an
    unverified card's, or a profile a lower level supplied); otherwise a verified card keeps what the pass
    leaves blank. The phone stays proven only if unchanged or proven now."""
    old_phone = card.phone
    apply_identity(card, person.values, replace=not was_verified or level > card.profile_level, normalized=True)
    if proves_phone(methods):
        card.phone_level = PHONE_PROVEN_LEVEL
    elif not (was_verified and card.phone == old_phone):
        card.phone_level = 0
    card.profile_level = level


def issue_or_update_card(
    session: Session, identity: dict | Identity, app: FiledApp, *, methods: str | None, app_user: AppUser | None = None,
    staff: bool = False,
) -> EHealthCard:
    """Create or update the person's card.

    ``methods`` set (e.g. '2' or '3^4'): the person passed by them. A check whose level, or whose
    account's link to this card, reaches the card's level makes the card authenticated, joins its
    methods, replaces its unproven details and links ``app_user`` for good; a weaker one raises
    StepUpRequired and writes nothing (assurance only climbs). ``staff``: an operator registers the
    person with the document in hand (the bulk import), which has the on-site level's authority.
    ``methods`` None: a registration awaiting its check; a new card gets recognize_flag 0 and a
    provisional link, and nothing goes upward until a check passes; an existing card is left
    untouched (only a pass changes someone's card).
    """
    person = Identity.of(identity)
    level = level_of(methods)
    card = _card_of(session, person)
    created = False
    if card is None:
        card = _claim_new_card(session, person, app, methods)
        created = card is not None
        if created and methods:  # inserted as the pass leaves it (the update path below, written at once)
            record_card_version(session, card, "i", new_card=True)
            if app_user is not None:
                link(session, app_user, card, verified=True, level=level)
            return card
        card = card or _card_of(session, person)
    if not methods:
        if app_user is not None and not card.is_authenticated:
            link(session, app_user, card, verified=False)
        return card
    was_verified = card.recognize_flag == 1 and card.status == "active"
    if was_verified and not staff and authority(card, app_user, level) < card.assurance_level:
        raise StepUpRequired(card, card.assurance_level)
    reopened = card.status == "cancelled"
    linked_before = app_user is not None and app_user.card_id == card.id and app_user.card_link == CARD_LINK_VERIFIED
    if not created and (not was_verified or level > card.assurance_level):
        _end_weaker_links(session, card, app_user, max(level, card.assurance_level if was_verified else 0))
    _apply_pass(card, person, level, methods, was_verified)
    card.recognize_flag = 1
    card.assurance_level = max(level, card.assurance_level if was_verified else 0)
    card.authentication_method = canonical_methods(card.authentication_method if was_verified else "", methods)
    card.authenticated_at = utcnow()
    card.status, card.cancelled_at = "active", None
    card.app, card.app_id = app, app.id
    record_card_version(session, card, "i" if reopened else None)  # 'i' for a card never sent upward
    if app_user is not None:
        link(session, app_user, card, verified=True, level=level)
        if was_verified and not linked_before:
            notices.queue_link_notice(session, card, app_user, app)
    return card


def update_profile(session: Session, card: EHealthCard, changes: dict) -> EHealthCard:
    """Apply profile edits and write an 'u' version if anything changed."""
    changed = False
    for column in EDITABLE_COLUMNS:
        if column in changes and getattr(card, column) != (changes[column] or None):
            setattr(card, column, changes[column] or None)
            changed = True
    if changed:
        card.phone_bidx = blind_index("phone", card.phone) if card.phone else None
        record_card_version(session, card, "u")
    return card


def cancel_card(session: Session, card: EHealthCard) -> bool:
    """Cancel a card: its codes scan 'revoked', a 'd' version goes upward, every link to it ends.

    One conditional UPDATE decides: of parallel cancellations exactly one writes the 'd' version.
    False when the card was already cancelled (nothing written)."""
    now = utcnow()
    won = session.execute(
        update(EHealthCard).where(EHealthCard.id == card.id, EHealthCard.status != "cancelled")
        .values(status="cancelled", cancelled_at=now).execution_options(synchronize_session=False)
    ).rowcount == 1
    session.refresh(card)
    if not won:
        return False
    record_card_version(session, card, "d")
    end_card_sessions(session, card.id)
    session.execute(update(AppUser).where(AppUser.card_id == card.id).values(card_id=None, card_link=None, link_level=0)
                    .execution_options(synchronize_session="fetch"))
    return True

