"""The right person, in the right browser, in front of the right operator.

1. On-site look-alike document: an attacker registers with a victim's identity, then shows his own
   ID card whose name and number share the first and last characters with hers. The operator must
   type the number from the card in hand; the server compares it with the registration.
2. Login CSRF through a launch link: a link made for the attacker's app account, followed cross-site
   by a victim holding her own session, must not take over her browser.
7. Resident sessions end: a copied cookie stops working once its owner relaunches; a session ends
   after its absolute lifetime however often it is used.
"""
from __future__ import annotations

import json
import secrets

import pytest
import requests
from sqlalchemy import select

from erhc_h5.audit import AuditEntry
from erhc_h5.resident import session as resident_session
from erhc_h5.resident.launch import make_launch_url
from erhc_h5.cards.models import AppUser, EHealthCard
from erhc_h5.resident.models import VerificationSession
from tests.attacks.harness import race
from tests.support import demo_app, qr_texts

# GB 11643-1999 §5.2: W_i = 2^(i-1) mod 11 for positions i = 18..2 (counted from the right), check
# a_1 from sum(a_i * W_i) mod 11 by the table 0→1, 1→0, 2→X, 3→9 … 10→2. Written here, not imported.
_WEIGHTS = [pow(2, 17 - k, 11) for k in range(17)]
_TABLE = "10X98765432"


def gb11643(body17: str) -> str:
    return body17 + _TABLE[sum(int(c) * w for c, w in zip(body17, _WEIGHTS)) % 11]


VICTIM = {"name": "张伟明", "idcode": gb11643("33010219750109568")}
ATTACKER_CARD = {"name": "张小明", "idcode": gb11643("33010619800101568")}


def test_the_two_numbers_are_valid_and_look_alike_when_masked():
    assert VICTIM["idcode"] == "330102197501095682" and ATTACKER_CARD["idcode"] == "330106198001015682"
    assert (VICTIM["idcode"][:4], VICTIM["idcode"][-4:]) == (ATTACKER_CARD["idcode"][:4], ATTACKER_CARD["idcode"][-4:])


# -- scenario 1: the on-site look-alike document ---------------------------------------------------

def _pending_onsite(app, db_session, uid: str, who: dict):
    """A resident (the attacker) registered as ``who`` and waiting on-site; returns (client, vs)."""
    client = app.test_client()
    demo = demo_app(db_session)
    assert client.get(make_launch_url(demo, uid, demo.launch_secret)).status_code == 302
    assert client.post("/h5/consent", data={"agree": "y"}).status_code == 302
    identity = {"name": who["name"], "id_card_type_code": "01", "idcode": who["idcode"]}
    assert client.post("/h5/identity", data=identity).headers["Location"].endswith("/h5/profile")
    profile = {"nation": "01", "phone": "13700000666", "county_code": "330106", "current_address": "某路1号"}
    assert client.post("/h5/profile", data=profile).headers["Location"].endswith("/h5/methods")
    assert client.post("/h5/verify/onsite").headers["Location"] == "/h5/verify/onsite"
    with client.session_transaction() as cookie:
        vs_id = cookie["resident"]["vs"]
    db_session.expire_all()
    vs = db_session.get(VerificationSession, vs_id)
    assert vs.state == "pending_onsite"
    return client, vs


def _operator(app, seeded):
    staff = app.test_client()
    assert staff.post("/staff/login", data=seeded["users"]["operator"]).status_code == 302
    return staff


def _confirm(staff, code: str, number: str):
    return staff.post(f"/staff/onsite/{code}", data={"document_number": number, "document_checked": "y",
                                                      "note": "核对居民身份证原件", "action": "confirm"})


def _scanned(app, seeded, resident) -> str | None:
    """What a nurse's scanner says of the code the resident's phone shows (None: no code shown)."""
    face = resident.get("/h5/code/token.json")
    if face.status_code != 200:
        return None
    [text] = qr_texts(face.get_json()["src"])
    answer = app.test_client().post("/api/v1/scan", json={"code": text},
                                    headers={"Authorization": f"Bearer {seeded['device_token']}"})
    return answer.get_json().get("result") or answer.get_json().get("error")


