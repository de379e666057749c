"""get_status(): every ops figure in one dict; the dashboard, /ops/status.json and /metrics render it."""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.filing.models import DeliveryState, FiledApp, FilingDelivery
from erhc_h5.cards.models import LinkNotice, NoticeState
from erhc_h5.resident.models import VerificationEvent, VerificationSession
from erhc_h5.resident.states import VerificationState
from erhc_h5.scan.models import ScanEvent
from erhc_h5.sync.clock import describe, latest_offset
from erhc_h5.sync.models import WAITING_STATES, SyncAttempt, SyncBatch
from erhc_h5.sync.repair import outbox_counts, rejected_entries
from erhc_h5.timefmt import fmt

# What each upload attempt reason means, for the operator (the code itself stays on the page too).
REASON_LABELS = {
    "connect_timeout": "连接超时", "connect_error": "无法连接省级平台", "read_timeout": "等待回复超时",
    "deadline": "超过整次上传时限(回复过慢)", "reply_too_large": "回复超过大小上限",
    "bad_json": "回复不是有效的 JSON", "nested_json": "回复 JSON 嵌套过深", "transport_error": "传输中断",
    "http_5xx": "省级平台服务器错误(5xx)", "rate_limited": "被省级平台限流(429)",
    "inconsistent_reply": "回复与所发批次不符", "unexpected_status": "意外的 HTTP 状态", "refused": "批次被拒收",
    "worker_error": "上传进程内部错误", "stopped": "上传进程停止,批次已交回",
    "clock_skew": "时间戳被省级平台拒收(本服务器时钟不准)",
    "tls_untrusted": "省级平台证书不受信任(自签名或未知 CA)", "tls_expired": "省级平台证书已过期",
    "tls_not_yet_valid": "省级平台证书尚未生效(或本机时钟落后)", "tls_hostname": "省级平台证书与域名不符",
    "tls_handshake_timeout": "TLS 握手超时", "tls_error": "TLS 握手失败",
}
RECENT_FAILURES = 10
# Sends that run right after the commit that queued them; one still waiting after this long was not
# taken (gateway or province down, or the retry job not scheduled) and needs an operator.
STUCK_AFTER = dt.timedelta(minutes=10)
WINDOW = dt.timedelta(hours=24)
FUNNEL = (VerificationState.PASSED, VerificationState.FAILED, VerificationState.LOCKED)
SCAN_OK = ("authenticated", "not_authenticated")


