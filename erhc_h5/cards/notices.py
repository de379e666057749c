"""Link notices: the card's proven phone hears of every new app account linked to the card.

A notice is written in the transaction that makes the link (so it cannot be lost) and sent after
the commit, once the response has gone out (``erhc_h5.afterwards``); a failure is recorded on the row,
logged and counted, and never blocks the resident. ``flask notices send`` retries what is left.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from erhc_h5.afterwards import after_commit
from erhc_h5.db import utcnow, write_transaction
from erhc_h5.identity import ProviderUnavailable, get_providers
from erhc_h5.logs import log_event
from erhc_h5.helpdesk import hotline
from erhc_h5.cards.models import LinkNotice, NoticeState
from erhc_h5.security.masking import mask_account
from erhc_h5.timefmt import fmt

MAX_ATTEMPTS = 5
SENDING_STALE_AFTER = dt.timedelta(minutes=10)  # far beyond a gateway call's deadline


def queue_link_notice(session: Session, card, app_user, app) -> LinkNotice | None:
    """Note that ``app_user`` was linked to ``card``; None when the card has no proven phone."""
    if not card.phone or (card.phone_level or 0) < 2:
        return None
    notice = LinkNotice(card_id=card.id, app_user_id=app_user.id, phone=card.phone, state=NoticeState.PENDING, attempts=0,
                        last_error="", params={"time": fmt(utcnow(), "%Y-%m-%d %H:%M"), "app": app.app_name,
                                               "account": mask_account(app_user.app_user_id), "hotline": hotline()})
    session.add(notice)
    session.flush()
    after_commit(session, "link_notice", notice.id, _send_queued)
    log_event("card.link_notice_queued", card_id=card.id, notice=notice.id)
    return notice


def claim(session: Session, notice: LinkNotice, now: dt.datetime | None = None) -> bool:
    """Mark the notice ``sending`` (its attempt counted), committed before the gateway is asked: of
    senders taking one notice at once (the request's after-response send, ``flask notices send``)
    exactly one wins. A sender killed after its claim leaves it ``sending``; after
    ``SENDING_STALE_AFTER`` the next run takes it again."""
    now = now or utcnow()
    write_transaction(session)
    won = session.execute(
        update(LinkNotice).where(LinkNotice.id == notice.id, _takeable(now))
        .values(state=NoticeState.SENDING, sent_at=now, attempts=LinkNotice.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if won:
        session.refresh(notice)
    session.commit()
    return won


def _takeable(now: dt.datetime):
    return or_(LinkNotice.state == NoticeState.PENDING,
               and_(LinkNotice.state == NoticeState.SENDING, LinkNotice.sent_at < now - SENDING_STALE_AFTER))


def send(session: Session, notice: LinkNotice) -> bool:
    """Send one notice now (its attempt claimed by ``claim``); True when the gateway accepted it.
    The caller commits."""
    notice.sent_at = None
    try:
        get_providers().sms.send_notice(notice.phone, dict(notice.params))
    except ProviderUnavailable as exc:
        notice.last_error = exc.reason[:64]
        notice.state = NoticeState.FAILED if notice.attempts >= MAX_ATTEMPTS else NoticeState.PENDING
        log_event("card.link_notice_failed", notice=notice.id, reason=exc.reason, attempts=notice.attempts)
        return False
    notice.state, notice.sent_at, notice.last_error = NoticeState.SENT, utcnow(), ""
    log_event("card.link_notice_sent", notice=notice.id)
    return True


def send_pending(session: Session, ids: list[int] | None = None) -> dict:
    """Send the given notices (or every pending one); {"sent": n, "failed": m}. Commits each."""
    query = select(LinkNotice).where(_takeable(utcnow())).order_by(LinkNotice.id)
    if ids is not None:
        query = query.where(LinkNotice.id.in_(ids))
    result = {"sent": 0, "failed": 0}
    found = session.scalars(query).all()
    session.commit()  # each claim begins a write transaction of its own
    for notice in found:
        if not claim(session, notice):
            continue
        result["sent" if send(session, notice) else "failed"] += 1
        session.commit()
    return result


def _send_queued(ids: list[int]) -> None:
    """Send the notices a committed transaction queued (``afterwards``), in a session of their own."""
    from erhc_h5.db import session_scope

    with session_scope() as db:
        send_pending(db, ids)
