"""Where a resident gets help: the city's hotline and on-site verification points (configured by the city)."""
from __future__ import annotations

from flask import current_app

# Shown in sandbox mode while the city has configured none, so every page that needs them is complete.
SANDBOX_HOTLINE = "12345(示例)"
SANDBOX_POINTS = (
    {"name": "市民中心实名认证服务窗口(示例)", "address": "示例市示例区市民大道1号一楼", "hours": "周一至周五 9:00-17:00"},
    {"name": "示例区社区卫生服务中心(示例)", "address": "示例市示例区健康路8号", "hours": "每天 8:00-16:30"},
)


def hotline() -> str:
    value = str(current_app.config.get("HOTLINE") or "").strip()
    if not value and current_app.config["SANDBOX"]:
        return SANDBOX_HOTLINE
    return value


def onsite_points() -> list[dict]:
    """The configured points as {"name", "address", "hours"}; malformed entries are left out."""
    points = [p for p in (current_app.config.get("ONSITE_POINTS") or []) if isinstance(p, dict) and p.get("name")]
    if not points and current_app.config["SANDBOX"]:
        return [dict(p) for p in SANDBOX_POINTS]
    return [{k: str(p.get(k) or "") for k in ("name", "address", "hours")} for p in points]


def context() -> dict:
    """Template values: ``hotline`` and ``onsite_points``."""
    return {"hotline": hotline(), "onsite_points": onsite_points()}
