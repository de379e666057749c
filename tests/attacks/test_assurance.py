"""Knowledge is not proof: attacks by a stranger who knows a resident's name and ID number.

Each test drives the resident pages as two phones would (one client, cookie jar and source address
per person) and checks what the card table, the upload queue, the scanner and the resident's own
pages show afterwards. The rules under attack are in README, "Binding a person to a card".
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from erhc_h5.filing.models import FiledApp
from erhc_h5.identity import get_providers
from erhc_h5.records.models import AuthRecord
from erhc_h5.resident import verification
from erhc_h5.cards.service import ensure_app_user, issue_or_update_card
from erhc_h5.cards.models import AppUser, EHealthCard
from erhc_h5.resident.models import RateCounter, VerificationSession
from erhc_h5.sync.models import OutboxEntry
from tests.factories import count, person
from tests.support import Phone

VICTIM = person(7101, name="王真人", phone="13900000101")
ATTACKER = {"phone": "13700000666", "current_address": "某某路666号", "linkman": "冒用者", "telephone": "13700000667"}


@pytest.fixture
def demo(db_session, seeded) -> FiledApp:
    return db_session.scalar(select(FiledApp).where(FiledApp.access_code == seeded["app_record_no"]))


@pytest.fixture
def phone(app, db_session, demo):
    return lambda uid, ip="10.0.0.1": Phone(app, db_session, demo, uid, ip)


def scan(client, seeded, code: str) -> dict:
    return client.post("/api/v1/scan", json={"code": code},
                       headers={"Authorization": f"Bearer {seeded['device_token']}"}).get_json()


def pass_three_factor(device: Phone) -> str:
    """Send the SMS code, read it as the phone's owner would (the sandbox shows it), enter it."""
    assert device.client.post("/h5/verify/sms/send").status_code == 302
    page = device.client.get("/h5/verify/sms").get_data(as_text=True)
    otp = re.search(r'id="sandbox-otp">[^<]*<strong>(\d{6})</strong>', page).group(1)
    answer = device.client.post("/h5/verify/sms", data={"otp": otp})
    answer.close()  # the server is done with the response: what it sends after it (link notices) runs now
    return answer.headers["Location"]


def card_row(db_session, card_id: int) -> tuple:
    """The card's row as stored (ciphertexts included): unchanged means byte-for-byte unchanged."""
    return tuple(db_session.execute(text("SELECT * FROM ehealth_cards WHERE id = :id"), {"id": card_id}).one())


def upward(db_session) -> tuple[int, int]:
    return count(db_session, AuthRecord), count(db_session, OutboxEntry)


def give_victim_card(db_session, demo, methods: str, victim: Phone | None = None) -> EHealthCard:
    """The victim's card proven by ``methods`` (three-factor through the pages; face and on-site as the
    operator's confirmation leaves them)."""
    if methods == "2":
        victim.start(VICTIM)
        assert pass_three_factor(victim) == "/h5/code"
    else:
        user = ensure_app_user(db_session, demo, "victim-desk")
        issue_or_update_card(db_session, dict(VICTIM), demo, methods=methods, app_user=user)
        db_session.commit()
    db_session.expire_all()
    return db_session.scalar(select(EHealthCard))


# --- a weaker check never takes over a stronger card ------------------------------------------------

@pytest.mark.parametrize("methods", ["2", "3^4", "4"])
def test_two_factor_on_another_account_leaves_a_stronger_card_untouched(phone, db_session, demo, seeded, client,
                                                                        methods):
    victim = phone("victim", "10.0.0.1")
    card = give_victim_card(db_session, demo, methods, victim)
    before, sent_before = card_row(db_session, card.id), upward(db_session)
    attacker = phone("attacker", "10.6.6.6")
    attacker.start(VICTIM, ATTACKER)
    answer = attacker.client.post("/h5/verify/two-factor")
    assert answer.headers["Location"].endswith("/h5/methods"), "the weaker pass must not reach the code"
    page = attacker.client.get("/h5/methods").get_data(as_text=True)
    assert "更高级别" in page and ("加手机短信验证" in page or "到现场核验" in page)
    db_session.expire_all()
    assert card_row(db_session, card.id) == before  # phone, address, contact, method: all as they were
    assert upward(db_session) == sent_before  # no version goes to the province
    assert db_session.scalar(select(AppUser.card_id).where(AppUser.app_user_id == "attacker")) is None
    assert attacker.code_text() is None
    assert attacker.client.get("/h5/code/cancel").headers["Location"].endswith("/h5/service")
    assert attacker.client.post("/h5/code/cancel", data={"confirm": "y"}).headers["Location"].endswith("/h5/service")
    db_session.expire_all()
    assert db_session.get(EHealthCard, card.id).status == "active"
    if methods == "2":
        assert scan(client, seeded, victim.code_text())["result"] == "authenticated"


