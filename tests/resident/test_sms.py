"""Three-factor with an SMS code: 6 digits, 5 minutes, 5 tries, cool-down after the gateway confirms."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from erhc_h5.db import utcnow
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.resident import checks, verification
from erhc_h5.cards.models import EHealthCard


def shown_code(page: str) -> str:
    return re.search(r"验证码为 <strong>(\d{6})</strong>", page).group(1)


def test_three_factor_pass_with_sandbox_code(journey, db_session):
    journey.ready()
    assert 'name="otp"' in journey.client.get("/h5/verify/sms").get_data(as_text=True)
    sent = journey.client.post("/h5/verify/sms/send", follow_redirects=True).get_data(as_text=True)
    assert "验证码已发送至138****0001" in sent
    code = shown_code(sent)
    wrong = journey.client.post("/h5/verify/sms", data={"otp": "000000" if code != "000000" else "111111"})
    assert "验证码不正确" in wrong.get_data(as_text=True) and journey.vs().otp_attempts == 1
    done = journey.client.post("/h5/verify/sms", data={"otp": code})
    assert done.headers["Location"] == "/h5/code"
    card = db_session.get(EHealthCard, journey.vs().card_id)
    assert card.authentication_method == "2" and card.recognize_flag == 1


def test_cooldown_and_same_code_resent_while_valid(journey, monkeypatch):
    journey.ready()
    first = shown_code(journey.client.post("/h5/verify/sms/send", follow_redirects=True).get_data(as_text=True))
    again = journey.client.post("/h5/verify/sms/send", follow_redirects=True).get_data(as_text=True)
    assert "秒后再重新获取" in again
    vs = journey.vs()
    vs.otp_sent_at = utcnow() - dt.timedelta(seconds=61)
    journey.db.commit()
    resent = journey.client.post("/h5/verify/sms/send", follow_redirects=True).get_data(as_text=True)
    assert "验证码已发送" in resent and shown_code(resent) == first


def test_gateway_failure_starts_no_cooldown(journey, provider_mode):
    journey.ready()
    provider_mode("timeout")
    failed = journey.client.post("/h5/verify/sms/send")
    page = failed.get_data(as_text=True)
    assert failed.status_code == 503 and "不是您的问题" in page and 'action="/h5/verify/sms/send"' in page
    assert journey.vs().otp_sent_at is None and journey.vs().attempts == 0
    provider_mode("normal")
    assert "验证码已发送" in journey.client.post("/h5/verify/sms/send", follow_redirects=True).get_data(as_text=True)


def test_a_gateway_failure_commits_the_code_so_the_retry_resends_it(journey, db_session, provider_mode):
    journey.ready()
    provider_mode("timeout")
    with pytest.raises(ProviderUnavailable):
        checks.send_code(db_session, journey.vs())
    db_session.rollback()  # what the service committed survives it
    kept = verification.draft(journey.vs()).proof("otp")
    assert kept is not None and journey.vs().otp_sent_at is None
    provider_mode("normal")
    assert shown_code(journey.client.post("/h5/verify/sms/send", follow_redirects=True).get_data(as_text=True)) == kept


def test_five_wrong_tries_burn_the_code_and_expiry(journey, db_session):
    journey.ready()
    journey.client.post("/h5/verify/sms/send")
    vs = journey.vs()
    code = verification.draft(vs).proof("otp")
    wrong = "000000" if code != "000000" else "111111"
    results = [checks.check_code(db_session, vs, wrong) for _ in range(5)]
    assert results == ["wrong"] * 4 + ["too_many_tries"]
    assert checks.check_code(db_session, vs, code) == "too_many_tries"
    assert checks.check_code(db_session, vs, "12ab") == "too_many_tries"
    vs.otp_attempts = 0
    assert checks.check_code(db_session, vs, code, utcnow() + dt.timedelta(minutes=5, seconds=1)) == "expired"
    assert checks.check_code(db_session, vs, "12ab") == "bad_format"
    assert checks.check_code(db_session, vs, code) == "ok" and checks.phone_verified(vs)


def test_phone_send_limit(journey, app):
    app.config["SMS_PER_PHONE_HOUR"] = 2
    try:
        journey.ready()
        for _ in range(2):
            journey.client.post("/h5/verify/sms/send")
            vs = journey.vs()
            vs.otp_sent_at = utcnow() - dt.timedelta(seconds=61)
            journey.db.commit()
        page = journey.client.post("/h5/verify/sms/send", follow_redirects=True).get_data(as_text=True)
        assert "过于频繁" in page
    finally:
        app.config.pop("SMS_PER_PHONE_HOUR")


def test_changing_phone_requires_a_new_code(journey):
    journey.ready()
    journey.client.post("/h5/verify/sms/send")
    journey.profile(phone="13900000002")
    assert journey.vs().otp_hash is None
