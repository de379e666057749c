"""The province clock offset on the /ops page and in status.json: the figure, and the alert past the threshold."""
from __future__ import annotations

import re

import pytest

from tests.factories import sync_batch


def _measured(db_session, offset: float) -> None:
    sync_batch(db_session, "3301202612030900001", attempt_rows=[{"outcome": "ok", "clock_offset_seconds": offset}])
    db_session.commit()


@pytest.mark.parametrize("offset, shown, alerted", [
    (-600.0, "本服务器时钟比省级平台快约10分钟", True),
    (75.0, "本服务器时钟比省级平台慢约75秒", True),
    (-20.0, "本服务器时钟比省级平台快约20秒", False),
])
def test_dashboard_shows_the_offset_and_alerts_past_the_threshold(db_session, seeded, client, auth, offset, shown,
                                                                   alerted):
    _measured(db_session, offset)
    auth.login("ops")
    html = client.get("/ops").get_data(as_text=True)
    assert shown in html
    assert ('data-alert="clock_offset"' in html) is alerted
    alerts = client.get("/ops/status.json").get_json()["alerts"]
    assert [a["code"] for a in alerts] == (["clock_offset"] if alerted else [])


def test_before_any_reply_the_offset_is_unknown_and_no_alert(db_session, seeded, client, auth):
    auth.login("ops")
    status = client.get("/ops/status.json").get_json()
    assert status["province"]["clock"]["state"] == "unknown" and status["alerts"] == []
    text = client.get("/metrics").get_data(as_text=True)
    assert "erhc_ops_alert" in text and not re.search(r"^erhc_province_clock_offset_seconds ", text, re.M)
