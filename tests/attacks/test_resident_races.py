"""Races on the resident's one-time steps and limits, against gunicorn (4 workers × 4 threads).

Threads are released together by a barrier; each scenario prepares its sessions first so that only
the contested request races. Counters are read back from the server's database afterwards.
"""
from __future__ import annotations

import requests
from sqlalchemy import func, select

from erhc_h5.audit import AuditEntry
from erhc_h5.records.models import AuthRecord
from erhc_h5.cards.models import EHealthCard
from erhc_h5.resident.models import RateCounter, VerificationEvent, VerificationSession
from erhc_h5.security.pii import blind_index, person_index
from tests.attacks.harness import race
from tests.factories import person
from tests.support import qr_texts

N = 30


def _ready(server, uid: str, who: dict, phone: str | None = None) -> requests.Session:
    """A resident session past identity and profile, on the methods page."""
    s = server.resident_session(uid)
    identity = {k: who[k] for k in ("name", "id_card_type_code", "idcode")}
    response = server.post_form(s, "/h5/identity", identity)
    assert response.status_code == 302 and response.headers["Location"].endswith("/h5/profile"), response.text
    profile = {"nation": "01", "phone": phone or who["phone"], "county_code": "330106"}
    response = server.post_form(s, "/h5/profile", profile)
    assert response.status_code == 302 and response.headers["Location"].endswith("/h5/methods"), response.text
    return s


def _clones(s: requests.Session, n: int) -> list[requests.Session]:
    """n sessions carrying the same cookies: one browser's requests sent in parallel."""
    out = []
    for _ in range(n):
        clone = requests.Session()
        clone.cookies.update(s.cookies)
        out.append(clone)
    return out


def _post_together(server, sessions: list[requests.Session], path: str) -> list[requests.Response]:
    """Each session posts the methods page's form to ``path``, all released at once."""
    tokens = [server.csrf(s, "/h5/methods") for s in sessions]
    return race(len(sessions), lambda i, s: s.post(server.url(path), data={"csrf_token": tokens[i]},
                                                   allow_redirects=False, timeout=60), sessions=sessions)


def _vs_id(server, s: requests.Session) -> str:
    with server.app.test_request_context():
        data = server.app.session_interface.get_signing_serializer(server.app).loads(s.cookies["session"])
    return data["resident"]["vs"]


def _cards_of(server, who: dict) -> list[EHealthCard]:
    with server.db() as session:
        cards = session.scalars(select(EHealthCard).where(EHealthCard.idcode_bidx == person_index("01", who["idcode"]))).all()
        session.expunge_all()
        return cards


def test_parallel_wrong_sms_codes_spend_at_most_the_cap(server):
    s = _ready(server, "otp-racer", person(91001))
    assert server.post_form(s, "/h5/verify/sms/send", {}, page="/h5/verify/sms").status_code == 302
    token = server.csrf(s, "/h5/verify/sms")
    vs_id = _vs_id(server, s)
    with server.db() as session:
        sent_code_hash = session.get(VerificationSession, vs_id).otp_hash
    assert sent_code_hash
    wrong = ["000000", "111111"]  # at most one of them can be the real code: both are tried
    answers = race(N, lambda i, c: c.post(server.url("/h5/verify/sms"), data={"otp": wrong[i % 2], "csrf_token": token},
                                          allow_redirects=False, timeout=60), sessions=_clones(s, N))
    assert all(a.status_code < 500 for a in answers)
    said_wrong = sum("验证码不正确" in a.text for a in answers)
    with server.db() as session:
        tries = session.get(VerificationSession, vs_id).otp_attempts
    assert tries <= 5 and said_wrong <= 5, (tries, said_wrong)


def test_parallel_sms_to_one_phone_stay_within_the_hourly_cap(server):
    phone = "13912340000"
    sessions = [_ready(server, f"sms-racer-{i}", person(92000 + i), phone=phone) for i in range(N)]
    tokens = [server.csrf(s, "/h5/verify/sms") for s in sessions]
    answers = race(N, lambda i, s: s.post(server.url("/h5/verify/sms/send"), data={"csrf_token": tokens[i]},
                                          allow_redirects=False, timeout=60), sessions=sessions)
    assert all(a.status_code < 500 for a in answers)
    with server.db() as session:
        key = blind_index("phone", phone)
        sent = session.scalar(select(func.count()).select_from(VerificationEvent)
                              .where(VerificationEvent.kind == "sms_sent", VerificationEvent.phone_bidx == key))
        counted = session.get(RateCounter, f"sms:{key}").count
    assert sent == 5 and counted == 5, (sent, counted)


def test_parallel_checks_in_one_session_reach_the_provider_once(server):
    who = person(93001)
    s = _ready(server, "double-submit", who)
    answers = _post_together(server, _clones(s, 8), "/h5/verify/two-factor")
    assert all(a.status_code == 302 for a in answers)
    vs_id = _vs_id(server, s)
    with server.db() as session:
        card = session.scalar(select(EHealthCard).where(
            EHealthCard.idcode_bidx == person_index("01", who["idcode"])))
        versions = session.scalar(select(func.count()).select_from(AuthRecord).where(AuthRecord.card_id == card.id))
        passes = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "verification.passed", AuditEntry.target_id == vs_id))
    assert versions == 1 and passes == 1


