"""Shared builders for filing tests: application data and real images."""
from __future__ import annotations

import datetime as dt
import io

from PIL import Image

FIELDS = {
    "app_name": "测试健康服务App",
    "app_filing_no": "APPTEST0001",
    "org_name": "测试市卫生健康委员会",
    "org_filing_no": "ORG-TEST-01",
    "builder_unit": "测试市卫生健康委员会",
    "builder_contact": "赵建设 0571-11111111",
    "developer_unit": "测试信息技术有限公司",
    "developer_contact": "钱开发 0571-22222222",
    "auth_methods": ["2", "3"],
    "allowed_origins": "https://app.example.cn",
}


def image_bytes(fmt: str = "PNG", size=(60, 100)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 110, 60)).save(buf, format=fmt)
    return buf.getvalue()


def form_data(**changes) -> dict:
    data = {**FIELDS, **changes}
    return data


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def beijing_today() -> str:
    """Today's date in Beijing (UTC+8, no daylight saving), as written on a stamp."""
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()


def decision_data(form: bytes | None = PDF, **changes) -> dict:
    """The decision form as a reviewer fills it from an approving stamped 申请表."""
    data = {"outcome": "approved", "app_filing_no": "ZJ-3301-2026-0077", "access_code": "330100000077",
            "opinion": "同意备案", "decided_on": beijing_today(), **changes}
    if form is not None:
        data["stamped_form"] = (io.BytesIO(form), "stamped.pdf")
    return data
