"""Shared builders for filing tests: application data and real images."""
from __future__ import annotations

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
