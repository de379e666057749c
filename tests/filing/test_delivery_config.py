"""Where the 申请表 goes: the sandbox province by default in sandbox mode, paper only in production
unless the province's endpoint is configured; the CLI's filing is delivered, or kept for a retry."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from erhc_h5 import create_app
from erhc_h5.config import ConfigError
from erhc_h5.filing.delivery import filing_url
from erhc_h5.filing.models import FilingDelivery
from erhc_h5.sandbox.models import SandboxProvinceFiling
from tests.filing.helpers import FIELDS
from tests.support import PRODUCTION


@pytest.mark.parametrize("cfg,expected", [
    ({"SANDBOX": True, "PROVINCE_URL": "http://127.0.0.1:5000/sandbox-province", "PROVINCE_FILING_URL": ""},
     "http://127.0.0.1:5000/sandbox-province/filings/applications"),
    ({"SANDBOX": True, "PROVINCE_URL": "http://province.test", "PROVINCE_FILING_URL": ""}, ""),
    ({"SANDBOX": False, "PROVINCE_URL": "https://province.example.cn", "PROVINCE_FILING_URL": ""}, ""),
    ({"SANDBOX": False, "PROVINCE_URL": "https://province.example.cn",
      "PROVINCE_FILING_URL": "https://province.example.cn/erhc/v1/filings"}, "https://province.example.cn/erhc/v1/filings"),
])
def test_filing_url(cfg, expected):
    assert filing_url(cfg) == expected


def test_production_refuses_a_filing_url_at_the_sandbox_province(tmp_path):
    with pytest.raises(ConfigError, match="PROVINCE_FILING_URL"):
        create_app({**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/x",
                    "PROVINCE_FILING_URL": "https://city.example.cn/sandbox-province/filings/applications"})


def test_the_cli_filing_is_delivered_and_a_province_outage_is_kept_for_a_retry(app, db_session, runner, tmp_path,
                                                                              wire):
    path = tmp_path / "app.json"
    path.write_text(json.dumps({**FIELDS, "app_filing_no": ""}, ensure_ascii=False), encoding="utf-8")
    wire.down = True
    created = runner.invoke(args=["filing", "create", "--file", str(path)])
    assert created.exit_code == 0
    app_id = int(created.output.strip().splitlines()[-1])
    db_session.expire_all()
    row = db_session.scalar(select(FilingDelivery).where(FilingDelivery.app_id == app_id))
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "ConnectionError")
    wire.down = False
    assert json.loads(runner.invoke(args=["filing", "deliver"]).output) == {"delivered": 1, "failed": 0}
    db_session.expire_all()
    held = db_session.scalar(select(SandboxProvinceFiling).where(SandboxProvinceFiling.city_filing_id == app_id))
    assert held.form["app_name"] == FIELDS["app_name"] and held.city_delivery_id == row.id
