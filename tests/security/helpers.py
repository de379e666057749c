"""Shared helpers of the security tests: valid synthetic residents and a raw database dump."""
from __future__ import annotations

import json

from sqlalchemy import inspect, text

from tests.factories import resident_id


def residents(n: int) -> list[dict]:
    """n distinct synthetic identities with full profiles."""
    out = []
    for i in range(n):
        out.append({
            "name": ["欧阳明月", "张三丰", "李四", "王小二", "赵钱孙"][i % 5] + "甲乙丙丁戊己庚辛"[i % 8],
            "id_card_type_code": "01",
            "idcode": resident_id("330106", f"19{60 + i % 40:02d}0{1 + i % 9}1{i % 9}", 100 + i),
            "nation": "01",
            "phone": f"139{i:04d}{5678 + i:04d}"[:11],
            "address": f"浙江省杭州市西湖区文三路{100 + i}号",
            "current_address": f"杭州市滨江区江南大道{200 + i}号",
            "linkman": "钱多多",
            "telephone": f"1370000{1000 + i}",
            "birthplace": "浙江省杭州市",
            "county_code": "330106",
        })
    return out


def raw_dump(connection) -> dict[str, str]:
    """Every table's every column as text, read with plain SQL (what a stolen backup shows)."""
    dump = {}
    for table in inspect(connection).get_table_names():
        rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
        parts = []
        for row in rows:
            for value in row:
                if isinstance(value, (bytes, bytearray, memoryview)):
                    value = bytes(value).decode("utf-8", "replace")
                parts.append(str(value))
                if isinstance(value, (dict, list)):
                    parts.append(json.dumps(value, ensure_ascii=False))
        dump[table] = "\n".join(parts)
    return dump


def clear_forms(identity: dict) -> list[str]:
    """The personal values of an identity as they could appear in clear (plain and JSON-escaped)."""
    values = [identity[k] for k in ("name", "idcode", "phone", "address", "current_address", "telephone")]
    return values + [json.dumps(v)[1:-1] for v in values if not v.isascii()]
