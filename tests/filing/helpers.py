"""Shared data of the filing tests: the application form (``tests.factories.FILING_FIELDS``), a stamped
PDF, the decision form, Beijing's date; images come from ``tests.factories``."""
from __future__ import annotations

import datetime as dt
import io

from tests.factories import FILING_FIELDS as FIELDS


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