def test_a_link_made_by_knowledge_ends_when_the_person_proves_more(phone, db_session, seeded, client):
    attacker = phone("early-bird", "10.6.6.6")
    attacker.start(VICTIM, ATTACKER)
    assert attacker.client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    shown = attacker.code_text()
    assert scan(client, seeded, shown)["result"] == "authenticated"
    victim = phone("victim", "10.0.0.1")
    victim.start(VICTIM)
    assert pass_three_factor(victim) == "/h5/code"
    assert attacker.code_text() is None  # the knowledge link ended
    assert scan(client, seeded, shown).get("result") != "authenticated"  # and the code it showed is dead
    db_session.expire_all()
    card = db_session.scalar(select(EHealthCard))
    assert card.phone == VICTIM["phone"] and card.linkman is None and card.assurance_level == 2
    latest = db_session.scalars(select(AuthRecord).order_by(AuthRecord.version.desc())).first()
    assert latest.payload["phone"] == VICTIM["phone"] and latest.payload["authentication_method"] == "1^2"


def test_a_link_weaker_than_the_card_cannot_cancel_it(phone, db_session, demo):
    victim = phone("victim", "10.0.0.1")
    card = give_victim_card(db_session, demo, "2", victim)
    user = db_session.scalar(select(AppUser).where(AppUser.app_user_id == "victim"))
    user.link_level = 1  # a link from before the card reached its level
    db_session.commit()
    page = victim.client.get("/h5/code/cancel")
    assert page.status_code == 403 and "加手机短信验证" in page.get_data(as_text=True)
    assert victim.client.post("/h5/code/cancel", data={"confirm": "y"}).status_code == 403
    db_session.expire_all()
    assert db_session.get(EHealthCard, card.id).status == "active"


def test_the_proven_phone_hears_of_a_new_link(phone, db_session, demo, app):
    first = phone("victim-app-a", "10.0.0.1")
    give_victim_card(db_session, demo, "2", first)
    second = phone("victim-app-b", "10.0.0.2")
    second.start(VICTIM)
    assert pass_three_factor(second) == "/h5/code"
    notices = get_providers(app).sms.sandbox_notices(VICTIM["phone"])
    assert len(notices) == 1
    assert "vi******-b" in notices[0] and "如非本人操作" in notices[0] and VICTIM["idcode"] not in notices[0]


def test_a_failing_notice_never_blocks_the_resident_and_is_recorded(phone, db_session, demo, app, monkeypatch):
    from erhc_h5.identity import ProviderUnavailable
    from erhc_h5.cards.models import LinkNotice

    give_victim_card(db_session, demo, "2", phone("victim-app-a", "10.0.0.1"))
    sms = get_providers(app).sms

    def down(*_args):
        raise ProviderUnavailable("timeout")

    monkeypatch.setattr(sms, "send_notice", down)
    second = phone("victim-app-b", "10.0.0.2")
    second.start(VICTIM)
    assert pass_three_factor(second) == "/h5/code"
    db_session.expire_all()
    notice = db_session.scalar(select(LinkNotice))
    assert notice.state == "pending" and notice.last_error == "timeout" and notice.attempts == 1


# --- a stranger's failures never lock the real person out -----------------------------------------

def test_strangers_failures_leave_the_real_person_every_stronger_method(phone, app, db_session):
    for i in range(app.config["LOCKOUT_FAILURES"] + 2):
        stranger = phone(f"stranger-{i}", f"10.1.0.{i}")
        stranger.start({**VICTIM, "name": "王失败"})
        stranger.client.post("/h5/verify/two-factor")
    victim = phone("victim", "10.0.0.1")
    victim.start(VICTIM)  # identity accepted: not locked
    assert victim.vs().state == "in_progress"
    assert pass_three_factor(victim) == "/h5/code"


