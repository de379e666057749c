"""The scan console (nurse or enrolled device), the voucher, the code face and the privacy receipt."""
from __future__ import annotations

import re

from erhc_h5.code import tokens
from tests.code.helpers import login_resident
from tests.factories import card_with_code, make_card


def test_console_requires_nurse_or_device(client, seeded, auth):
    assert client.get("/scan").headers["Location"].endswith("/scan/device")
    auth.login("operator")
    assert client.get("/scan").status_code == 302
    auth.logout()
    auth.login("nurse")
    page = client.get("/scan")
    assert page.status_code == 200 and 'name="code"' in page.text and "autofocus" in page.text


def test_nurse_scans_prints_voucher(client, db_session, seeded, auth):
    card, code, identity = card_with_code(db_session, seeded, methods="2^3")
    auth.login("nurse")
    page = client.post("/scan", data={"code": code + "\n"})
    assert page.status_code == 200 and "核验通过" in page.text and identity["name"] in page.text
    assert "三要素认证+面部识别" in page.text and 'data-result="authenticated"' in page.text
    voucher_url = re.search(r'href="(/scan/voucher/[^"]+)"', page.text).group(1)
    voucher = client.get(voucher_url)
    assert voucher.status_code == 200 and "接种疫苗凭证" in voucher.text and identity["name"] in voucher.text
    assert identity["idcode"] not in voucher.text and identity["idcode"][-4:] in voucher.text
    assert "示范社区卫生服务中心接种点" in voucher.text
    assert client.get("/scan/voucher/JZ0000").status_code == 404


def test_console_shows_reasons(client, db_session, seeded, auth):
    card, code, _ = card_with_code(db_session, seeded, methods=None)
    auth.login("nurse")
    assert "该用户未进行实名认证" in client.post("/scan", data={"code": code}).text
    page = client.post("/scan", data={"code": "garbage"})
    assert "无法识别" in page.text and "malformed" in page.text


def test_device_token_session(client, db_session, seeded):
    bad = client.post("/scan/device", data={"token": "dev_wrong"})
    assert "设备令牌无效" in bad.text
    ok = client.post("/scan/device", data={"token": seeded["device_token"]})
    assert ok.status_code == 302 and client.get("/scan").status_code == 200
    client.post("/scan/device/forget")
    assert client.get("/scan").status_code == 302


def test_code_face_and_refresh(client, db_session, seeded):
    assert client.get("/h5/code").headers["Location"].endswith("/h5/service")
    card, user, identity = make_card(db_session, seeded, methods="1", bind="app-user-1")
    login_resident(client, user)
    page = client.get("/h5/code")
    assert page.status_code == 200 and 'alt="电子健康码"' in page.text and "已实名" in page.text
    assert "张*丰" in page.text and identity["idcode"] not in page.text and identity["idcode"][-4:] in page.text
    assert 'src="data:image/png;base64,' in page.text and "<script src=" in page.text and "style=" not in page.text
    data = client.get("/h5/code/token.json").json
    assert data["src"].startswith("data:image/png;base64,") and 0 < data["expires_in"] <= 60
    assert client.get("/h5/code/token.json?format=svg").json["src"].startswith("data:image/svg+xml")


def test_unauthenticated_face_shows_banner(client, db_session, seeded):
    _, user, _ = make_card(db_session, seeded, methods=None, bind="app-user-2")
    login_resident(client, user)
    page = client.get("/h5/code")
    assert "未实名认证" in page.text and 'href="/h5/service"' in page.text and 'alt="电子健康码"' in page.text


def test_privacy_receipt_lists_scans(client, db_session, seeded):
    card, user, _ = make_card(db_session, seeded, methods="1", bind="app-user-3")
    code = tokens.issue(db_session, card.id).text
    db_session.commit()
    client.post("/api/v1/scan", json={"code": code}, headers={"Authorization": f"Bearer {seeded['device_token']}"})
    login_resident(client, user)
    page = client.get("/h5/code/history")
    assert page.status_code == 200 and "示范社区卫生服务中心接种点" in page.text and "核验通过" in page.text
