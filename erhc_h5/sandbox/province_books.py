"""The sandbox provincial platform's books: request checks, record validation, idempotent storage.

Replies follow the contract: 200 {cd_batch, accepted, rejected}; 400 bad envelope; 401 bad app id,
signature, timestamp or nonce; 413 too many records or too large.
"""
from __future__ import annotations

import json
import re
import time

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.errors import WireRefusal
from erhc_h5.security.pii import keyring, seal_json
from erhc_h5.sync.bulkwrite import executemany
from erhc_h5.sandbox.province_rules import validate
from erhc_h5.sync.province_signing import matches
from erhc_h5.sandbox.models import ProvinceNonce, ProvinceRecord
from erhc_h5.text import ascii_digits

MAX_RECORDS = 500
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_SKEW_SECONDS = 300
_NONCE = re.compile(r"^[0-9a-f]{32}$")


class Refusal(WireRefusal):
    """A batch-level refusal: HTTP status, reason code (``error``) and a Chinese message."""

    def as_reply(self) -> dict:
        return {"error": self.error, "message": self.message}


def check_request(cfg, path: str, headers, body: bytes, now: float | None = None) -> str:
    """Check app id, timestamp skew and signature; returns the nonce (stored by ``receive``)."""
    if headers.get("X-Erhc-App-Id", "") != str(cfg["PROVINCE_APP_ID"]):
        raise Refusal(401, "bad_app_id", "应用标识不正确")
    stamp = headers.get("X-Erhc-Timestamp", "")
    if not ascii_digits(stamp):
        raise Refusal(401, "bad_timestamp", "时间戳缺失或格式不正确")
    if abs((now or time.time()) - int(stamp)) > MAX_SKEW_SECONDS:
        raise Refusal(401, "stale_timestamp", "时间戳与平台时间相差超过300秒")
    nonce = headers.get("X-Erhc-Nonce", "")
    if not _NONCE.match(nonce):
        raise Refusal(401, "bad_nonce", "随机数应为32位小写十六进制")
    if not matches(str(cfg["PROVINCE_SECRET"]), path, stamp, nonce, body, headers.get("X-Erhc-Signature", "")):
        raise Refusal(401, "bad_signature", "签名不正确")
    return nonce


def parse_envelope(body: bytes) -> dict:
    """The envelope, checked: cd_batch, cd_source, ≤ 500 records, each with an id and the same cd_batch."""
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(413, "too_large", "请求体过大")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "bad_json", "请求体不是UTF-8编码的JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise Refusal(400, "bad_envelope", "请求体应包含cd_batch、cd_source和records")
    cd_batch, cd_source, records = data.get("cd_batch"), data.get("cd_source"), data["records"]
    envelope_problems = validate({"cd_batch": cd_batch, "cd_source": cd_source})
    if any(p.field in ("cd_batch", "cd_source") for p in envelope_problems) or not cd_batch:
        raise Refusal(400, "bad_envelope", "批次号或来源不符合数据标准")
    if not str(cd_batch).startswith(str(cd_source)):
        raise Refusal(400, "bad_envelope", "批次号前4位应与来源一致")
    if len(records) > MAX_RECORDS:
        raise Refusal(413, "too_many_records", "每批最多500条记录")
    if not records:
        raise Refusal(400, "bad_envelope", "批次中没有记录")
    ids = []
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not record["id"]:
            raise Refusal(400, "bad_envelope", "每条记录都必须有id")
        if record.get("cd_batch") != cd_batch:
            raise Refusal(400, "batch_mismatch", "记录的批次号与批次不一致")
        ids.append(record["id"])
    if len(set(ids)) != len(ids):
        raise Refusal(400, "duplicate_id", "同一批次中记录id重复")
    return data


def use_nonce(session: Session, nonce: str) -> None:
    """Record a request's nonce; Refusal 401 ``replayed_nonce`` when it was seen before (single use)."""
    try:
        with session.begin_nested():
            session.add(ProvinceNonce(nonce=nonce))
            session.flush()
    except IntegrityError:
        raise Refusal(401, "replayed_nonce", "随机数已使用过") from None


def receive(session: Session, envelope: dict, nonce: str, reject_field: str = "", reject_every: int = 1) -> dict:
    """Validate every record, store the new versions, answer per record (caller commits).

    A version already held (same id, cd_time, cd_operation) is accepted again without a copy.
    """
    use_nonce(session, nonce)
    records = envelope["records"]
    keys = [(r["id"], str(r.get("cd_time")), str(r.get("cd_operation"))) for r in records]
    held = set()
    for start in range(0, len(keys), 200):
        part = keys[start:start + 200]
        held.update(session.execute(
            select(ProvinceRecord.record_id, ProvinceRecord.cd_time, ProvinceRecord.cd_operation)
            .where(tuple_(ProvinceRecord.record_id, ProvinceRecord.cd_time, ProvinceRecord.cd_operation).in_(part))
        ).all())
    accepted, rejected, new = [], [], []
    now = utcnow()
    ring = keyring()
    for position, (record, key) in enumerate(zip(records, keys)):
        if key in held:
            accepted.append(record["id"])
            continue
        errors = [{"field": p.field, "reason": p.reason} for p in validate(record)]
        if not errors and reject_field and position % max(1, reject_every) == 0:
            errors = [{"field": reject_field, "reason": "sandbox_rejected"}]
        if errors:
            rejected.append({"id": record["id"], "errors": errors})
            continue
        accepted.append(record["id"])
        new.append({"record_id": key[0], "cd_time": key[1], "cd_operation": key[2], "cd_batch": envelope["cd_batch"],
                    "cd_source": envelope["cd_source"], "payload": seal_json(record, ring), "received_at": now})
    if new:  # one DBAPI executemany, not one ORM object per version (payloads sealed as the column would)
        executemany(session, ProvinceRecord.__table__, new)
    return {"cd_batch": envelope["cd_batch"], "accepted": accepted, "rejected": rejected}
