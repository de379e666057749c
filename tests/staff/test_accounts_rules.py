"""Staff account rules in-process: the backoff schedule, password rules and the demo seed's passwords."""
from __future__ import annotations

import datetime as dt

import pytest

from erhc_h5.db import utcnow
from erhc_h5.staff import throttle
from erhc_h5.staff.models import LoginThrottle
from erhc_h5.staff.passwords import WeakPassword, check_strength


def _fail_until_blocked(session, username: str, now: dt.datetime, cap: int) -> dt.datetime | None:
    until = None
    for _ in range(cap):
        slot = throttle.take(session, username, now)
        assert slot is not None
        until = throttle.failed(session, slot, now) or until
    return until


def test_backoff_doubles_in_a_row_and_a_right_password_starts_over(app, db_session):
    app.config.update(STAFF_LOGIN_MAX_FAILURES=3, STAFF_LOGIN_BACKOFF_SECONDS=60.0,
                      STAFF_LOGIN_BACKOFF_MAX_SECONDS=200.0)
    now = utcnow()
    waits = []
    for _ in range(4):
        until = _fail_until_blocked(db_session, "victim.one", now, 3)
        waits.append((until - now).total_seconds())
        assert throttle.take(db_session, "victim.one", now + dt.timedelta(seconds=1)) is None
        now = until + dt.timedelta(seconds=1)
    assert waits == [60, 120, 200, 200]  # 60 × 2^n, capped at the configured maximum
    assert throttle.take(db_session, "Victim.One ", now) is not None  # the typed name is normalised
    throttle.clear(db_session, "victim.one")
    assert (_fail_until_blocked(db_session, "victim.one", now, 3) - now).total_seconds() == 60


def test_failures_a_day_old_are_forgotten(app, db_session):
    app.config.update(STAFF_LOGIN_MAX_FAILURES=3)
    then = utcnow() - dt.timedelta(hours=25)
    for _ in range(2):
        throttle.failed(db_session, throttle.take(db_session, "victim.two", then), then)
    now = utcnow()
    for _ in range(2):  # two more today would reach the cap only if yesterday's still counted
        assert throttle.failed(db_session, throttle.take(db_session, "victim.two", now), now) is None
    assert db_session.get(LoginThrottle, "victim.two").failures == 2


@pytest.mark.parametrize("password,reason", [
    ("short-1", "password_too_short"), ("x" * 129, "password_too_long"),
    ("Zhao.Li#77-Quern", "password_has_username"), ("aaaaaaaaaa", "password_guessable"),
    ("woaini5201314", "password_guessable"), ("qazwsxedc123", "password_guessable")])
def test_password_rules(password, reason):
    with pytest.raises(WeakPassword) as info:
        check_strength(password, username="zhao.li")
    assert info.value.reason == reason and any("\u4e00" <= c <= "\u9fff" for c in str(info.value))


def test_demo_seed_passwords_pass_the_rules(seeded):
    for creds in seeded["users"].values():
        check_strength(creds["password"], username=creds["username"])