def test_strangers_failures_only_slow_the_knowledge_check(phone, app, db_session):
    for i in range(app.config["LOCKOUT_FAILURES"]):
        stranger = phone(f"stranger-{i}", f"10.1.0.{i}")
        stranger.start({**VICTIM, "name": "王失败"})
        stranger.client.post("/h5/verify/two-factor")
    late = phone("stranger-late", "10.1.1.1")
    late.start({**VICTIM, "name": "王失败"})
    late.client.post("/h5/verify/two-factor")  # the first try after the threshold goes ahead …
    victim = phone("victim", "10.0.0.1")
    victim.start(VICTIM)
    victim.client.post("/h5/verify/two-factor")  # … the next one waits
    page = victim.client.get("/h5/methods").get_data(as_text=True)
    assert "需等待" in page and "不受影响" in page
    assert victim.vs().state == "in_progress"


def test_one_account_is_locked_for_the_person_after_its_own_failures(phone, app, db_session):
    attacker = phone("guesser", "10.6.6.6")
    for _ in range(app.config["LOCKOUT_FAILURES"]):
        attacker.start({**VICTIM, "name": "王失败"})
        attacker.client.post("/h5/verify/two-factor")
    attacker.start(VICTIM)
    assert attacker.vs().state == "locked"  # this account is done for this person, whatever it types now


def test_the_operator_lifts_a_lock_after_checking_the_document(phone, app, client, auth, db_session):
    own = phone("forgetful", "10.0.0.1")
    for _ in range(app.config["LOCKOUT_FAILURES"]):
        own.start({**VICTIM, "name": "王失败"})
        own.client.post("/h5/verify/two-factor")
    own.start(VICTIM)
    assert own.vs().state == "locked"
    auth.login("operator")
    refused = client.post("/staff/onsite/unlock/", data={"id_card_type_code": "01", "idcode": VICTIM["idcode"],
                                                          "note": "核对身份证原件"})
    assert refused.status_code == 200 and "请核对证件原件后勾选" in refused.get_data(as_text=True)
    done = client.post("/staff/onsite/unlock/", data={"id_card_type_code": "01", "idcode": VICTIM["idcode"],
                                                       "document_checked": "y", "note": "核对身份证原件"})
    assert done.status_code == 302
    own.start(VICTIM)
    assert own.vs().state == "in_progress"
    audit_text = db_session.execute(text("SELECT action, detail FROM audit_log WHERE action = 'onsite.lock_lifted'")).all()
    assert len(audit_text) == 1 and VICTIM["idcode"] not in repr(audit_text)


# --- registrations awaiting an on-site check -----------------------------------------------------

def test_an_unchecked_registration_sends_nothing_upward(phone, db_session):
    typist = phone("typist", "10.6.6.6")
    typist.start(VICTIM, ATTACKER)
    assert typist.client.post("/h5/verify/onsite").headers["Location"] == "/h5/verify/onsite"
    assert upward(db_session) == (0, 0)
    card = db_session.scalar(select(EHealthCard))
    assert card.recognize_flag == 0 and card.assurance_level == 0 and card.phone_level == 0


def test_one_open_registration_per_person(phone, db_session):
    for i in range(3):
        device = phone(f"typist-{i}", f"10.6.6.{i}")
        device.start(VICTIM, ATTACKER)
        assert device.client.post("/h5/verify/onsite").headers["Location"] == "/h5/verify/onsite"
    db_session.expire_all()
    open_ = db_session.scalars(select(VerificationSession).where(VerificationSession.state == "pending_onsite")).all()
    assert len(open_) == 1  # the newest; the earlier ones were closed
    holders = db_session.scalars(select(AppUser.app_user_id).where(AppUser.card_id.is_not(None))).all()
    assert holders == ["typist-2"]


def test_a_registration_never_touches_a_verified_card(phone, db_session, demo):
    victim = phone("victim", "10.0.0.1")
    card = give_victim_card(db_session, demo, "2", victim)
    before, sent = card_row(db_session, card.id), upward(db_session)
    typist = phone("typist", "10.6.6.6")
    typist.start(VICTIM, ATTACKER)
    typist.client.post("/h5/verify/onsite")
    db_session.expire_all()
    assert card_row(db_session, card.id) == before and upward(db_session) == sent


