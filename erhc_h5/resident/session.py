"""The resident's browser session: which app user this is, bound at launch.

A session ends when idle (``SESSION_IDLE_MINUTES``, the cookie's signed age), at the latest
``RESIDENT_SESSION_MAX_HOURS`` after its launch however often it is used, and as soon as its app
user's ``session_version`` moves on (a new launch of the account, a card cancellation)."""
from __future__ import annotations

import time
from collections.abc import Iterable
from functools import lru_cache

from flask import current_app, g, request
from flask import session as cookie
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from erhc_h5.code.models import CardCodeRef
from erhc_h5.db import get_session
from erhc_h5.cards.models import AppUser
from erhc_h5.resident.models import VerificationSession
from erhc_h5.uow import unit_of_work

KEY = "resident"


def _now() -> float:
    """Unix seconds (tests move this clock)."""
    return time.time()


def end_sessions(db: Session, app_user_ids: Iterable[int | None]) -> None:
    """Every resident session of these app users stops working on its next request.

    One UPDATE raises each user's ``session_version`` in the caller's transaction (effective at its
    commit); parallel callers each raise it, none is lost."""
    ids = sorted({i for i in app_user_ids if i is not None})
    if ids:
        db.execute(update(AppUser).where(AppUser.id.in_(ids))
                   .values(session_version=AppUser.session_version + 1).execution_options(synchronize_session=False))


def start(db: Session, app_user: AppUser) -> None:
    """A verified launch: end this app user's other sessions, then bind this browser to it.

    Of parallel launches of one account each gets its own version; the last to commit is the one
    that stays valid. Committed (joining the caller's unit of work, if any)."""
    with unit_of_work(db):
        version = db.execute(update(AppUser).where(AppUser.id == app_user.id)
                             .values(session_version=AppUser.session_version + 1)
                             .returning(AppUser.session_version)
                             .execution_options(synchronize_session=False)).scalar_one()
        set_committed_value(app_user, "session_version", version)
        bind(app_user)


def bind(app_user: AppUser, consent_version: str | None = None) -> None:
    """Bind this browser to the app user at its current ``session_version`` (see ``start``)."""
    cookie.clear()
    g.pop("_erhc_app_user", None)
    cookie[KEY] = {"app_user": app_user.id, "app": app_user.app_id, "consent": consent_version,
                   "v": int(app_user.session_version or 1), "iat": int(_now())}
    cookie.permanent = True


def bound_id() -> int | None:
    """The app user id the cookie names (not checked: see ``current_app_user``)."""
    data = cookie.get(KEY)
    return data["app_user"] if isinstance(data, dict) and isinstance(data.get("app_user"), int) else None


def _within_lifetime(data: dict) -> bool:
    issued = data.get("iat")
    if not isinstance(issued, int):
        return False
    return _now() - issued <= float(current_app.config["RESIDENT_SESSION_MAX_HOURS"]) * 3600


def current_app_user(*, with_verification: bool = False, with_card: bool = False) -> AppUser | None:
    """The launched app user of this browser, or None; read once per request, with its filed app.

    The row is read from the database on every request (a changed binding or a suspended app takes
    effect on the next request). One statement reads, in the same round trip, what the caller is
    about to use: ``with_verification`` the browser's current verification session (only the
    user's own; ``verification.load`` then finds it without another read), ``with_card`` the card
    the user is linked to."""
    data = cookie.get(KEY)
    if not isinstance(data, dict) or not isinstance(data.get("app_user"), int) or not _within_lifetime(data):
        return None
    session = get_session()
    key = (request._get_current_object(), session)
    cached = g.get("_erhc_app_user")
    # Reused only within the request and database session that read it (SQLite's retry of a GET
    # starts a new session; tests may keep one app context, and g, across requests).
    if (cached is not None and cached[0] == key and cached[1].id == data["app_user"]
            and not with_verification and not with_card):
        return cached[1]
    vs_id = verification_id() if with_verification else None
    params = {"user_id": data["app_user"], "vs_id": vs_id}
    row = session.execute(_user_query(bool(vs_id), with_card), params).first()
    # The version is compared as read by this statement (an object already in the session's
    # identity map keeps its loaded attributes).
    if row is None or row[0].app_id != data.get("app") or row[1] != data.get("v"):
        return None
    user = row[0]
    # The identity map holds objects weakly: keep this request's user (and session) alive.
    g._erhc_app_user = (key, user)
    g._erhc_loaded = tuple(row[2:])
    g._erhc_card_ref = (key, user.card_id, row[-1]) if with_card else None
    return user


@lru_cache(maxsize=4)
def _user_query(with_verification: bool, with_card: bool):
    """The statement reading the user (built once; it runs on every resident request)."""
    query = (select(AppUser, AppUser.session_version).options(joinedload(AppUser.app))
             .where(AppUser.id == bindparam("user_id")))
    if with_verification:
        query = query.add_columns(VerificationSession).outerjoin(
            VerificationSession,
            and_(VerificationSession.id == bindparam("vs_id"), VerificationSession.app_user_id == AppUser.id))
    if with_card:
        query = query.options(joinedload(AppUser.card)).add_columns(CardCodeRef.ref).outerjoin(
            CardCodeRef, CardCodeRef.card_id == AppUser.card_id)
    return query


def loaded_card_ref(card_id: int) -> str | None:
    """The code reference of ``card_id`` if this request read it with the user (``with_card``): the
    reference, or "" when the card had none; None when it was not read."""
    loaded = g.get("_erhc_card_ref")
    if loaded is None or loaded[0] != (request._get_current_object(), get_session()) or loaded[1] != card_id:
        return None
    return loaded[2] or ""


def set_consent(version: str) -> None:
    data = dict(cookie.get(KEY) or {})
    data["consent"] = version
    cookie[KEY] = data


def consent_version() -> str | None:
    data = cookie.get(KEY)
    return data.get("consent") if isinstance(data, dict) else None


def set_verification(session_id: str | None) -> None:
    """Remember this browser's current verification session (or forget it with None)."""
    data = dict(cookie.get(KEY) or {})
    data["vs"] = session_id
    cookie[KEY] = data


def verification_id() -> str | None:
    data = cookie.get(KEY)
    value = data.get("vs") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None
