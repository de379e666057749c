"""Face capture upload, the on-site code, the operator console, and registration without a phone."""
from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from erhc_h5.cards.models import EHealthCard
from erhc_h5.security.pii import blind_index


def photo(size=(160, 160)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 180, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def upload(client, data: bytes, name="face.jpg"):
    return client.post("/h5/verify/face", data={"photo": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_face_then_operator_confirms_3_4(journey, client, auth, db_session):
    journey.ready()
    page = client.get("/h5/verify/face").get_data(as_text=True)
    assert "playsinline" in page and 'capture="user"' in page and 'accept="image/*"' in page
    assert upload(client, b"not an image").status_code == 200
    response = upload(client, photo())
    assert response.headers["Location"] == "/h5/verify/onsite"
    vs = journey.vs()
    assert vs.state == "pending_onsite" and vs.method == "3^4"
    wait = client.get("/h5/verify/onsite").get_data(as_text=True)
    assert vs.onsite_code[:4] in wait and "现场认证二维码" in wait
    qr = client.get("/h5/verify/onsite/qr.svg")
    assert qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    code = vs.onsite_code
    with client.session_transaction() as cookie:
        resident = dict(cookie)
    auth.login("operator")
    found = client.post("/staff/onsite/", data={"code": code.lower()[:4] + "-" + code.lower()[4:]})
    assert found.headers["Location"].endswith(f"/staff/onsite/{code}")
    review = client.get(found.headers["Location"]).get_data(as_text=True)
    # The operator compares the person and the document with the registration in full.
    assert "测试甲" in review and "330106199003071236" in review and "1990-03-07" in review
    unnumbered = client.post(f"/staff/onsite/{code}", data={"note": "核验居民身份证", "document_checked": "y",
                                                           "action": "confirm"})
    assert "请输入居民出示的证件原件上的证件号码" in unnumbered.get_data(as_text=True)
    unchecked = client.post(f"/staff/onsite/{code}", data={"note": "核验居民身份证", "action": "confirm",
                                                          "document_number": "330106199003071236"})
    assert "请核对证件原件后勾选" in unchecked.get_data(as_text=True)
    done = client.post(f"/staff/onsite/{code}", data={"note": "核验居民身份证", "document_checked": "y",
                                                     "action": "confirm", "document_number": "330106199003071236"})
    assert done.status_code == 302
    vs = journey.vs()
    assert vs.state == "passed" and vs.confirmed_by_id and vs.confirm_note == "核验居民身份证"
    card = db_session.get(EHealthCard, vs.card_id)
    assert card.authentication_method == "3^4" and card.recognize_flag == 1
    with client.session_transaction() as cookie:
        cookie.update(resident)
    assert client.get("/h5/status.json").get_json()["next"] == "/h5/code"


def test_face_mismatch_counts_as_attempt(journey, client):
    journey.ready(identity={"name": "测试失败"})
    client.get("/h5/verify/face")
    response = upload(client, photo())
    assert response.headers["Location"] == "/h5/methods" and journey.vs().attempts == 1


def test_tiny_photo_is_not_an_attempt(journey, client):
    journey.ready()
    client.get("/h5/verify/face")
    response = upload(client, photo((20, 20)))
    assert response.headers["Location"] == "/h5/verify/face" and journey.vs().attempts == 0


def test_onsite_only_and_operator_reject(journey, client, auth):
    journey.ready()
    assert client.post("/h5/verify/onsite").headers["Location"] == "/h5/verify/onsite"
    vs = journey.vs()
    assert vs.method == "4" and vs.state == "pending_onsite"
    auth.login("operator")
    client.post(f"/staff/onsite/{vs.onsite_code}", data={"note": "证件照片与本人不符", "action": "reject"})
    assert journey.vs().state == "failed"
    missing = client.post("/staff/onsite/", data={"code": vs.onsite_code})
    assert "未找到待现场认证的记录" in missing.get_data(as_text=True)


def test_console_requires_operator(client, auth):
    auth.login("nurse")
    assert client.get("/staff/onsite/").status_code == 403
    assert client.get("/staff/onsite/register").status_code == 403


def test_register_without_phone_uses_contact_mobile(client, auth, db_session, seeded):
    auth.login("operator")
    page = client.get("/staff/onsite/register").get_data(as_text=True)
    assert "联系人的手机号将同时填入" in page
    form = {"app": seeded["app_record_no"], "name": "测试丙", "id_card_type_code": "01",
            "idcode": "11010519491231002X", "nation": "01", "county_code": "", "current_address": "",
            "linkman": "测试丁", "telephone": "", "note": "核验户口簿"}
    bad = client.post("/staff/onsite/register", data=form).get_data(as_text=True)
    assert "联系人手机号不能为空" in bad and 'value="测试丙"' in bad
    bad_phone = client.post("/staff/onsite/register", data={**form, "telephone": "0571-1234"}).get_data(as_text=True)
    assert "联系人手机号应为11位数字" in bad_phone
    ok = client.post("/staff/onsite/register", data={**form, "telephone": "13900000003"})
    assert ok.status_code == 302
    card = db_session.scalar(select(EHealthCard).where(
        EHealthCard.idcode_bidx == blind_index("idcode", "01:11010519491231002X")))
    assert card.phone == card.telephone == "13900000003" and card.linkman == "测试丁"
    assert card.authentication_method == "4" and card.recognize_flag == 1 and card.sex == "2"


def test_the_album_photo_counts_when_the_camera_input_is_left_empty(journey, client):
    """The page has two ``photo`` inputs (camera, album); a browser sends the unused one as an empty part."""
    journey.ready()
    page = client.get("/h5/verify/face").get_data(as_text=True)
    assert page.count('name="photo"') == 2 and page.count('capture="user"') == 1
    response = client.post("/h5/verify/face", content_type="multipart/form-data",
                           data={"photo": [(io.BytesIO(b""), ""), (io.BytesIO(photo()), "album.jpg")]})
    assert response.headers["Location"] == "/h5/verify/onsite"


def test_two_empty_photo_inputs_ask_for_a_photo(journey, client):
    journey.ready()
    client.get("/h5/verify/face")
    response = client.post("/h5/verify/face", content_type="multipart/form-data",
                           data={"photo": [(io.BytesIO(b""), ""), (io.BytesIO(b""), "")]})
    assert response.status_code == 200 and "请先拍摄或选择一张本人正面照片" in response.get_data(as_text=True)
    assert journey.vs().attempts == 0
