"""Reading the audit log for the admin viewer: filters, pages, and details with personal values masked."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from erhc_h5.audit import AuditEntry
from erhc_h5.errors import DomainError
from erhc_h5.security.masking import mask_address, mask_idcode, mask_name, mask_phone
from erhc_h5.staff.models import StaffUser
from erhc_h5.timefmt import utc_from_beijing_date

MASKERS = {"name": mask_name, "linkman": mask_name, "idcode": mask_idcode, "phone": mask_phone,
           "telephone": mask_phone, "address": mask_address, "current_address": mask_address,
           "birthplace": mask_address}


class AuditQueryError(DomainError, ValueError):
    """A filter the viewer cannot use (Chinese message)."""

    reason = "bad_filter"
    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message=message)


@dataclass
class AuditPage:
    rows: list[dict]
    total: int
    page: int
    pages: int


def parse_day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise AuditQueryError("日期格式应为 YYYY-MM-DD") from None


def mask_detail(detail) -> dict:
    """Mask values under personal keys, at any depth, in case a caller ever put one there."""
    if isinstance(detail, dict):
        return {k: (MASKERS[k](str(v)) if k in MASKERS and isinstance(v, str) else mask_detail(v))
                for k, v in detail.items()}
    if isinstance(detail, list):
        return [mask_detail(v) for v in detail]
    return detail


def search(session: Session, *, action: str = "", actor: str = "", date_from: str | None = None,
           date_to: str | None = None, page: int = 1, per_page: int = 50) -> AuditPage:
    """Entries newest first; action matches exactly or as a prefix ('filing.'), dates are Beijing days."""
    query = select(AuditEntry)
    action, actor = (action or "").strip(), (actor or "").strip()
    if action:
        query = query.where(or_(AuditEntry.action == action, AuditEntry.action.like(action.rstrip(".") + ".%")))
    if actor:
        user_id = session.scalar(select(StaffUser.id).where(StaffUser.username == actor.lower()))
        matches = [AuditEntry.actor_id == actor]
        if user_id is not None:
            matches.append(AuditEntry.staff_user_id == user_id)
        query = query.where(or_(*matches))
    start, end = parse_day(date_from), parse_day(date_to)
    if start and end and end < start:
        raise AuditQueryError("结束日期不能早于开始日期")
    if start:
        query = query.where(AuditEntry.at >= utc_from_beijing_date(start))
    if end:
        query = query.where(AuditEntry.at < utc_from_beijing_date(end + dt.timedelta(days=1)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    entries = session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    ids = {e.staff_user_id for e in entries if e.staff_user_id}
    names = dict(session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids))).all()) \
        if ids else {}
    rows = [{
        "at": e.at,  # the page renders it in Beijing time
        "actor": names.get(e.staff_user_id) or (f"{e.actor_type}:{e.actor_id}" if e.actor_id else e.actor_type),
        "action": e.action,
        "target": f"{e.target_type}:{e.target_id}" if e.target_type else "",
        "detail": mask_detail(e.detail or {}),
        "request_id": e.request_id,
    } for e in entries]
    return AuditPage(rows=rows, total=total, page=page, pages=pages)


def known_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
