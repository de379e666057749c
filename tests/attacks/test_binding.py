"""Attacks on the real-name binding, as an attacker would compose them with plain HTTP.

Each test drives the resident pages with the test client (one client per person, like two phones)
and checks what the nurse's scanner, the card table and the upload queue show afterwards.
"""
from __future__ import annotations

import dataclasses
import io
import re

import pytest
from sqlalchemy import select

from erhc_h5.filing.models import FiledApp
from erhc_h5.identity import get_providers, set_providers
from erhc_h5.records.models import AuthRecord
from erhc_h5.resident.launch import make_launch_url
from erhc_h5.cards.models import AppUser, EHealthCard
from erhc_h5.resident.models import VerificationSession
from tests.factories import count, image_bytes, person
from tests.support import Phone

VICTIM = person(7001, name="王受害", phone="13900000001")
ATTACKER_PHONE = "13700000666"


@pytest.fixture
def demo(db_session, seeded) -> FiledApp:
    return db_session.scalar(select(FiledApp).where(FiledApp.access_code == seeded["app_record_no"]))


@pytest.fixture
def phone(app, db_session, demo):
    return lambda uid: Phone(app, db_session, demo, uid)


def scan(client, seeded, text: str):
    return client.post("/api/v1/scan", json={"code": text}, headers={"Authorization": f"Bearer {seeded['device_token']}"})


