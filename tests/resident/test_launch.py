"""App launch: signed tickets, refusals with reason codes, the sandbox demo launch at /."""
from __future__ import annotations

import time

import pytest

from erhc_h5.resident.launch import make_launch_url, sign
from tests.support import demo_app


def test_valid_launch_binds_resident_and_opens_service(client, db_session, seeded):
    app = demo_app(db_session)
    response = client.get(make_launch_url(app, "u-100", app.launch_secret))
    assert response.status_code == 302 and response.headers["Location"] == "/h5/service"
    page = client.get("/h5/service").get_data(as_text=True)
    assert "接种疫苗" in page and "为什么要实名认证" in page and "开始实名认证" in page


def _query(url: str) -> dict:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query))


@pytest.mark.parametrize("mutate, status, reason", [
    (lambda q, s: q.update(sig="0" * 64), 403, "bad_signature"),
    (lambda q, s: q.update(uid="someone-else"), 403, "bad_signature"),
    (lambda q, s: q.update(app="NO-SUCH-APP"), 403, "unknown_app"),
    (lambda q, s: q.pop("nonce"), 400, "bad_ticket"),
    (lambda q, s: q.update(nonce="short"), 400, "bad_ticket"),
    (lambda q, s: q.update(ts="abc"), 400, "bad_ticket"),
])
def test_forged_or_malformed_launch_is_refused_in_chinese(client, db_session, seeded, mutate, status, reason):
    app = demo_app(db_session)
    query = _query(make_launch_url(app, "u-1", app.launch_secret))
    mutate(query, app.launch_secret)
    response = client.get("/h5/launch", query_string=query)
    body = response.get_data(as_text=True)
    assert response.status_code == status and reason in body and "无法进入接种疫苗服务" in body
    assert "Traceback" not in body
    assert client.get("/h5/service").status_code == 302  # no session was bound


def test_expired_and_replayed_launches(client, db_session, seeded, app):
    demo = demo_app(db_session)
    skew = app.config["LAUNCH_MAX_SKEW_SECONDS"]
    old = client.get(make_launch_url(demo, "u-1", demo.launch_secret, time.time() - skew - 5))
    assert old.status_code == 400 and "expired" in old.get_data(as_text=True)
    future = client.get(make_launch_url(demo, "u-1", demo.launch_secret, time.time() + skew + 5))
    assert future.status_code == 400
    url = make_launch_url(demo, "u-1", demo.launch_secret)
    assert client.get(url).status_code == 302
    again = client.get(url)
    assert again.status_code == 400 and "replayed" in again.get_data(as_text=True)


@pytest.mark.parametrize("status, reason", [("suspended", "app_suspended"), ("submitted", "app_not_approved")])
def test_suspended_or_unapproved_app_cannot_launch(client, db_session, seeded, status, reason):
    app = demo_app(db_session)
    app.status = status
    db_session.commit()
    response = client.get(make_launch_url(app, "u-1", app.launch_secret))
    assert response.status_code == 403 and reason in response.get_data(as_text=True)


def test_signature_is_hmac_sha256_over_the_documented_message():
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"A1\nu\n1700000000\nn" * 1, hashlib.sha256).hexdigest()
    assert sign("k", "A1", "u", 1700000000, "n") == expected


def test_demo_launch_at_root_keeps_the_same_resident(client, seeded):
    first = client.get("/")
    assert first.status_code == 302 and first.headers["Location"].startswith("/h5/launch?")
    assert client.get(first.headers["Location"]).headers["Location"] == "/h5/service"
    with client.session_transaction() as cookie:
        user_id = cookie["resident"]["app_user"]
    with client.session_transaction() as cookie:
        cookie.clear()  # the session cookie is lost; the demo uid cookie stays
    again = client.get("/")
    client.get(again.headers["Location"])
    with client.session_transaction() as cookie:
        assert cookie["resident"]["app_user"] == user_id


def test_demo_launch_seeds_the_demo_app_when_missing(client, db_session):
    first = client.get("/")
    assert first.status_code == 302
    assert client.get(first.headers["Location"]).headers["Location"] == "/h5/service"


def test_production_root_asks_to_enter_from_the_app(client, app, seeded):
    app.config["SANDBOX"] = False
    try:
        response = client.get("/")
        assert response.status_code == 200 and "请从城市App进入" in response.get_data(as_text=True)
        assert client.get("/h5/service").status_code == 401
    finally:
        app.config["SANDBOX"] = True


def _independent_sig(secret: str, *parts: str) -> str:
    import hashlib
    import hmac

    return hmac.new(secret.encode(), "\n".join(parts).encode(), hashlib.sha256).hexdigest()


def test_a_ticket_without_hint_is_signed_as_before_and_a_hint_is_signed_when_present(client, db_session, seeded):
    app = demo_app(db_session)
    plain = _query(make_launch_url(app, "u-hint-0", app.launch_secret, nonce="a" * 32))
    assert "hint" not in plain
    assert plain["sig"] == _independent_sig(app.launch_secret, plain["app"], "u-hint-0", plain["ts"], "a" * 32)
    hinted = _query(make_launch_url(app, "u-hint-1", app.launch_secret, nonce="b" * 32, hint="138****0001"))
    assert hinted["sig"] == _independent_sig(app.launch_secret, hinted["app"], "u-hint-1", hinted["ts"], "b" * 32,
                                             "138****0001")
    assert client.get("/h5/launch", query_string=hinted).status_code == 302


@pytest.mark.parametrize("change, reason", [
    (lambda q: q.update(hint="139****0001"), "bad_signature"),  # a hint changed in transit
    (lambda q: q.pop("hint"), "bad_signature"),  # dropped: the signature covered it
    (lambda q: q.update(hint="13800000001"), "bad_ticket"),  # a number in clear
    (lambda q: q.update(hint="<b>x</b>"), "bad_ticket"),
    (lambda q: q.update(hint="x" * 33), "bad_ticket"),
])
def test_a_changed_or_unmasked_hint_is_refused(client, db_session, seeded, change, reason):
    app = demo_app(db_session)
    query = _query(make_launch_url(app, "u-hint-2", app.launch_secret, hint="138****0001"))
    change(query)
    body = client.get("/h5/launch", query_string=query).get_data(as_text=True)
    assert reason in body and "无法进入接种疫苗服务" in body
