"""Staff read Beijing time: one filter renders every moment, and the console's pages show a known
instant as Beijing time, never as the UTC the database keeps."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from erhc_h5.audit import AuditEntry, audit
from erhc_h5.code import tokens
from erhc_h5.cards.models import EHealthCard
from erhc_h5.scan.models import ScanDevice, ScanEvent
from tests.factories import make_card

# 16:30:05 UTC on 2 December is 00:30:05 on 3 December in Beijing (UTC+8, no daylight saving).
INSTANT = dt.datetime(2026, 12, 2, 16, 30, 5)  # naive UTC, as the database keeps it
BEIJING_MINUTES, BEIJING_SECONDS = "2026-12-03 00:30", "2026-12-03 00:30:05"
UTC_TEXT = "2026-12-02 16:30"


@pytest.mark.parametrize(("source", "expected"), [
    ("{{ t | beijing }}", BEIJING_MINUTES),
    ('{{ t | beijing("seconds") }}', BEIJING_SECONDS),
    ('{{ t | beijing("%H:%M") }}', "00:30"),
    ("{{ none | beijing }}", ""),
])
def test_the_filter_renders_a_utc_instant_in_beijing_time(app, source, expected):
    assert app.jinja_env.from_string(source).render(t=INSTANT, none=None) == expected


def test_the_filter_takes_an_aware_moment_as_the_moment_it_is(app):
    aware = dt.datetime(2026, 6, 30, 23, 59, tzinfo=ZoneInfo("America/New_York"))  # 03:59 UTC on 1 July
    assert app.jinja_env.from_string("{{ t | beijing }}").render(t=aware) == "2026-07-01 11:59"


def _independent_beijing(naive_utc: dt.datetime, pattern: str) -> str:
    """Beijing time by the tz database, not by the code under test."""
    return naive_utc.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo("Asia/Shanghai")).strftime(pattern)


def test_console_pages_show_a_known_instant_in_beijing_time(client, db_session, seeded, auth):
    card, _, _ = make_card(db_session, seeded, methods="2")
    code = tokens.issue(db_session, card.id).text
    db_session.execute(update(ScanDevice).values(created_at=INSTANT, last_seen_at=INSTANT))
    db_session.execute(update(EHealthCard).where(EHealthCard.id == card.id).values(authenticated_at=INSTANT))
    audit(db_session, "test.known_instant", actor_type="system")
    db_session.execute(update(AuditEntry).where(AuditEntry.action == "test.known_instant").values(at=INSTANT))
    db_session.commit()
    auth.login("admin")

    scanned = client.post("/scan", data={"code": code})
    assert 'data-result="authenticated"' in scanned.text
    event = db_session.scalar(select(ScanEvent).where(ScanEvent.card_id == card.id))
    recent = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).replace(tzinfo=None, microsecond=0)
    db_session.execute(update(ScanEvent).where(ScanEvent.id == event.id).values(at=recent))
    db_session.commit()

    pages = {
        "scan console (认证时间)": (scanned.text, BEIJING_SECONDS, "2026-12-02 16:30:05"),
        "devices": (client.get("/staff/admin/devices").text, BEIJING_MINUTES, UTC_TEXT),
        "audit log": (client.get("/staff/admin/audit?action=test.known_instant").text, BEIJING_SECONDS,
                      "2026-12-02 16:30:05"),
        "voucher": (client.get(f"/scan/voucher/{event.voucher_no}").text,
                    _independent_beijing(recent, "%Y-%m-%d %H:%M:%S"), recent.strftime("%Y-%m-%d %H:%M:%S")),
        "ops dashboard (scans)": (client.get("/ops").text, _independent_beijing(recent, "%Y-%m-%d %H:%M:%S"),
                                  recent.strftime("%Y-%m-%d %H:%M:%S")),
    }
    wrong = {name: (beijing in html, utc in html) for name, (html, beijing, utc) in pages.items()
             if beijing not in html or utc in html}
    assert not wrong, wrong
    assert "(UTC)" not in pages["devices"][0] and "北京时间" in pages["devices"][0]
