"""Knowledge is not proof, against gunicorn (4 workers × 4 threads) with 30 requests released at once.

Strangers connect from their own loopback addresses (127.0.0.x), as strangers on the internet come
from their own addresses; the real person from another one.
"""
from __future__ import annotations

import io
import re

from sqlalchemy import select

from erhc_h5.cards.models import EHealthCard

from erhc_h5.resident.models import VerificationSession
from tests.attacks.harness import race
from tests.factories import image_bytes, person

N = 30
VICTIM = person(7201, name="赵真人", phone="13900000201")
PROFILE = {"nation": "01", "county_code": "330106", "current_address": "某路1号"}


def walk_to_methods(server, s, identity: dict, phone: str) -> None:
    keys = ("name", "id_card_type_code", "idcode")
    answer = server.post_form(s, "/h5/identity", {k: identity[k] for k in keys})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/h5/profile"), answer.status_code
    answer = server.post_form(s, "/h5/profile", {**PROFILE, "phone": phone})
    assert answer.headers["Location"].endswith("/h5/methods"), answer.status_code


def person_sessions(server, subject_idcode: str) -> list[VerificationSession]:
    from erhc_h5.resident import limits

    with server.db() as db:
        subject = limits.subject_hash("01", subject_idcode)
        rows = db.scalars(select(VerificationSession).where(VerificationSession.subject_hash == subject)).all()
        db.expunge_all()
        return rows


def at_methods(server, uid: str, network: str, identity: dict, phones: str) -> list[tuple]:
    """N residents launched as ``uid``-i from ``network``.(i+1), each at the methods page with
    ``identity`` and phone ``phones`` + i; with the form token of each (taken before any race)."""
    ready = []
    for i in range(N):
        s = server.resident_session(f"{uid}-{i}", source=f"{network}.{i + 1}")
        walk_to_methods(server, s, identity, f"{phones}{i:04d}")
        ready.append((s, server.csrf(s, "/h5/methods")))
    return ready


def all_at_once(server, ready: list[tuple], path: str = "/h5/verify/two-factor") -> None:
    """All of ``ready`` (``at_methods``) choose the method at ``path`` at the same moment; each is answered
    with a redirect (passed, failed, opened or told to wait: never an error)."""
    answers = race(N, lambda i, s: s.post(server.url(path), data={"csrf_token": ready[i][1]},
                                          allow_redirects=False, timeout=60), sessions=[s for s, _ in ready])
    assert all(a.status_code == 302 for a in answers), [a.status_code for a in answers]


def test_thirty_strangers_failing_at_once_leave_the_real_person_every_stronger_method(server):
    all_at_once(server, at_methods(server, "race-stranger", "127.0.1", {**VICTIM, "name": "赵失败"}, "1370001"))

    # Three-factor: the phone in hand.
    own = server.resident_session("race-victim-sms", source="127.0.2.1")
    walk_to_methods(server, own, VICTIM, VICTIM["phone"])
    server.post_form(own, "/h5/verify/sms/send", {}, page="/h5/verify/sms")
    otp = re.search(r'id="sandbox-otp">[^<]*<strong>(\d{6})</strong>', own.get(server.url("/h5/verify/sms")).text)
    passed = server.post_form(own, "/h5/verify/sms", {"otp": otp.group(1)})
    assert passed.headers["Location"] == "/h5/code", passed.status_code

    # Face, then the on-site desk.
    face = server.resident_session("race-victim-face", source="127.0.2.2")
    walk_to_methods(server, face, VICTIM, VICTIM["phone"])
    page = face.get(server.url("/h5/verify/face"))
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    photo = {"photo": ("face.jpg", io.BytesIO(image_bytes("JPEG", (160, 160))), "image/jpeg")}
    answer = face.post(server.url("/h5/verify/face"), data={"csrf_token": token}, files=photo, allow_redirects=False)
    assert answer.headers["Location"].endswith("/h5/verify/onsite"), answer.status_code
    confirm_onsite(server, face)

    # On-site alone, from a third account.
    desk = server.resident_session("race-victim-desk", source="127.0.2.3")
    walk_to_methods(server, desk, VICTIM, VICTIM["phone"])
    assert server.post_form(desk, "/h5/verify/onsite", {}, page="/h5/methods").headers["Location"].endswith(
        "/h5/verify/onsite")
    confirm_onsite(server, desk)
    with server.db() as db:
        from erhc_h5.cards.service import find_card

        card = find_card(db, "01", VICTIM["idcode"])
        assert card.assurance_level == 4 and card.phone == VICTIM["phone"]
        assert card.authentication_method == "2^3^4"


def confirm_onsite(server, resident) -> None:
    """The operator looks the resident's code up, checks the document in hand and confirms."""
    code = re.search(r'id="onsite-code"[^>]*>([0-9A-Z ]+)<', resident.get(server.url("/h5/verify/onsite")).text)
    code = code.group(1).replace(" ", "")
    operator = server.staff_session("operator")
    answer = server.post_form(operator, f"/staff/onsite/{code}",
                              {"document_checked": "y", "note": "核对身份证原件", "action": "confirm",
                               "document_number": VICTIM["idcode"]})
    assert answer.status_code == 302, answer.text[:500]
    assert resident.get(server.url("/h5/code"), allow_redirects=False).status_code == 200


def test_thirty_registrations_at_once_leave_one_open_and_send_nothing(server):
    target = person(7202, name="钱被登记")
    all_at_once(server, at_methods(server, "race-typist", "127.0.3", target, "1370002"), "/h5/verify/onsite")
    sessions = person_sessions(server, target["idcode"])
    assert sum(vs.state == "pending_onsite" for vs in sessions) == 1
    with server.db() as db:
        from erhc_h5.records.models import AuthRecord
        from erhc_h5.cards.service import find_card

        card = find_card(db, "01", target["idcode"])
        assert card.recognize_flag == 0
        assert db.scalar(select(AuthRecord).where(AuthRecord.card_id == card.id)) is None
        assert db.scalar(select(EHealthCard.id).where(EHealthCard.empi == card.empi)) == card.id


def test_thirty_knowledge_checks_at_once_after_the_threshold_reach_the_provider_once(server):
    """Once a person collected LOCKOUT_FAILURES refuted checks, two-factor for them goes ahead once per
    wait, however many accounts and addresses try at the same moment."""
    from erhc_h5.resident import limits
    from erhc_h5.resident.models import VerificationEvent

    target = person(7203, name="孙被猜")
    with server.db():
        limit = int(server.app.config["LOCKOUT_FAILURES"])
        subject = limits.subject_hash("01", target["idcode"])
    for i in range(limit):  # the threshold, reached one by one from different accounts and addresses
        s = server.resident_session(f"race-guesser-{i}", source=f"127.0.5.{i + 1}")
        walk_to_methods(server, s, {**target, "name": "孙失败"}, f"1370004{i:04d}")
        server.post_form(s, "/h5/verify/two-factor", {}, page="/h5/methods")
    guessers = at_methods(server, "race-guesser-b", "127.0.6", {**target, "name": "孙失败"}, "1370005")

    def failures() -> int:
        with server.db() as db:
            return len(db.scalars(select(VerificationEvent.id).where(VerificationEvent.subject_hash == subject,
                                                                     VerificationEvent.kind == "failure")).all())

    before = failures()
    assert before == limit
    all_at_once(server, guessers)
    assert failures() - before == 1  # one try went ahead; the other 29 were told to wait
