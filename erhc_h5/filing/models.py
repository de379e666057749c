"""The 备案 registry: apps that applied to offer the vaccination service, and the province's decisions."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from erhc_h5.db import Base, utcnow
from erhc_h5.security.pii import EncryptedText

FILING_STATES = {
    "draft": "草稿",
    "submitted": "待审核",
    "province_pending": "已提交省级,待省级审批",
    "approved": "已通过",
    "rejected": "已驳回",
    "suspended": "已暂停",
}


class FiledApp(Base):
    """A mobile app's filing application (《备案申请表》) and, once approved, its access credentials."""

    __tablename__ = "filed_apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_name: Mapped[str] = mapped_column(String(100))  # 应用名称
    # 应用备案号 (app_record_no_recognize): the province's number once it approved; before that, optional
    app_filing_no: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    org_name: Mapped[str] = mapped_column(String(100))  # 应用所属机构
    org_filing_no: Mapped[str] = mapped_column(String(50))  # 机构备案号
    builder_unit: Mapped[str] = mapped_column(String(100))  # 建设单位
    builder_contact: Mapped[str] = mapped_column(String(100))  # 建设单位联系人
    developer_unit: Mapped[str] = mapped_column(String(100))  # 开发单位
    developer_contact: Mapped[str] = mapped_column(String(100))  # 开发单位联系人
    auth_methods: Mapped[str] = mapped_column(String(12))  # 实名认证方式, e.g. "1^2^3^4"
    ui_design_files: Mapped[list] = mapped_column(JSON, default=list)  # 实名认证界面设计
    review_opinion: Mapped[str] = mapped_column(Text, default="")  # 管理单位意见
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    # 接入组件入网编码 (app_record_no): assigned by the province, recorded with its decision
    access_code: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    launch_secret: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    allowed_origins: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    secret_version: Mapped[int] = mapped_column(Integer, default=0)
    province_decided_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # the province's approval

    @property
    def can_launch(self) -> bool:
        """Only a recorded province approval, with both of its numbers, and a launch secret open the H5."""
        return (self.status == "approved" and self.province_decided_on is not None and bool(self.access_code)
                and bool(self.app_filing_no) and bool(self.launch_secret))

    @property
    def status_label(self) -> str:
        return FILING_STATES.get(self.status, self.status)


class DecisionOutcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class DecisionSource(StrEnum):
    """How a decision reached the registry: typed in the console, given to the CLI, carried over from
    the time the city approved filings itself, made up for the sandbox's demo app, or sent by the
    province's signed call."""

    CONSOLE = "console"
    CLI = "cli"
    MIGRATED = "migrated"
    SANDBOX = "sandbox"
    PROVINCE = "province"  # the province's signed call (filing/province_api.py): the call is the record


class FilingDecision(Base):
    """The province's decision on a filing, as recorded by the city from the stamped 申请表."""

    __tablename__ = "filing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("filed_apps.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # DecisionOutcome
    app_filing_no: Mapped[str | None] = mapped_column(String(20), nullable=True)  # 应用备案号
    access_code: Mapped[str | None] = mapped_column(String(20), nullable=True)  # 接入组件入网编码
    opinion: Mapped[str] = mapped_column(Text)  # 管理单位意见
    decided_on: Mapped[dt.date] = mapped_column(Date)  # the date on the province's stamp
    form_file: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the stamped form, stored name
    source: Mapped[str] = mapped_column(String(16))  # DecisionSource
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # a decision the province sent electronically: its own number and the SHA-256 of the signed body
    province_decision_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signed_body_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class DeliveryState(StrEnum):
    PENDING = "pending"  # written with the state change; sent after the commit, retried until delivered
    DELIVERED = "delivered"


class FilingDelivery(Base):
    """One electronic delivery of the 申请表 to the province (an outbox row, written in the transaction
    that sent the filing to the province; sent after the commit by filing/delivery.py)."""

    __tablename__ = "filing_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("filed_apps.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # DeliveryState
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class LaunchNonce(Base):
    """A launch ticket nonce already used by an app (replay protection)."""

    __tablename__ = "launch_nonces"

    app_id: Mapped[int] = mapped_column(ForeignKey("filed_apps.id"), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