class Counting:
    """Wraps the identity provider and counts the checks that reach it."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def check_two_factor(self, *args):
        self.calls += 1
        return self.inner.check_two_factor(*args)

    def check_three_factor(self, *args):
        self.calls += 1
        return self.inner.check_three_factor(*args)


@pytest.fixture
def provider_calls(app):
    providers = get_providers(app)
    counting = Counting(providers.identity)
    set_providers(app, dataclasses.replace(providers, identity=counting))
    yield counting
    set_providers(app, providers)


def test_refuted_preclaim_creates_no_card_and_binds_nobody(phone, db_session, seeded, client):
    attacker = phone("attacker")
    attacker.start({**VICTIM, "name": "王失败", "phone": ATTACKER_PHONE})
    for _ in range(3):
        attacker.client.post("/h5/verify/two-factor")
    assert attacker.vs().state == "failed"
    assert count(db_session, EHealthCard) == 0 and count(db_session, AuthRecord) == 0
    victim = phone("victim")
    victim.start(VICTIM)
    assert victim.client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    assert attacker.code_text() is None  # the attacker has no code at all
    victim_code = victim.code_text()
    assert scan(client, seeded, victim_code).get_json()["result"] == "authenticated"
    card = db_session.scalar(select(EHealthCard))
    assert card.phone == VICTIM["phone"]
    payloads = db_session.scalars(select(AuthRecord.payload)).all()
    assert all(p["phone"] == VICTIM["phone"] for p in payloads)
    assert db_session.scalar(select(AppUser.card_id).where(AppUser.app_user_id == "attacker")) is None


def test_pending_registration_is_provisional_and_ends_when_the_person_passes(phone, db_session, seeded, client):
    attacker = phone("attacker")
    attacker.start({**VICTIM, "phone": ATTACKER_PHONE}, {"linkman": "坏人", "telephone": ATTACKER_PHONE})
    assert attacker.client.post("/h5/verify/onsite").headers["Location"] == "/h5/verify/onsite"
    card = db_session.scalar(select(EHealthCard))
    assert card.recognize_flag == 0  # 情形一: registered, awaiting the on-site check
    held = attacker.code_text()
    assert held is not None
    answer = scan(client, seeded, held).get_json()
    assert answer["result"] == "not_authenticated" and answer["message"] == "该用户未进行实名认证"
    victim = phone("victim")
    victim.start(VICTIM)
    assert victim.client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    # The attacker's hold ended: no code on their phone, and the code they showed before is dead.
    assert attacker.code_text() is None
    assert scan(client, seeded, held).get_json().get("result") != "authenticated"
    db_session.expire_all()
    card = db_session.get(EHealthCard, card.id)
    assert card.recognize_flag == 1 and card.phone == VICTIM["phone"]
    assert card.linkman is None and card.telephone is None  # the verified details replace the unverified
    latest = db_session.scalars(select(AuthRecord).order_by(AuthRecord.version.desc())).first()
    assert latest.payload["phone"] == VICTIM["phone"] and latest.payload["linkman"] is None
    assert scan(client, seeded, victim.code_text()).get_json()["result"] == "authenticated"


def test_staged_sessions_get_no_guesses_after_the_lock(phone, app, provider_calls):
    staged = [phone(f"stager-{i}") for i in range(7)]
    for i, device in enumerate(staged):
        name = VICTIM["name"] if i >= 5 else "王失败"  # the sixth and seventh carry the right name
        device.start({**VICTIM, "name": name})
    for device in staged[:5]:
        device.client.post("/h5/verify/two-factor")
    assert provider_calls.calls == app.config["LOCKOUT_FAILURES"]
    for device in staged[5:]:
        response = device.client.post("/h5/verify/two-factor")
        assert response.headers["Location"] == "/h5/status"
        assert device.vs().state == "locked"
    assert provider_calls.calls == app.config["LOCKOUT_FAILURES"]  # the staged sessions never reached it


@pytest.mark.parametrize("alias", ["02", "05", "99"])
def test_lock_and_card_are_per_person_not_per_document_type(phone, app, db_session, alias):
    for i in range(app.config["LOCKOUT_FAILURES"]):
        device = phone(f"guess-{i}")
        device.start({**VICTIM, "name": "王失败"})
        device.client.post("/h5/verify/two-factor")
    other = phone("alias")
    other.client.get(make_launch_url(other.demo, other.uid, other.demo.launch_secret))
    other.client.post("/h5/consent", data={"agree": "y"})
    response = other.client.post("/h5/identity", data={**VICTIM, "id_card_type_code": alias})
    assert response.headers["Location"] == "/h5/status" and other.vs().state == "locked"


def test_one_card_whatever_type_the_number_is_typed_under(phone, db_session):
    first = phone("as-01")
    first.start(VICTIM)
    assert first.client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    second = phone("as-02")
    second.start({**VICTIM, "id_card_type_code": "02"})
    assert second.client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    assert count(db_session, EHealthCard) == 1


def test_face_check_begun_for_one_person_is_not_credited_to_another(phone, db_session):
    device = phone("swapper")
    device.start(person(7002, name="李自己"))
    assert device.client.get("/h5/verify/face").status_code == 200  # the face check starts for 李自己
    device.client.post("/h5/identity", data={k: VICTIM[k] for k in ("name", "id_card_type_code", "idcode")})
    device.client.post("/h5/profile", data={"nation": "01", "phone": VICTIM["phone"], "county_code": "330106"})
    device.client.post("/h5/verify/face", data={"photo": (io.BytesIO(image_bytes("JPEG", (160, 160))), "f.jpg")},
                       content_type="multipart/form-data")
    vs = device.vs()
    assert vs.state == "in_progress" and vs.method != "3^4"  # no face pass for the victim
    assert count(db_session, EHealthCard) == 0


@pytest.mark.parametrize("path", ["/h5/verify/two-factor", "/h5/verify/sms/send", "/h5/verify/face"])
def test_methods_the_app_was_not_filed_for_are_refused(phone, db_session, demo, provider_calls, path):
    demo.auth_methods = "4"
    db_session.commit()
    device = phone("onsite-only")
    device.start(VICTIM)
    response = device.client.post(path, data={"photo": (io.BytesIO(image_bytes("JPEG", (160, 160))), "f.jpg")},
                                  content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith("/h5/methods")
    assert provider_calls.calls == 0 and count(db_session, EHealthCard) == 0
    assert "未备案此实名认证方式" in device.client.get("/h5/methods").get_data(as_text=True)


def test_a_session_inside_a_suspended_app_cannot_complete(phone, db_session, demo, provider_calls):
    device = phone("inside")
    device.start(VICTIM)
    demo.status = "suspended"
    db_session.commit()
    response = device.client.post("/h5/verify/two-factor")
    assert response.headers["Location"].endswith("/h5/methods")
    assert provider_calls.calls == 0 and count(db_session, EHealthCard) == 0
    assert device.client.post("/h5/verify/onsite").headers["Location"].endswith("/h5/methods")
    assert count(db_session, EHealthCard) == 0


def test_sms_code_sent_for_one_person_does_not_prove_another(phone, db_session, provider_calls):
    device = phone("sms-swapper")
    device.start(person(7003, name="李自己", phone="13700000777"))
    assert device.client.post("/h5/verify/sms/send").status_code == 302
    page = device.client.get("/h5/verify/sms").get_data(as_text=True)
    sent = re.search(r'id="sandbox-otp">[^<]*<strong>(\d{6})</strong>', page).group(1)  # what the phone received
    # Same phone, another person: the code in hand must not prove the phone for the victim.
    device.client.post("/h5/identity", data={k: VICTIM[k] for k in ("name", "id_card_type_code", "idcode")})
    device.client.post("/h5/profile", data={"nation": "01", "phone": "13700000777", "county_code": "330106"})
    answer = device.client.post("/h5/verify/sms", data={"otp": sent})
    assert answer.status_code == 200 and "请先获取短信验证码" in answer.get_data(as_text=True)
    assert device.client.post("/h5/verify/three-factor").headers["Location"].endswith("/h5/verify/sms")
    assert provider_calls.calls == 0 and count(db_session, EHealthCard) == 0