@pytest.mark.parametrize("value", ['<b>=HYPERLINK("http://evil")</b>', '=HYPERLINK("http://evil")', "+86 某路",
                                   "-1+2", "@SUM(A1)"])
def test_free_text_refuses_markup_and_formulas(phone, db_session, value):
    device = phone("typist", "10.6.6.6")
    device.client.get(device_launch(device))
    device.client.post("/h5/consent", data={"agree": "y"})
    device.client.post("/h5/identity", data={k: VICTIM[k] for k in ("name", "id_card_type_code", "idcode")})
    answer = device.client.post("/h5/profile", data={"nation": "01", "phone": VICTIM["phone"], "county_code": "330106",
                                                      "current_address": value})
    assert answer.status_code == 200
    body = answer.get_data(as_text=True)
    assert "不能包含" in body or "不能以" in body
    assert count(db_session, EHealthCard) == 0


def device_launch(device: Phone) -> str:
    from erhc_h5.resident.launch import make_launch_url

    return make_launch_url(device.demo, device.uid, device.demo.launch_secret)


# --- a guess is given back whenever a check ends without a verdict ---------------------------------

def guesses_held(db_session) -> int:
    db_session.expire_all()
    return int(db_session.scalar(select(func.coalesce(func.sum(RateCounter.count), 0))
                                 .where(RateCounter.key.like("guess:%"))))


def test_a_phone_changed_while_the_check_is_under_way_spends_no_guess(phone, db_session, monkeypatch):
    device = phone("victim", "10.0.0.1")
    device.start(VICTIM)
    real_gate = verification.begin_check

    def gate_then_profile_changes(session, vs, methods, **kwargs):
        refused = real_gate(session, vs, methods, **kwargs)
        # What a parallel /h5/profile POST does between the gate and the provider: another phone.
        draft = verification.draft(vs)
        draft.phone = "13600000000"
        verification.save(vs, draft)
        return refused

    assert pass_three_factor_code_only(device)
    monkeypatch.setattr(verification, "begin_check", gate_then_profile_changes)
    answer = device.client.post("/h5/verify/three-factor")
    assert answer.headers["Location"].endswith("/h5/verify/sms")
    assert guesses_held(db_session) == 0


def pass_three_factor_code_only(device: Phone) -> bool:
    """Prove the phone with the SMS code without running the check: the check is then posted apart."""
    device.client.post("/h5/verify/sms/send")
    page = device.client.get("/h5/verify/sms").get_data(as_text=True)
    otp = re.search(r'id="sandbox-otp">[^<]*<strong>(\d{6})</strong>', page).group(1)
    vs = device.vs()
    from erhc_h5.resident import checks

    return checks.check_code(device.db, vs, otp) == "ok" and (device.db.commit() or True)


# --- what the resident reads -----------------------------------------------------------------------

def test_the_tries_left_are_the_true_count_across_sessions(phone, app):
    device = phone("forgetful", "10.0.0.1")
    device.start({**VICTIM, "name": "王失败"})
    device.client.post("/h5/verify/two-factor")
    device.client.post("/h5/verify/two-factor")
    page = device.client.get("/h5/methods").get_data(as_text=True)
    assert f"本账号还可尝试{app.config['LOCKOUT_FAILURES'] - 2}次" in page
    device.start({**VICTIM, "name": "王失败"})  # a new session does not reset it
    assert f"本账号还可尝试{app.config['LOCKOUT_FAILURES'] - 2}次" in device.client.get("/h5/methods").get_data(as_text=True)


def test_the_lock_page_gives_the_time_the_hotline_and_the_points(phone, app):
    device = phone("forgetful", "10.0.0.1")
    for _ in range(app.config["LOCKOUT_FAILURES"]):
        device.start({**VICTIM, "name": "王失败"})
        device.client.post("/h5/verify/two-factor")
    page = device.client.get("/h5/status").get_data(as_text=True)
    assert "北京时间" in page and 'id="hotline"' in page and 'id="onsite-points"' in page
    assert "代码" not in page and "mismatch" not in page
