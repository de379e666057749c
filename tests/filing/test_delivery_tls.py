"""The 申请表 goes to a province behind a private CA the way the uploads do: verified against
ERHC_PROVINCE_CA_BUNDLE. Before, the delivery ignored the bundle: a staging host sending to its own
sandbox province behind a self-signed certificate got `tls_untrusted` on every retry while the
uploads beside it went through."""
from __future__ import annotations

import pytest

from erhc_h5.filing.delivery import http_post
from erhc_h5.outbound import OutboundFailure
from tests.sync.tls_province import TlsProvince, issue


@pytest.fixture(scope="module")
def private_pki(tmp_path_factory):
    """A private CA (its PEM is the bundle) and a certificate it issued for localhost."""
    directory = tmp_path_factory.mktemp("filing-pki")
    ca = issue("city test CA", ca=True, valid_days=(-1, 30))
    bundle, _ = ca.write(directory, "ca")
    return str(bundle), issue("province", issuer=ca).write(directory, "province")


def test_the_filing_is_delivered_to_a_province_the_bundle_trusts(app, private_pki):
    bundle, leaf = private_pki
    body = b'{"cd_batch": "-", "records": []}'  # the shape the test province answers; delivery sends any body
    with TlsProvince(*leaf) as province:
        url = province.url + "/filings/applications"
        app.config["PROVINCE_CA_BUNDLE"] = ""
        with pytest.raises(OutboundFailure) as refused:
            http_post(url, body, {"Content-Type": "application/json"})
        assert refused.value.reason == "tls_untrusted"  # certifi does not know the private CA
        app.config["PROVINCE_CA_BUNDLE"] = bundle
        assert http_post(url, body, {"Content-Type": "application/json"}) == 200


def test_the_sandbox_province_calls_a_city_behind_the_same_private_ca_back(app, private_pki):
    """Staging: the sandbox province tells the city its decision over the city's own TLS. Before, it
    verified against the public CAs only, so a staging host's self-signed certificate lost every decision."""
    import requests

    from erhc_h5.sandbox.filing_books import _http_post

    bundle, leaf = private_pki
    body = b'{"cd_batch": "-", "records": []}'
    with TlsProvince(*leaf) as city:
        url = city.url + "/api/v1/province/filing-decision"
        app.config["PROVINCE_CA_BUNDLE"] = ""
        with app.app_context(), pytest.raises(requests.exceptions.SSLError):
            _http_post(url, body, {"Content-Type": "application/json"})
        app.config["PROVINCE_CA_BUNDLE"] = bundle
        with app.app_context():
            assert _http_post(url, body, {"Content-Type": "application/json"})[0] == 200
