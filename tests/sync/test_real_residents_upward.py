"""Real residents end to end: the H5, the on-site console and the CSV import, up to the sandbox receiver.

What the province holds is compared with values written out here from the standard (§5.2.2: the
9-digit county code, GB/T 2659 alpha-3, 11-digit mobile), not with anything the code computed.
"""
from __future__ import annotations

import csv

from sqlalchemy import select

from erhc_h5.sandbox import demo
from erhc_h5.db import session_scope
from erhc_h5.filing.models import FiledApp
from erhc_h5.resident.launch import make_launch_url
from erhc_h5.sandbox.models import ProvinceRecord

SPECIMEN = "11010519491231002X"  # GB 11643-1999


def _seed(app) -> dict:
    with app.app_context(), session_scope(app) as session:
        return demo.seed(app, session)


def _h5(app, uid: str, identity: dict, profile: dict, extra_profile: dict | None = None) -> None:
    client = app.test_client()
    with app.app_context(), session_scope(app) as session:
        demo_app = session.scalar(select(FiledApp).where(FiledApp.app_filing_no == demo.DEMO_APP_FILING_NO))
        url = make_launch_url(demo_app, uid, demo_app.launch_secret)
    assert client.get(url).status_code == 302
    client.post("/h5/consent", data={"agree": "y"})
    response = client.post("/h5/identity", data=identity)
    assert response.headers["Location"].endswith("/h5/profile"), response.get_data(as_text=True)
    response = client.post("/h5/profile", data={**profile, **(extra_profile or {})})
    assert response.headers["Location"].endswith("/h5/methods"), response.get_data(as_text=True)
    assert client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"


def _held(app) -> list[dict]:
    with app.app_context(), session_scope(app) as session:
        return [r.payload for r in session.scalars(select(ProvinceRecord)).all()]


def test_real_people_reach_the_province_normalised_and_as_two_where_they_are_two(chain, tmp_path):
    app = chain.app
    seeded = _seed(app)
    # The H5: a minority name with spaces round the dot, a phone as people type it, a 2021 district.
    _h5(app, "h5-uyghur", {"name": "艾力 · 买买提", "id_card_type_code": "01", "idcode": SPECIMEN},
        {"nation": "05", "phone": "+86 138 0013 8000", "county_code": "330113", "telephone": "(0571)88888888",
         "linkman": "阿依古丽", "address": "新疆维吾尔自治区乌鲁木齐市天山区某路1号", "birthplace": "新疆乌鲁木齐"})
    # Two passports with one number, in two countries: two people.
    for uid, name, nationality, sex in (("h5-us", "John Smith", "840", "1"), ("h5-de", "Hans Muller", "DEU", "1")):
        _h5(app, uid, {"name": name, "id_card_type_code": "03", "idcode": "123456789", "nationality": nationality},
            {"nation": "97", "phone": "13900000002", "county_code": "330114", "sex": sex, "birthday": "1980-05-06"})
    # The on-site console: a passport holder without a phone, registered with a contact.
    staff = app.test_client()
    assert staff.post("/staff/login", data=seeded["users"]["operator"]).status_code == 302
    response = staff.post("/staff/onsite/register", data={
        "app": seeded["app_record_no"], "name": "JEAN-PIERRE DUPONT", "id_card_type_code": "03",
        "idcode": "15AB12345", "nationality": "250", "sex": "1", "birthday": "1975-07-14", "nation": "97",
        "county_code": "330113", "linkman": "O'BRIEN", "telephone": "138-0013-8001", "note": "核验护照原件"})
    assert response.status_code == 302, response.get_data(as_text=True)
    # The CSV import: an X-ending number, 钱塘区, a dashed phone, a full-width dot.
    path = tmp_path / "people.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "id_card_type_code", "idcode", "phone", "nation", "county_code", "nationality",
                         "sex", "birthday"])
        writer.writerow(["阿依･古丽", "01", "360426199101010071", "139-0000-0003", "05", "330114", "156", "", ""])
        writer.writerow(["Anna Berg", "03", "E99887766", "13900000004", "97", "330106", "SWE", "2", "1990-02-03"])
        writer.writerow(["Anna Berg", "03", "E99887766", "13900000005", "97", "330106", "578", "2", "1991-04-05"])
    result = app.test_cli_runner().invoke(args=["residents", "import", str(path),
                                                "--app-record-no", seeded["app_record_no"]])
    assert result.exit_code == 0, result.output

    assert chain.once()["accepted"] >= 7
    held = {(p["name"], p["nationality"]): p for p in _held(app)}
    uyghur = held[("艾力·买买提", "CHN")]
    assert uyghur["phone"] == "13800138000" and uyghur["county_code"] == "330113000"
    assert uyghur["telephone"] == "0571-88888888" and uyghur["birthday"] == "1949-12-31" and uyghur["sex"] == "2"
    assert uyghur["address"].startswith("新疆") and uyghur["birthplace"] == "新疆乌鲁木齐"
    john, hans = held[("John Smith", "USA")], held[("Hans Muller", "DEU")]
    assert john["idcode"] == hans["idcode"] == "123456789"
    assert john["empi"] != hans["empi"] and john["erhc_card_no"] != hans["erhc_card_no"] and john["id"] != hans["id"]
    assert john["county_code"] == "330114000"
    dupont = held[("JEAN-PIERRE DUPONT", "FRA")]
    assert dupont["linkman"] == "O'BRIEN" and dupont["phone"] == "13800138001"
    assert dupont["authentication_method"] == "4"
    swede, norwegian = held[("Anna Berg", "SWE")], held[("Anna Berg", "NOR")]
    assert swede["empi"] != norwegian["empi"] and swede["birthday"] == "1990-02-03" and norwegian["phone"] == "13900000005"
    imported = held[("阿依·古丽", "CHN")]
    assert imported["phone"] == "13900000003" and imported["county_code"] == "330114000"


def test_a_cancelled_card_goes_upward_as_d_and_its_code_scans_revoked(chain):
    app = chain.app
    seeded = _seed(app)
    client = app.test_client()
    with app.app_context(), session_scope(app) as session:
        demo_app = session.scalar(select(FiledApp).where(FiledApp.app_filing_no == demo.DEMO_APP_FILING_NO))
        url = make_launch_url(demo_app, "leaver", demo_app.launch_secret)
    client.get(url)
    client.post("/h5/consent", data={"agree": "y"})
    client.post("/h5/identity", data={"name": "测离开", "id_card_type_code": "01", "idcode": SPECIMEN})
    client.post("/h5/profile", data={"nation": "01", "phone": "13800138000", "county_code": "330106"})
    assert client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    with app.app_context(), session_scope(app) as session:
        from erhc_h5.code import tokens
        from erhc_h5.cards.models import EHealthCard

        card_id = session.scalar(select(EHealthCard.id))
        code = tokens.issue(session, card_id).text  # the code on the resident's screen
    assert chain.once()["accepted"] == 1
    assert client.post("/h5/code/cancel", data={}).status_code == 400  # not confirmed: nothing happens
    assert client.post("/h5/code/cancel", data={"confirm": "y"}).headers["Location"] == "/h5/service"
    scanned = client.post("/api/v1/scan", json={"code": code},
                          headers={"Authorization": f"Bearer {seeded['device_token']}"})
    assert scanned.get_json()["error"] == "revoked" and 400 <= scanned.status_code < 500
    assert chain.once()["accepted"] == 1
    operations = sorted(p["cd_operation"] for p in _held(app))
    assert operations == ["d", "i"]
    assert client.get("/h5/code/token.json").status_code == 404  # the link ended with the card