def _audits(db_session, action: str) -> list[AuditEntry]:
    db_session.expire_all()
    return list(db_session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.mark.slow
def test_look_alike_document_is_refused_and_the_right_one_passes(app, db_session, seeded):
    attacker, vs = _pending_onsite(app, db_session, "onsite-lookalike", VICTIM)
    staff = _operator(app, seeded)

    review = staff.get(f"/staff/onsite/{vs.onsite_code}")
    page = review.get_data(as_text=True)
    assert review.status_code == 200 and "no-store" in review.headers["Cache-Control"]
    assert VICTIM["name"] in page and VICTIM["idcode"] in page and "1975-01-09" in page
    assert [a.target_id for a in _audits(db_session, "onsite.review_opened")] == [vs.id]

    refused = _confirm(staff, vs.onsite_code, ATTACKER_CARD["idcode"])
    assert refused.status_code == 200
    assert "证件号码与登记信息不一致" in refused.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(VerificationSession, vs.id).state == "pending_onsite"
    card = db_session.get(EHealthCard, vs.card_id) if vs.card_id else None
    assert card is None or card.recognize_flag == 0
    assert _scanned(app, seeded, attacker) in (None, "not_authenticated")

    empty = _confirm(staff, vs.onsite_code, "  ")
    assert "请输入居民出示的证件原件上的证件号码" in empty.get_data(as_text=True)

    spaced = " ".join([VICTIM["idcode"][:6], VICTIM["idcode"][6:14], VICTIM["idcode"][14:]])
    done = _confirm(staff, vs.onsite_code, spaced)
    assert done.status_code == 302
    db_session.expire_all()
    assert db_session.get(VerificationSession, vs.id).state == "passed"
    assert db_session.get(EHealthCard, db_session.get(VerificationSession, vs.id).card_id).recognize_flag == 1
    assert _scanned(app, seeded, attacker) == "authenticated"  # the right document: the pass stands

    checks = _audits(db_session, "onsite.document_checked")
    assert [c.detail["result"] for c in checks] == ["mismatch", "match"]
    for entry in _audits(db_session, "onsite.review_opened") + checks:
        text = json.dumps(entry.detail, ensure_ascii=False)
        assert VICTIM["idcode"][6:14] not in text and ATTACKER_CARD["idcode"][6:14] not in text


def test_lower_case_x_and_full_width_digits_match(app, db_session, seeded):
    who = {"name": "李晓", "idcode": gb11643("11010519491231002")}
    assert who["idcode"].endswith("X")
    _, vs = _pending_onsite(app, db_session, "onsite-x", who)
    staff = _operator(app, seeded)
    page = staff.get(f"/staff/onsite/{vs.onsite_code}").get_data(as_text=True)
    assert "李晓" in page  # a two-character name in full, not just the surname
    typed = who["idcode"][:10].translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}) + who["idcode"][10:].lower()
    assert _confirm(staff, vs.onsite_code, typed).status_code == 302


def test_reject_needs_no_number(app, db_session, seeded):
    _, vs = _pending_onsite(app, db_session, "onsite-reject", {"name": "王芳", "idcode": gb11643("33010619850505123")})
    staff = _operator(app, seeded)
    answer = staff.post(f"/staff/onsite/{vs.onsite_code}", data={"note": "证件与本人不符", "action": "reject"})
    assert answer.status_code == 302
    db_session.expire_all()
    assert db_session.get(VerificationSession, vs.id).state == "failed"


# -- scenario 2: login CSRF through the launch link ------------------------------------------------

def _bound_uid(server, s: requests.Session) -> str | None:
    """The app user id (the app's uid) this browser's resident cookie names, if its session is live."""
    answer = s.get(server.url("/h5/service"), allow_redirects=False, timeout=30)
    if answer.status_code != 200:
        return None
    with server.app.test_request_context():
        cookie = server.app.session_interface.get_signing_serializer(server.app).loads(s.cookies["session"])
    with server.db() as session:
        return session.get(AppUser, cookie["resident"]["app_user"]).app_user_id


def _signed_url(server, uid: str, hint: str | None = None) -> str:
    from erhc_h5.filing.models import FiledApp

    filing_no = server.seed["app_record_no_recognize"]
    with server.db() as session:
        secret = session.scalar(select(FiledApp.launch_secret).where(FiledApp.app_filing_no == filing_no))
    return make_launch_url(filing_no, uid, secret, base=server.base_url, hint=hint)


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
], ids=["sec-fetch-site", "foreign-origin", "opaque-origin"])
def test_cross_site_launch_is_refused_and_the_victims_session_kept(server, headers):
    tag = secrets.token_hex(3)
    victim = server.resident_session(f"victim-{tag}")
    assert _bound_uid(server, victim) == f"victim-{tag}"
    answer = victim.get(server.launch_url(f"attacker-{tag}"), headers=headers, allow_redirects=False, timeout=30)
    assert answer.status_code == 403
    assert "城市App" in answer.text and "cross_site" in answer.text
    assert _bound_uid(server, victim) == f"victim-{tag}"
    assert victim.get(server.url("/h5/identity"), allow_redirects=False, timeout=30).status_code == 200