def get_status(session: Session, *, now: dt.datetime | None = None, rejected_limit: int = 20,
               clock_alert_seconds: float | None = None, database: str = "ok") -> dict:
    """Outbox backlog, sync activity, rejected versions, verification funnel, scans and filings (no PII);
    ``alerts``: what needs an operator now (``clock_alert_seconds``: default ERHC_CLOCK_OFFSET_ALERT_SECONDS;
    ``database``: the readiness probe's verdict on a write, ``ops.services.probe_write``)."""
    now = now or utcnow()
    since = now - WINDOW
    sync = _sync_activity(session, now, since)
    if clock_alert_seconds is None:
        clock_alert_seconds = float(current_app.config["CLOCK_OFFSET_ALERT_SECONDS"])
    clock = _province_clock(session, clock_alert_seconds)
    waiting = {"filing_deliveries": _waiting(session, FilingDelivery, FilingDelivery.state == DeliveryState.PENDING,
                                             now),
               "link_notices": _waiting(session, LinkNotice,
                                        LinkNotice.state.in_([NoticeState.PENDING, NoticeState.SENDING]), now)}
    return {
        "generated_at": fmt(now),
        "window_hours": int(WINDOW.total_seconds() // 3600),
        "database": {"write": database},
        "alerts": _database_alerts(database) + _alerts(clock, waiting),
        "waiting": waiting,
        "outbox": _outbox(session, now),
        "sync": sync,
        "province": _province_health(sync) | {"clock": clock},
        "rejected": _rejected(session, rejected_limit),
        "verification": _funnel(session, since) | {"attack_signal": _attack_signal(session, since),
                                                  "link_notices": _link_notices(session)},
        "scans": _scans(session, since),
        "filing": _filing(session),
    }


def _outbox(session: Session, now: dt.datetime) -> dict:
    counts = dict(outbox_counts(session))
    batches = counts.pop("batches", {})
    oldest = counts.pop("oldest_pending_age_seconds", None)
    by_state = {k: int(v) for k, v in counts.items()}
    backlog = sum(by_state.get(state, 0) for state in WAITING_STATES)
    return {"by_state": by_state, "backlog": backlog, "oldest_pending_age_seconds": oldest, "batches": batches}


def _sync_activity(session: Session, now: dt.datetime, since: dt.datetime) -> dict:
    attempts = session.execute(
        select(SyncAttempt.at, SyncAttempt.outcome, SyncAttempt.accepted, SyncAttempt.rejected, SyncAttempt.status_code)
        .where(SyncAttempt.at >= since).order_by(SyncAttempt.at)
    ).all()
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=23)
    hours = [{"hour": fmt(start + dt.timedelta(hours=i), "%H:00"), "ok": 0, "failed": 0}
             for i in range(24)]
    reasons: Counter = Counter()
    accepted = rejected = 0
    for at, outcome, acc, rej, _status in attempts:
        index = int((at - start).total_seconds() // 3600)
        slot = hours[min(max(index, 0), 23)]
        if outcome == "ok":
            slot["ok"] += 1
            accepted, rejected = accepted + (acc or 0), rejected + (rej or 0)
        else:
            slot["failed"] += 1
            reasons[outcome] += 1
    last = session.execute(select(SyncAttempt.at, SyncAttempt.outcome, SyncAttempt.status_code, SyncAttempt.detail)
                           .order_by(SyncAttempt.at.desc(), SyncAttempt.id.desc()).limit(1)).first()
    last_ok = session.scalar(select(func.max(SyncAttempt.at)).where(SyncAttempt.outcome == "ok"))
    recent = session.execute(
        select(SyncAttempt.at, SyncAttempt.outcome, SyncAttempt.status_code, SyncAttempt.elapsed_ms,
               SyncAttempt.detail, SyncBatch.cd_batch)
        .join(SyncBatch, SyncBatch.id == SyncAttempt.batch_id)
        .where(SyncAttempt.at >= since, SyncAttempt.outcome != "ok")
        .order_by(SyncAttempt.at.desc(), SyncAttempt.id.desc()).limit(RECENT_FAILURES)
    ).all()
    return {
        "hours": hours,
        "attempts": len(attempts),
        "failures": sum(reasons.values()),
        "failures_by_reason": dict(reasons.most_common()),
        "records_accepted": accepted,
        "records_rejected": rejected,
        "last_attempt": {"at": fmt(last.at), "outcome": last.outcome, "status_code": last.status_code,
                         "label": REASON_LABELS.get(last.outcome, ""), "detail": last.detail or ""}
        if last else None,
        "last_success_at": fmt(last_ok),
        "recent_failures": [
            {"at": fmt(r.at), "outcome": r.outcome, "label": REASON_LABELS.get(r.outcome, ""),
             "status_code": r.status_code, "elapsed_ms": r.elapsed_ms, "detail": r.detail or "", "cd_batch": r.cd_batch}
            for r in recent
        ],
    }


def _province_health(sync: dict) -> dict:
    last = sync["last_attempt"]
    if last is None:
        return {"state": "idle", "label": "尚无上传"}
    if last["outcome"] == "ok":
        return {"state": "ok", "label": "省级平台上传正常"}
    label = f"{last['label']},{last['outcome']}" if last.get("label") else last["outcome"]
    return {"state": "failing", "label": f"省级平台上传失败({label})", "reason": last["outcome"]}


def _province_clock(session: Session, alert_seconds: float) -> dict:
    """The latest measured offset (province minus us, seconds) and whether it is past the alert threshold."""
    offset = latest_offset(session)
    if offset is None:
        return {"state": "unknown", "offset_seconds": None, "measured_at": None, "alert_seconds": alert_seconds,
                "label": "尚未测得与省级平台的时钟差(等待首次上传回复)"}
    skewed = abs(offset.seconds) > alert_seconds
    return {"state": "skewed" if skewed else "ok", "offset_seconds": offset.seconds,
            "measured_at": fmt(offset.measured_at), "alert_seconds": alert_seconds,
            "label": describe(offset.seconds) if abs(offset.seconds) >= 1 else "本服务器时钟与省级平台一致"}


def _waiting(session: Session, model, waiting, now: dt.datetime) -> dict:
    """Sends queued after a commit and not yet taken: how many, since when, how many past STUCK_AFTER,
    and the last reason one of them failed (a reason code, never a recipient)."""
    count, oldest = session.execute(select(func.count(), func.min(model.created_at)).where(waiting)).one()
    stuck = session.scalar(select(func.count()).where(waiting, model.created_at < now - STUCK_AFTER)) if count else 0
    reason = session.scalar(select(model.last_error).where(waiting, model.last_error != "")
                            .order_by(model.id.desc()).limit(1)) if count else None
    return {"count": int(count), "oldest_at": fmt(oldest) if oldest else None, "stuck": int(stuck or 0),
            "stuck_after_minutes": int(STUCK_AFTER.total_seconds() // 60), "last_error": reason or None}


# A kind of waiting send: its alert code, what is waiting, and (what did not happen, what to do).
STUCK_ALERTS = {
    "filing_deliveries": ("filing_delivery_stuck", "份备案申请表", (
        "送达省级平台", "请确认定时任务 erhc-filing-deliver.timer(flask --app app filing deliver)在运行,或手动执行一次。")),
    "link_notices": ("link_notice_stuck", "条账号关联提醒短信", (
        "发出", "请确认定时任务 erhc-notices.timer(flask --app app notices send)在运行,并检查短信网关。")),
}


def _alerts(clock: dict, waiting: dict) -> list[dict]:
    """Conditions an operator must act on, each with a stable code and a Chinese message."""
    alerts = []
    if clock["state"] == "skewed":
        alerts.append({"code": "clock_offset", "level": "warn", "message": (
            f"{clock['label']}(超过 {clock['alert_seconds']:g} 秒告警阈值,测于 {clock['measured_at']})。"
            "超过 300 秒时省级平台会拒收上传(时间戳过期,批次自动重试);码的有效期判断也会偏差。请校准服务器时间(NTP)。")})
    for kind, (code, what, action) in STUCK_ALERTS.items():
        held = waiting[kind]
        if held["stuck"]:
            alerts.append({"code": code, "level": "warn", "message": (
                f"{held['stuck']} {what}超过 {held['stuck_after_minutes']} 分钟仍未{action[0]}"
                f"(最早排队于 {held['oldest_at']}{_reason(held)})。{action[1]}")})
    return alerts


DATABASE_ALERTS = {
    "disk_full": "数据库磁盘已满:查询仍正常,但无法写入——实名认证、扫码记录和上传都会失败,居民看到“系统存储空间已满”。"
                 "请立即扩容或清理数据库所在磁盘;恢复前 /readyz 返回 503。",
    "read_only": "数据库处于只读状态(连到了备库,或设置了 default_transaction_read_only):无法写入。"
                 "请检查数据库主备切换与连接地址;恢复前 /readyz 返回 503。",
}


def _database_alerts(write: str) -> list[dict]:
    """The database refusing the probe's write: first of all alerts, since nothing is saved meanwhile."""
    if write == "ok":
        return []
    message = DATABASE_ALERTS.get(write, f"数据库写入失败(原因码 {write}):认证和扫码记录无法保存;恢复前 /readyz 返回 503。")
    return [{"code": f"database_{write}" if write in DATABASE_ALERTS else "database_write_failed", "level": "critical",
             "message": message}]


def _reason(waiting: dict) -> str:
    return f",最近一次失败:{waiting['last_error']}" if waiting.get("last_error") else ""


def _rejected(session: Session, limit: int) -> list[dict]:
    out = []
    for item in rejected_entries(session, limit):
        item = dict(item)
        if isinstance(item.get("updated_at"), dt.datetime):
            item["updated_at"] = fmt(item["updated_at"])
        out.append(item)
    return out


def _funnel(session: Session, since: dt.datetime) -> dict:
    rows = session.execute(
        select(VerificationSession.method, VerificationSession.app_id, VerificationSession.state, func.count())
        .where(VerificationSession.created_at >= since)
        .group_by(VerificationSession.method, VerificationSession.app_id, VerificationSession.state)
    ).all()
    apps = dict(session.execute(select(FiledApp.id, FiledApp.app_name)).all())
    groups: dict = defaultdict(lambda: dict.fromkeys(("started", *FUNNEL), 0))
    for method, app_id, state, n in rows:
        cell = groups[(method, app_id)]
        cell["started"] += int(n)
        if state in FUNNEL:
            cell[state] += int(n)
    funnel = [{"method": method, "app_id": app_id, "app": apps.get(app_id, "—"), **cell}
              for (method, app_id), cell in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1] or 0))]
    totals = {k: sum(row[k] for row in funnel) for k in ("started", *FUNNEL)}
    return {"funnel": funnel, "totals": totals}


