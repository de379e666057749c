"""A whole resident journey (launch → consent → identity → two-/three-factor → code face → scan) leaves no
clear personal data in logs (every logger, JSON lines included) or in the audit log."""
from __future__ import annotations

import base64
import io
import json
import logging
import re

from sqlalchemy import select

from erhc_h5.audit import AuditEntry
from erhc_h5.logs import JsonFormatter
from tests.support import Journey, PROFILE, qr_texts
from tests.factories import resident_id

PEOPLE = [
    {"name": "欧阳明月", "idcode": resident_id("330106", "19851224", 457), "phone": "13987654321", "method": "two"},
    {"name": "司马青衫", "idcode": resident_id("330102", "19720101", 128), "phone": "15912348765", "method": "sms"},
    {"name": "失败测试", "idcode": resident_id("330103", "19990909", 333), "phone": "18611112222", "method": "two"},
]


def _code_text(page: str) -> str:
    src = re.search(r'<img[^>]*alt="电子健康码"[^>]*src="data:image/png;base64,([^"]+)"', page) or \
        re.search(r'<img[^>]*src="data:image/png;base64,([^"]+)"[^>]*alt="电子健康码"', page)
    assert src, "the code face shows the code as an <img alt=电子健康码>"
    [found] = qr_texts(base64.b64decode(src.group(1)))
    return found


def _walk(journey: Journey, person: dict, uid: str, device_token: str) -> None:
    client = journey.client
    hostile = {"X-Request-Id": person["idcode"]}  # an ID-number-shaped request id must not reach the logs clear
    journey.launch(uid)
    journey.consent()
    assert journey.identity(name=person["name"], id_card_type_code="01", idcode=person["idcode"]).status_code == 302
    assert journey.profile(phone=person["phone"]).status_code == 302
    if person["method"] == "sms":
        sent = client.post("/h5/verify/sms/send", follow_redirects=True).get_data(as_text=True)
        otp = re.search(r"验证码为 <strong>(\d{6})</strong>", sent).group(1)
        done = client.post("/h5/verify/sms", data={"otp": otp}, headers=hostile)
    else:
        done = client.post("/h5/verify/two-factor", headers=hostile)
    if "失败" in person["name"]:
        assert done.status_code in (200, 302)
        return
    assert done.headers["Location"] == "/h5/code", done.get_data(as_text=True)[:300]
    code = _code_text(client.get("/h5/code").get_data(as_text=True))
    scan = client.post("/api/v1/scan", json={"code": code}, headers={"Authorization": f"Bearer {device_token}"})
    assert scan.status_code == 200 and scan.get_json()["result"] == "authenticated"
    bad = client.post("/api/v1/scan", json={"code": person["idcode"]}, headers={"Authorization": f"Bearer {device_token}"})
    assert 400 <= bad.status_code < 500


def test_whole_journeys_leave_no_clear_personal_data_in_logs(client, db_session, seeded, caplog):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    events = logging.getLogger("erhc")
    events.addHandler(handler)
    try:
        with caplog.at_level(logging.DEBUG):
            journey = Journey(client, db_session)
            for i, person in enumerate(PEOPLE):
                _walk(journey, person, f"log-user-{i}", seeded["device_token"])
    finally:
        events.removeHandler(handler)
    json_lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    assert len(json_lines) >= 5, "the journey logs its events"
    assert all("request_id" in line for line in json_lines if line.get("event", "").startswith(("verification", "scan")))
    audit = [json.dumps([e.action, e.actor_id, e.target_id, e.detail], ensure_ascii=False)
             for e in db_session.scalars(select(AuditEntry))]
    haystack = "\n".join([caplog.text, stream.getvalue(), *audit,
                          *(json.dumps(getattr(r, "event", None), ensure_ascii=False, default=str) for r in caplog.records)])
    leaks = [(p["name"], what) for p in PEOPLE for what in ("name", "idcode", "phone")
             if p[what] in haystack or json.dumps(p[what])[1:-1] in haystack]
    assert leaks == [], f"clear personal data in logs or audit: {leaks}"
    assert PROFILE["phone"] not in haystack