def test_same_site_relaunch_of_another_account_waits_for_the_persons_post(server):
    tag = secrets.token_hex(3)
    victim = server.resident_session(f"victim2-{tag}")
    url = _signed_url(server, f"other-{tag}", hint="138****0001")
    held = victim.get(url, headers={"Sec-Fetch-Site": "same-origin"}, allow_redirects=False, timeout=30)
    assert held.status_code == 302 and held.headers["Location"].endswith("/h5/launch/confirm")
    assert _bound_uid(server, victim) == f"victim2-{tag}"
    page = victim.get(server.url("/h5/launch/confirm"), timeout=30)
    assert "138****0001" in page.text and 'name="csrf_token"' in page.text
    forged = victim.post(server.url("/h5/launch/confirm"), data={"action": "switch"}, allow_redirects=False, timeout=30)
    assert forged.status_code == 400  # no CSRF token: a cross-site form cannot switch
    assert _bound_uid(server, victim) == f"victim2-{tag}"
    switched = server.post_form(victim, "/h5/launch/confirm", {"action": "switch"})
    assert switched.status_code == 302
    assert _bound_uid(server, victim) == f"other-{tag}"


def test_keeping_the_current_account_drops_the_held_launch(server):
    tag = secrets.token_hex(3)
    victim = server.resident_session(f"victim3-{tag}")
    assert victim.get(_signed_url(server, f"other3-{tag}"), allow_redirects=False, timeout=30).status_code == 302
    assert server.post_form(victim, "/h5/launch/confirm", {"action": "keep"}).status_code == 302
    assert _bound_uid(server, victim) == f"victim3-{tag}"
    late = server.post_form(victim, "/h5/launch/confirm", {"action": "switch"}, page="/h5/consent")
    assert late.status_code == 302 and _bound_uid(server, victim) == f"victim3-{tag}"