# One person's failures from this many app accounts or source addresses in the window: someone is
# guessing at them (the real person fails from one account and one phone).
ATTACK_SOURCES = 3


def _attack_signal(session: Session, since: dt.datetime) -> dict:
    """Persons who collected failures from ATTACK_SOURCES or more accounts or sources (keyed hashes, counted)."""
    per_person = (
        select(VerificationEvent.subject_hash,
               func.count(func.distinct(VerificationSession.app_user_id)).label("accounts"),
               func.count(func.distinct(VerificationEvent.ip_hash)).label("sources"),
               func.count().label("failures"))
        .join(VerificationSession, VerificationSession.id == VerificationEvent.session_id, isouter=True)
        .where(VerificationEvent.kind == "failure", VerificationEvent.at >= since,
               VerificationEvent.subject_hash.is_not(None))
        .group_by(VerificationEvent.subject_hash).subquery())
    rows = session.execute(select(per_person.c.accounts, per_person.c.sources, per_person.c.failures)
                           .where((per_person.c.accounts >= ATTACK_SOURCES) | (per_person.c.sources >= ATTACK_SOURCES))
                           ).all()
    return {"persons": len(rows), "failures": sum(int(r.failures) for r in rows),
            "most_accounts": max((int(r.accounts) for r in rows), default=0),
            "most_sources": max((int(r.sources) for r in rows), default=0), "threshold": ATTACK_SOURCES}