def test_staged_sessions_released_together_get_at_most_the_lockout_guesses(server):
    who = person(94001, name="测失败")
    answers = _post_together(server, [_ready(server, f"stager-{i}", who) for i in range(N)], "/h5/verify/two-factor")
    assert all(a.status_code == 302 for a in answers)
    with server.db() as session:
        subject = person_index("01", who["idcode"])
        failures = session.scalar(select(func.count()).select_from(VerificationEvent).where(
            VerificationEvent.kind == "failure", VerificationEvent.subject_hash == subject))
        limit = server.app.config["LOCKOUT_FAILURES"]
    assert failures <= limit, failures
    assert not any(a.headers["Location"].endswith("/h5/code") for a in answers)


def test_one_person_passing_in_parallel_sessions_gets_one_card(server):
    who = person(95001)
    answers = _post_together(server, [_ready(server, f"twin-{i}", who) for i in range(8)], "/h5/verify/two-factor")
    assert all(a.status_code == 302 for a in answers)
    # Each passes, or is told the person is being checked elsewhere (at most the lockout's
    # number of checks of one person run at once); nobody is locked for it.
    places = [a.headers["Location"].rsplit("/", 2)[-1] for a in answers]
    assert set(places) <= {"code", "methods"} and places.count("code") >= 1, places
    [card] = _cards_of(server, who)
    # One record: version 1 is the card's 'i' (only the pass that inserted the card may skip looking
    # for earlier versions), every later pass a 'u' numbered after it, none lost, none twice.
    with server.db() as session:
        versions = session.execute(select(AuthRecord.version, AuthRecord.cd_operation, AuthRecord.record_id)
                                   .where(AuthRecord.card_id == card.id).order_by(AuthRecord.version)).all()
    assert [v.version for v in versions] == list(range(1, len(versions) + 1)), versions
    assert [v.cd_operation for v in versions] == ["i"] + ["u"] * (len(versions) - 1), versions
    assert len({v.record_id for v in versions}) == 1
    assert len(versions) == places.count("code")


def test_one_launch_ticket_sent_30_times_at_once_opens_one_session(server):
    """The launch nonce is a one-time step: of 30 copies of one signed launch URL released
    together, one is let in and 29 are refused as used; one app user exists for the uid."""
    from erhc_h5.filing.models import LaunchNonce
    from erhc_h5.cards.models import AppUser

    url = server.launch_url("ticket-racer")
    answers = race(N, lambda i, s: s.get(url, allow_redirects=False, timeout=60))
    codes = sorted(a.status_code for a in answers)
    assert codes == [302] + [400] * (N - 1), codes
    assert all("已使用过" in a.text for a in answers if a.status_code == 400)
    with server.db() as session:
        users = session.scalar(select(func.count()).select_from(AppUser).where(AppUser.app_user_id == "ticket-racer"))
        nonce = url.split("nonce=", 1)[1].split("&", 1)[0]
        nonces = session.scalar(select(func.count()).select_from(LaunchNonce).where(LaunchNonce.nonce == nonce))
    assert users == 1 and nonces == 1


def test_a_cards_first_code_face_opened_30_times_at_once_makes_one_reference(server):
    """A card's first code face creates its code reference: 30 tabs opened together all show a
    code, one reference is written, and every code carries it."""
    import re

    from erhc_h5.code.models import CardCodeRef

    who = person(97801)
    s = _ready(server, "first-face", who)
    answers = server.post_form(s, "/h5/verify/two-factor", {}, page="/h5/methods")
    assert answers.headers["Location"].endswith("/h5/code")
    [card] = _cards_of(server, who)
    with server.db() as session:
        session.execute(CardCodeRef.__table__.delete().where(CardCodeRef.card_id == card.id))
        session.commit()  # the pass's redirect was not followed: no face yet, no reference
    faces = race(N, lambda i, c: c.get(server.url("/h5/code/token.json"), timeout=60), sessions=_clones(s, N))
    assert all(f.status_code == 200 for f in faces), [f.status_code for f in faces]
    with server.db() as session:
        refs = session.scalars(select(CardCodeRef.ref).where(CardCodeRef.card_id == card.id)).all()
    assert len(refs) == 1, refs
    texts = [_decoded(f.json()["src"]) for f in faces]
    assert all(re.fullmatch(r"EHC2\.\d{4}\.[^.]+\.%s\..+" % re.escape(refs[0]), t) for t in texts), texts[:3]


def test_one_new_person_choosing_on_site_in_parallel_gets_one_pending_card(server):
    who = person(96001)
    answers = _post_together(server, [_ready(server, f"onsite-twin-{i}", who) for i in range(8)], "/h5/verify/onsite")
    assert all(a.status_code == 302 for a in answers)
    cards = _cards_of(server, who)
    assert len(cards) == 1 and cards[0].recognize_flag == 0


def test_parallel_cancellations_send_one_d_version(server):
    who = person(97501)  # every race test has its own people: one server serves the whole suite
    s = _ready(server, "canceller", who)
    assert server.post_form(s, "/h5/verify/two-factor", {}, page="/h5/methods").headers["Location"].endswith("/h5/code")
    token = server.csrf(s, "/h5/code/cancel")
    answers = race(N, lambda i, c: c.post(server.url("/h5/code/cancel"), data={"confirm": "y", "csrf_token": token},
                                          allow_redirects=False, timeout=60), sessions=_clones(s, N))
    assert all(a.status_code in (200, 302) for a in answers)
    [card] = _cards_of(server, who)
    with server.db() as session:
        ops = session.scalars(select(AuthRecord.cd_operation).where(AuthRecord.card_id == card.id)
                              .order_by(AuthRecord.version)).all()
        audits = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "card.cancelled", AuditEntry.target_id == str(card.id)))
    assert card.status == "cancelled" and ops == ["i", "d"] and audits == 1


def _decoded(src: str) -> str:
    [text] = qr_texts(src)
    return text
