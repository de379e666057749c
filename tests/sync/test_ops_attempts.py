"""Failed upload attempts reach /ops with their reason code, its meaning and the transport detail."""
from __future__ import annotations

import datetime as dt

from erhc_h5.db import utcnow
from tests.factories import sync_batch


def test_dashboard_lists_recent_failed_attempts_with_reasons(db_session, seeded, client, auth):
    now = utcnow()
    sync_batch(db_session, "3301202611281200001", state="ready", record_count=3, attempt_rows=[
        {"at": now - dt.timedelta(minutes=3), "outcome": "nested_json", "status_code": 200, "elapsed_ms": 40,
         "detail": "嵌套超过 64 层"},
        {"at": now - dt.timedelta(minutes=2), "outcome": "reply_too_large", "status_code": 200, "elapsed_ms": 900,
         "detail": "读取超过上限 4194304 字节"},
        {"at": now - dt.timedelta(minutes=1), "outcome": "deadline", "elapsed_ms": 30001, "detail": "超过整次请求时限"},
    ])
    db_session.commit()
    auth.login("ops")
    html = client.get("/ops").get_data(as_text=True)
    assert "省级平台上传失败(超过整次上传时限(回复过慢),deadline)" in html
    assert 'id="recent-failures"' in html
    for code, detail in (("deadline", "超过整次请求时限"), ("reply_too_large", "读取超过上限 4194304 字节"),
                         ("nested_json", "嵌套超过 64 层")):
        assert f'data-reason="{code}"' in html and detail in html
    assert html.index('data-reason="deadline"') < html.index('data-reason="nested_json"')  # newest first
    assert "30.0 秒" in html and "3301202611281200001" in html
    data = client.get("/ops/status.json").get_json()
    assert [f["outcome"] for f in data["sync"]["recent_failures"]] == ["deadline", "reply_too_large", "nested_json"]
    assert data["sync"]["last_attempt"]["detail"] == "超过整次请求时限"