def _link_notices(session: Session) -> dict:
    rows = dict(session.execute(select(LinkNotice.state, func.count()).group_by(LinkNotice.state)).all())
    # A send under way is still to be done.
    rows[NoticeState.PENDING] = rows.get(NoticeState.PENDING, 0) + rows.get(NoticeState.SENDING, 0)
    return {state.value: int(rows.get(state, 0)) for state in (NoticeState.PENDING, NoticeState.SENT, NoticeState.FAILED)}


def _scans(session: Session, since: dt.datetime) -> list[dict]:
    rows = session.execute(
        select(ScanEvent.site_name, ScanEvent.result, func.count(), func.max(ScanEvent.at))
        .where(ScanEvent.at >= since).group_by(ScanEvent.site_name, ScanEvent.result)
    ).all()
    sites: dict = defaultdict(lambda: {"total": 0, "authenticated": 0, "not_authenticated": 0, "refused": 0,
                                       "last_at": None})
    for site, result, n, last in rows:
        cell = sites[site or "未指定接种点"]
        cell["total"] += int(n)
        cell[result if result in SCAN_OK else "refused"] += int(n)
        cell["last_at"] = max(filter(None, [cell["last_at"], last]), default=None)
    return [{"site": site, **{**cell, "last_at": fmt(cell["last_at"])}}
            for site, cell in sorted(sites.items(), key=lambda kv: -kv[1]["total"])]


def _filing(session: Session) -> dict:
    return {status: int(n) for status, n in
            session.execute(select(FiledApp.status, func.count()).group_by(FiledApp.status)).all()}
