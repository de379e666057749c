"""The scan API's production path (a plain Core connection on the engine, real commits)."""
from __future__ import annotations

from sqlalchemy import func, select

from erhc_h5.sandbox import demo
from erhc_h5.code import tokens
from erhc_h5.db import session_scope
from erhc_h5.scan.models import ScanEvent
from tests.code.helpers import post_scan
from tests.factories import make_card


_post = post_scan


def test_scan_commits_one_event_per_request_and_replay_is_seen_across_requests(fresh_app):
    with fresh_app.app_context(), session_scope() as s:
        seeded = demo.seed(fresh_app, s)
        s.commit()
        card, _, identity = make_card(s, seeded, methods="2")
        code = tokens.issue(s, card.id).text
        other = tokens.issue(s, card.id).text
        second_device = demo_device(s)
    client = fresh_app.test_client()
    first = _post(client, seeded["device_token"], code)
    assert first.status_code == 200 and first.json["resident"]["idcode"] == identity["idcode"]
    assert _post(client, seeded["device_token"], code).status_code == 200  # rescan, same device
    replay = _post(client, second_device, code)
    assert replay.status_code == 422 and replay.json["error"] == "replayed"
    assert _post(client, "dev_nope", other).status_code == 401
    bad = _post(client, seeded["device_token"], other[:-5] + ("A" if other[-5] != "A" else "B") + other[-4:])
    assert bad.json["error"] == "bad_signature"
    with fresh_app.app_context(), session_scope() as s:
        results = s.scalars(select(ScanEvent.result).order_by(ScanEvent.id)).all()
        assert results == ["authenticated", "authenticated", "replayed", "bad_signature"]
        assert s.scalar(select(func.count()).select_from(ScanEvent).where(ScanEvent.voucher_no.is_not(None))) == 2


def demo_device(session) -> str:
    from erhc_h5.scan.devices import enrol_device

    _, token = enrol_device(session, "second", "site B")
    session.commit()
    return token
