"""The city's answer against the records the province holds: the same record (``id``), the same
version (``cd_time``), the same card, empi and identity fields. Uploads run behind the changes
that make them, so a disagreement is shown beside the city's answer, never instead of it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.sandbox.models import ProvinceRecord

_CD_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
# Compared field by field in the version both sides name; labels for the nurse (never the values).
COMPARED = (
    ("erhc_card_no", "电子健康卡号"), ("empi", "居民主索引(empi)"), ("name", "姓名"), ("sex", "性别"),
    ("birthday", "出生日期"), ("nation", "民族"), ("nationality", "国籍"), ("id_card_type_code", "证件类型"),
    ("idcode", "证件号码"), ("authentication_method", "实名认证方式"), ("recognize_flag", "实名标识"),
)


@dataclass(frozen=True)
class CrossCheck:
    """``status``: match, missing, city_newer, city_older, deleted or mismatch; a Chinese message."""

    status: str
    message: str
    fields: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        return self.status == "match"


def cross_check(session: Session, record: dict) -> CrossCheck:
    """Compare the city's record with the newest version the province holds under its ``id``."""
    record_id, city_time = record.get("id"), record.get("cd_time")
    newest = session.scalars(
        select(ProvinceRecord).where(ProvinceRecord.record_id == record_id)
        .order_by(ProvinceRecord.cd_time.desc(), ProvinceRecord.id.desc()).limit(1)
    ).first()
    if newest is None:
        return CrossCheck("missing", "省平台尚未收到该记录(上传可能仍在途中),请以市级平台的答复为准并留意后续核对")
    if not isinstance(city_time, str) or not _CD_TIME.fullmatch(city_time):
        return CrossCheck("mismatch", "市级返回的记录缺少有效的版本时间(cd_time),无法与省平台持有的记录比对",
                          ("版本时间",))
    if city_time > newest.cd_time:
        return CrossCheck("city_newer", f"市级返回的记录比省平台持有的新(省平台持有 {newest.cd_time} 的版本,"
                                        f"市级为 {city_time}):新版本可能仍在上传途中")
    if city_time < newest.cd_time:
        return CrossCheck("city_older", f"市级返回的记录比省平台持有的旧(省平台已有 {newest.cd_time} 的版本,"
                                        f"市级为 {city_time}):请核实后再接种")
    if newest.cd_operation == "d":
        return CrossCheck("deleted", "省平台持有的该版本是删除(注销)记录,与市级平台的答复不一致:请核实后再接种")
    differing = tuple(label for name, label in COMPARED if newest.payload.get(name) != record.get(name))
    if differing:
        return CrossCheck("mismatch", "市级返回的记录与省平台持有的同一版本不一致:" + "、".join(differing)
                          + ",请核实后再接种", differing)
    return CrossCheck("match", f"与省平台持有的记录一致(同一版本 {newest.cd_time},empi 与身份信息相同)")
