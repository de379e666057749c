"""A link notice is sent once, though the request that queued it (after its response) and
``flask notices send`` may both take it at the same moment."""
from __future__ import annotations

import threading

from erhc_h5.sandbox import demo
from erhc_h5.db import session_scope
from erhc_h5.identity import ProviderUnavailable, get_providers
from erhc_h5.cards import notices
from erhc_h5.cards.service import ensure_app_user, issue_or_update_card
from tests.factories import person
from tests.support import demo_app, in_parallel_sessions

SENDERS = 30


def _pending_notice(app, monkeypatch) -> int:
    """A notice whose first send (right after its commit) met a gateway that was down."""
    def down(phone, params):
        raise ProviderUnavailable("timeout")

    monkeypatch.setattr(get_providers(app).sms, "send_notice", down)
    with app.app_context(), session_scope(app) as session:
        demo.seed(app, session)
        filed = demo_app(session)
        card = issue_or_update_card(session, person(8801, phone="13900008801"), filed, methods="2")
        notice = notices.queue_link_notice(session, card, ensure_app_user(session, filed, "notice-race"), filed)
        assert notice is not None, "the card's phone is proven: a notice is due"
        return notice.id


def test_thirty_senders_of_one_notice_send_it_once(fresh_app, monkeypatch):
    notice_id = _pending_notice(fresh_app, monkeypatch)
    sent: list[str] = []
    guard = threading.Lock()
    sms = get_providers(fresh_app).sms
    monkeypatch.undo()
    real = sms.send_notice

    def counting(phone, params):
        with guard:
            sent.append(phone)
        return real(phone, params)

    monkeypatch.setattr(sms, "send_notice", counting)
    errors = in_parallel_sessions(fresh_app, SENDERS, lambda session: notices.send_pending(session, [notice_id]),
                                  timeout=60)
    assert len(sent) == 1, f"the notice went out {len(sent)} times"
    assert not errors, errors
