"""The filing pages: form errors, uploads, the lifecycle through HTTP, the secret shown once, print view."""
from __future__ import annotations

import io
import random
import re

import pytest
from PIL import Image
from sqlalchemy import select

from erhc_h5.filing.models import FiledApp
from tests.factories import image_bytes
from tests.filing.helpers import FIELDS, decision_data, form_data


@pytest.fixture
def reviewer_client(app, client, auth, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    auth.login("reviewer")
    return client


def _create(client, **changes):
    response = client.post("/staff/filing/new", data=form_data(**changes))
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/staff/filing/(\d+)", response.headers["Location"]).group(1))


def _upload(client, app_id, data: bytes, name="screen.png"):
    return client.post(f"/staff/filing/{app_id}/screens", data={"screen": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_form_has_every_field_of_the_source_table(reviewer_client):
    html = reviewer_client.get("/staff/filing/new").get_data(as_text=True)
    for label in ("应用名称", "应用备案号", "应用所属机构", "机构备案号", "建设单位", "建设单位联系人", "开发单位",
                  "开发单位联系人", "实名认证方式", "二要素认证", "三要素认证", "面部识别", "现场认证"):
        assert label in html


def test_bad_form_shows_chinese_errors_and_writes_nothing(reviewer_client, db_session):
    before = db_session.query(FiledApp).count()
    response = reviewer_client.post("/staff/filing/new", data=form_data(app_name="", auth_methods=[]))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "请填写应用名称" in html and 'aria-invalid="true"' in html
    response = reviewer_client.post("/staff/filing/new", data=form_data(auth_methods=["9"]))
    assert response.status_code == 422 and "实名认证方式只能是1至4" in response.get_data(as_text=True)
    assert db_session.query(FiledApp).count() == before


def test_lifecycle_over_http(reviewer_client, auth, db_session):
    app_id = _create(reviewer_client)
    response = reviewer_client.post(f"/staff/filing/{app_id}/submit", follow_redirects=True)
    assert "请先上传实名认证界面设计截图" in response.get_data(as_text=True)
    assert _upload(reviewer_client, app_id, image_bytes()).status_code == 302
    assert _upload(reviewer_client, app_id, image_bytes("JPEG"), "b.jpg").status_code == 302
    filed = db_session.get(FiledApp, app_id)
    assert [f["format"] for f in filed.ui_design_files] == ["PNG", "JPEG"]
    assert reviewer_client.post(f"/staff/filing/{app_id}/submit").status_code == 302
    # four eyes: another account approves, which sends the form to the province: no number, no secret yet
    auth.login("admin")
    response = reviewer_client.post(f"/staff/filing/{app_id}/approve", data={"review_opinion": "同意报省"})
    db_session.expire_all()
    filed = db_session.get(FiledApp, app_id)
    assert response.status_code == 302 and filed.status == "province_pending" and not filed.can_launch
    detail = reviewer_client.get(f"/staff/filing/{app_id}").get_data(as_text=True)
    assert "已提交省级,待省级审批" in detail and 'id="decision-form"' in detail
    # the province's approval, recorded from the stamped form, shows the secret once, on the POST response
    response = reviewer_client.post(f"/staff/filing/{app_id}/decision", data=decision_data(),
                                    content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    db_session.expire_all()
    filed = db_session.get(FiledApp, app_id)
    assert response.status_code == 200 and filed.status == "approved" and filed.access_code == "330100000077"
    assert filed.launch_secret in html and filed.access_code in html and "只显示这一次" in html
    assert response.headers["Cache-Control"] == "no-store"
    detail = reviewer_client.get(f"/staff/filing/{app_id}").get_data(as_text=True)
    assert filed.launch_secret not in detail and filed.access_code in detail and "下载盖章申请表" in detail
    # a second approve is refused, a suspension stops launches, rotation shows a new secret once
    response = reviewer_client.post(f"/staff/filing/{app_id}/approve", follow_redirects=True)
    assert "不能审核通过" in response.get_data(as_text=True)
    reviewer_client.post(f"/staff/filing/{app_id}/suspend")
    db_session.expire_all()
    assert db_session.get(FiledApp, app_id).can_launch is False
    old = filed.launch_secret
    html = reviewer_client.post(f"/staff/filing/{app_id}/rotate").get_data(as_text=True)
    db_session.expire_all()
    filed = db_session.get(FiledApp, app_id)
    assert filed.secret_version == 2 and filed.launch_secret != old and filed.launch_secret in html
    reviewer_client.post(f"/staff/filing/{app_id}/reinstate")
    db_session.expire_all()
    assert db_session.get(FiledApp, app_id).can_launch is True


def test_reject_requires_opinion(reviewer_client, db_session):
    app_id = _create(reviewer_client)
    _upload(reviewer_client, app_id, image_bytes())
    reviewer_client.post(f"/staff/filing/{app_id}/submit")
    html = reviewer_client.post(f"/staff/filing/{app_id}/reject", follow_redirects=True).get_data(as_text=True)
    assert "驳回时请填写管理单位意见" in html
    reviewer_client.post(f"/staff/filing/{app_id}/reject", data={"review_opinion": "请补充面部识别界面"})
    db_session.expire_all()
    filed = db_session.get(FiledApp, app_id)
    assert filed.status == "rejected" and filed.review_opinion == "请补充面部识别界面"
    assert reviewer_client.get(f"/staff/filing/{app_id}/edit").status_code == 200


@pytest.mark.parametrize("payload,name,message", [
    (b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10, "fake.png", "不是有效的PNG或JPEG图片"),
    (b"GIF89a" + b"\0" * 40, "x.gif", "不是有效的PNG或JPEG图片"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "x.svg", "不是有效的PNG或JPEG图片"),
    (b"", "empty.png", "请选择要上传的截图文件"),
])
def test_upload_validation(reviewer_client, db_session, payload, name, message):
    app_id = _create(reviewer_client)
    response = _upload(reviewer_client, app_id, payload, name)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db_session.get(FiledApp, app_id).ui_design_files == []


def test_wrong_image_type_and_truncated_png(reviewer_client, db_session):
    app_id = _create(reviewer_client)
    gif = image_bytes("GIF")
    response = _upload(reviewer_client, app_id, gif, "real.gif")
    assert response.status_code == 422 and "只能是PNG或JPEG" in response.get_data(as_text=True)
    png = image_bytes("PNG", (400, 400))
    response = _upload(reviewer_client, app_id, png[: len(png) // 2], "cut.png")
    assert response.status_code == 422
    assert db_session.get(FiledApp, app_id).ui_design_files == []


def test_oversize_upload(app, reviewer_client, db_session):
    app.config["UPLOAD_MAX_BYTES"] = 2000
    app_id = _create(reviewer_client)
    noise = random.Random(1).randbytes(300 * 300 * 3)  # incompressible: a genuine PNG well over 2000 bytes
    buf = io.BytesIO()
    Image.frombytes("RGB", (300, 300), noise).save(buf, format="PNG")
    assert len(buf.getvalue()) > 2000
    response = _upload(reviewer_client, app_id, buf.getvalue(), "big.png")
    assert response.status_code == 422 and "截图不能超过" in response.get_data(as_text=True)
    assert db_session.get(FiledApp, app_id).ui_design_files == []


def test_screens_stored_outside_static_and_served_to_staff_only(app, reviewer_client, auth, db_session, tmp_path):
    from erhc_h5 import ROOT

    app_id = _create(reviewer_client)
    data = image_bytes()
    _upload(reviewer_client, app_id, data)
    stored = db_session.get(FiledApp, app_id).ui_design_files[0]["file"]
    assert re.fullmatch(r"[0-9a-f]{32}\.png", stored)
    path = tmp_path / "uploads" / "filing" / stored
    assert path.read_bytes() == data and not str(path).startswith(str(ROOT / "static"))
    response = reviewer_client.get(f"/staff/filing/{app_id}/screens/{stored}")
    assert response.status_code == 200 and response.data == data and response.mimetype == "image/png"
    assert reviewer_client.get(f"/staff/filing/{app_id}/screens/..%2F..%2Fapp.py").status_code == 404
    assert reviewer_client.get(f"/staff/filing/{app_id}/screens/{'0' * 32}.png").status_code == 404
    auth.logout()
    auth.login("nurse")
    assert reviewer_client.get(f"/staff/filing/{app_id}/screens/{stored}").status_code == 403
    auth.logout()
    assert reviewer_client.get(f"/staff/filing/{app_id}/screens/{stored}").status_code == 302


def test_print_view_reproduces_the_source_table(reviewer_client, db_session):
    app_id = _create(reviewer_client, auth_methods=["1", "4"])
    _upload(reviewer_client, app_id, image_bytes())
    html = reviewer_client.get(f"/staff/filing/{app_id}/print").get_data(as_text=True)
    assert "市级码管平台移动应用开展接种疫苗服务备案申请表" in html
    for label in ("应用名称", "应用备案号", "应用所属机构", "机构备案号", "建设单位联系人", "开发单位联系人",
                  "实名认证方式", "实名认证<br>界面设计", "管理单位意见:", "建设单位(盖章)", "管理单位(盖章)"):
        assert label in html, label
    assert html.count("年&emsp;&emsp;月&emsp;&emsp;日") == 2
    assert "☑ 1、二要素认证" in html and "☐ 2、三要素认证" in html and "☑ 4、现场认证" in html
    assert FIELDS["builder_contact"] in html and "css/print.css" in html
    assert html.count('class="print-thumbs"') == 1
    assert "<style" not in html and "style=" not in html and "<script>" not in html


def test_unknown_app_is_404(reviewer_client):
    assert reviewer_client.get("/staff/filing/999999").status_code == 404
    assert reviewer_client.post("/staff/filing/999999/approve").status_code == 404


def test_list_filters_by_status(reviewer_client, seeded):
    _create(reviewer_client, app_name="草稿里的App")
    html = reviewer_client.get("/staff/filing/?status=approved").get_data(as_text=True)
    assert "示范城市健康服务App" in html and "草稿里的App" not in html
    html = reviewer_client.get("/staff/filing/?status=draft").get_data(as_text=True)
    assert "草稿里的App" in html


def test_demo_app_is_listed(reviewer_client, db_session, seeded):
    demo = db_session.scalar(select(FiledApp).where(FiledApp.access_code == seeded["app_record_no"]))
    assert demo is not None and demo.can_launch