@pytest.mark.parametrize("fetch_site", ["none", "same-site", None])
def test_app_opened_and_old_webview_launches_go_through(server, fetch_site):
    uid = f"fresh-{secrets.token_hex(3)}"
    s = server.session()
    headers = {"Sec-Fetch-Site": fetch_site} if fetch_site else {}
    answer = s.get(server.launch_url(uid), headers=headers, allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/h5/service")
    assert _bound_uid(server, s) == uid


# -- scenario 7: resident sessions end -------------------------------------------------------------

def _copy(s: requests.Session) -> requests.Session:
    thief = requests.Session()
    thief.cookies.update(s.cookies)
    return thief


def test_copied_cookie_stops_working_after_the_owner_relaunches(server):
    uid = f"owner-{secrets.token_hex(3)}"
    owner = server.resident_session(uid)
    identity = {"name": "测试甲", "id_card_type_code": "01", "idcode": gb11643("33010619900307%03d" % 401)}
    assert server.post_form(owner, "/h5/identity", identity).headers["Location"].endswith("/h5/profile")
    profile = {"nation": "01", "phone": "13800000401", "county_code": "330106"}
    assert server.post_form(owner, "/h5/profile", profile).headers["Location"].endswith("/h5/methods")
    passed = server.post_form(owner, "/h5/verify/two-factor", {}, page="/h5/methods")
    assert passed.headers["Location"].endswith("/h5/code")
    thief = _copy(owner)
    assert thief.get(server.url("/h5/code/token.json"), allow_redirects=False, timeout=30).status_code == 200
    again = server.resident_session(uid, consent=False)  # the owner opens the service from the app again
    assert again.get(server.url("/h5/code/token.json"), allow_redirects=False, timeout=30).status_code == 200
    assert thief.get(server.url("/h5/code/token.json"), allow_redirects=False, timeout=30).status_code != 200
    assert owner.get(server.url("/h5/code/token.json"), allow_redirects=False, timeout=30).status_code != 200


def test_thirty_launches_of_one_account_at_once_leave_one_session(server):
    uid = f"many-{secrets.token_hex(3)}"
    urls = [server.launch_url(uid) for _ in range(30)]
    browsers = [server.session() for _ in range(30)]
    answers = race(30, lambda i, s: s.get(urls[i], allow_redirects=False, timeout=60), sessions=browsers)
    assert all(a.status_code == 302 for a in answers), [a.status_code for a in answers]
    live = [b for b in browsers if _bound_uid(server, b) == uid]
    assert len(live) == 1


def _hours(monkeypatch, start: float, hours: float) -> None:
    monkeypatch.setattr(resident_session, "_now", lambda: start + hours * 3600, raising=False)


def test_session_ends_after_its_absolute_lifetime_even_if_used_constantly(app, db_session, seeded, monkeypatch):
    import time

    client = app.test_client()
    demo = demo_app(db_session)
    start = time.time()
    _hours(monkeypatch, start, 0)
    assert client.get(make_launch_url(demo, "constant-user", demo.launch_secret)).status_code == 302
    for step in range(0, 24 * 4):  # a request every quarter of an hour: never idle
        _hours(monkeypatch, start, step / 4)
        if client.get("/h5/service").status_code != 200:
            break
    assert step / 4 > app.config["RESIDENT_SESSION_MAX_HOURS"] - 0.25
    assert step / 4 <= app.config["RESIDENT_SESSION_MAX_HOURS"] + 0.25
    assert client.get("/h5/service").status_code != 200


def test_lifetime_comes_from_config(app, db_session, seeded, monkeypatch):
    import time

    app.config["RESIDENT_SESSION_MAX_HOURS"] = 1
    client = app.test_client()
    demo = demo_app(db_session)
    start = time.time()
    _hours(monkeypatch, start, 0)
    assert client.get(make_launch_url(demo, "short-user", demo.launch_secret)).status_code == 302
    _hours(monkeypatch, start, 0.9)
    assert client.get("/h5/service").status_code == 200
    _hours(monkeypatch, start, 1.1)
    assert client.get("/h5/service").status_code != 200


def test_card_cancellation_ends_the_sessions_of_its_app_users(app, db_session, seeded):
    from tests.support import Journey

    journey = Journey(app.test_client(), db_session)
    journey.ready("cancel-ends")
    assert journey.client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    copy = app.test_client()
    with journey.client.session_transaction() as cookie:
        data = dict(cookie)
    with copy.session_transaction() as cookie:
        cookie.update(data)
    assert copy.get("/h5/service").status_code == 200
    journey.client.post("/h5/code/cancel", data={"confirm": "y"})
    assert copy.get("/h5/service").status_code != 200  # a copy of the cookie ends with the card
    # The browser that cancelled is bound again, and reads the confirmation there.
    page = journey.client.get("/h5/service")
    assert page.status_code == 200 and "您的电子健康码已注销" in page.get_data(as_text=True)
    assert copy.get("/h5/service").status_code != 200


def test_thirty_confirmations_at_once_half_with_the_look_alike_number_pass_once(server):
    """Operators' clicks racing, half typing the look-alike number: one pass, by the right number."""
    from tests.factories import person

    who = {**person(97301), "name": "张伟明", "idcode": gb11643("33010219750109730")}
    s = server.resident_session(f"race-onsite-{secrets.token_hex(3)}")
    identity = {k: who[k] for k in ("name", "id_card_type_code", "idcode")}
    assert server.post_form(s, "/h5/identity", identity).headers["Location"].endswith("/h5/profile")
    profile = {"nation": "01", "phone": who["phone"], "county_code": "330106"}
    assert server.post_form(s, "/h5/profile", profile).headers["Location"].endswith("/h5/methods")
    assert server.post_form(s, "/h5/verify/onsite", {}, page="/h5/methods").status_code == 302
    with server.app.test_request_context():
        cookie = server.app.session_interface.get_signing_serializer(server.app).loads(s.cookies["session"])
    vs_id = cookie["resident"]["vs"]
    with server.db() as session:
        code = session.get(VerificationSession, vs_id).onsite_code
    operator = server.staff_session("operator")
    path = f"/staff/onsite/{code}"
    token = server.csrf(operator, path)
    look_alike = who["idcode"][:4] + "0619800101" + who["idcode"][-4:]  # same first and last four
    clones = [_copy(operator) for _ in range(30)]
    answers = race(30, lambda i, c: c.post(server.url(path), timeout=60, data={
        "csrf_token": token, "note": "核对居民身份证原件", "document_checked": "y", "action": "confirm",
        "document_number": who["idcode"] if i % 2 else look_alike}), sessions=clones)
    assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
    passed = [i for i, a in enumerate(answers) if "现场认证已确认" in a.text]
    assert len(passed) == 1 and passed[0] % 2 == 1
    assert all("证件号码与登记信息不一致" in answers[i].text or "已由其他核验员处理" in answers[i].text
               or "已失效或已处理" in answers[i].text for i in range(0, 30, 2))
    with server.db() as session:
        vs = session.get(VerificationSession, vs_id)
        results = session.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "onsite.document_checked", AuditEntry.target_id == vs_id)).all()
        assert vs.state == "passed" and session.get(EHealthCard, vs.card_id).recognize_flag == 1
    assert [r["result"] for r in results].count("match") == 1


def test_end_sessions_ends_only_the_named_app_users(app, db_session, seeded):
    demo = demo_app(db_session)
    browsers = {}
    for uid in ("ended-a", "kept-b"):
        browsers[uid] = app.test_client()
        assert browsers[uid].get(make_launch_url(demo, uid, demo.launch_secret)).status_code == 302
    ended = db_session.scalar(select(AppUser.id).where(AppUser.app_user_id == "ended-a"))
    resident_session.end_sessions(db_session, [ended, None])
    db_session.commit()
    assert browsers["ended-a"].get("/h5/service").status_code != 200
    assert browsers["kept-b"].get("/h5/service").status_code == 200
