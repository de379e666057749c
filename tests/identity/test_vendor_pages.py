"""Every documented code of each vendor's table, met in the resident's journey (in process, against the
loopback fakes), shows the page its meaning calls for.

The expected page per code is written here from the documentation's wording (quoted beside each
group), not read from the code tables or from the view's mapping: a failed check sends the resident
back to the methods with the reason said in words; quota, throttling and the vendor's own failure show
"service temporarily unavailable, try later or go on-site"; a document the vendor cannot check shows
"go on-site"; a passing fault (timeout, a check not finished yet, a refused key) shows "retry"."""
from __future__ import annotations

import re

import pytest

from erhc_h5.identity import set_providers
from erhc_h5.identity.aliyun_codes import TABLE as ALIYUN_TABLE
from erhc_h5.identity.tencent_codes import TABLE as TENCENT_TABLE
from tests.identity import aliyun_fake, tencent_fake
from tests.support import Journey

# What a resident reads for each failed check (written from the product's wording, not imported).
FAILED_WORDS = {"mismatch": "与权威数据核验不一致", "no_record": "未查询到该证件的登记信息",
                "face_mismatch": "人脸比对未通过", "liveness_failed": "活体检测未通过",
                "phone_mismatch": "手机号与本人身份信息不一致"}


@pytest.fixture
def vendor_journey(request, app, client, db_session, seeded):
    """A launched resident whose providers are one vendor's, pointed at its fake."""
    kind = request.param
    fake = request.getfixturevalue(kind)
    config = (aliyun_fake if kind == "aliyun" else tencent_fake).provider_config(fake)
    saved = {key: app.config.get(key) for key in config}
    app.config.update({k: v for k, v in config.items() if k != "SANDBOX"})
    set_providers(app, None)
    journey = Journey(client, db_session)
    journey.ready()
    yield journey, fake
    app.config.update(saved)
    set_providers(app, None)


def page_of(response) -> str:
    """What the resident is shown: passed, vendor (sent to its page), sms_sent, photo, failed:<reason>,
    or <page>:<reason> of the unavailable page."""
    if response.status_code == 302:
        where = response.headers["Location"]
        if where.endswith(("/h5/code", "/h5/verify/onsite")):
            return "passed"
        if where.startswith("http://127.0.0.1:"):
            return "vendor"
        return where
    text = response.get_data(as_text=True)
    found = re.search(r'id="unavailable-(\w+)" data-reason="(\w+)"', text)
    assert found, text[:2000]
    return f"{found.group(1)}:{found.group(2)}"
