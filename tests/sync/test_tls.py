"""Uploads over real TLS: each refused certificate and a handshake that never completes has its own
reason (on the attempt, /ops and the metrics), the batch is retried rather than refused, a private
CA is trusted through ERHC_PROVINCE_CA_BUNDLE, and the stop flag ends a stalled handshake."""
from __future__ import annotations

import json
import threading

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select

from erhc_h5 import create_app
from erhc_h5.config import ConfigError
from erhc_h5.db import session_scope
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.identity.http import ProviderHttpClient
from erhc_h5.ops import metrics
from erhc_h5.ops.status import get_status
from erhc_h5.sync.client import ProvinceClient
from erhc_h5.sync.models import SyncAttempt, SyncBatch
from erhc_h5.sync.repair import outbox_counts
from tests.support import PRODUCTION
from tests.sync.tls_province import TlsProvince, issue

ID = "a" * 32
BODY = json.dumps({"cd_batch": "B", "records": [{"id": ID}]}).encode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA (its PEM is the bundle) and four leaf certificates for localhost (or not)."""
    directory = tmp_path_factory.mktemp("pki")
    ca = issue("erhc test CA", ca=True, valid_days=(-1, 365))
    ca_pem, _ = ca.write(directory, "ca")
    leaves = {
        "good": issue("province", issuer=ca),
        "self_signed": issue("province"),
        "expired": issue("province", issuer=ca, valid_days=(-30, -1)),
        "wrong_host": issue("province", issuer=ca, hosts=("province.example.org",)),
    }
    return {"ca": str(ca_pem), **{name: leaf.write(directory, name) for name, leaf in leaves.items()}}


def _client(url: str, bundle: str = "", connect_timeout: float = 2.0, deadline: float = 30.0) -> ProvinceClient:
    return ProvinceClient(url, "city-3301", "s3cret", connect_timeout=connect_timeout, read_timeout=5,
                          deadline=deadline, ca_bundle=bundle)


@pytest.mark.parametrize("leaf, trust_test_ca, expected", [
    ("good", True, "ok"),
    ("good", False, "tls_untrusted"),  # certifi does not know the test CA
    ("self_signed", True, "tls_untrusted"),
    ("expired", True, "tls_expired"),
    ("wrong_host", True, "tls_hostname"),
])
def test_certificate_failures_have_their_own_reason(pki, leaf, trust_test_ca, expected):
    with TlsProvince(*pki[leaf]) as province:
        reply = _client(province.url, pki["ca"] if trust_test_ca else "").send(BODY, "B", [ID])
    assert reply.outcome == expected, reply.detail
    assert reply.transient == (expected != "ok")


def test_handshake_never_completing_is_a_handshake_timeout(pki):
    with TlsProvince(None, None, stall=True) as province:
        reply = _client(province.url, pki["ca"], connect_timeout=0.5).send(BODY, "B", [ID])
        assert province.accepted.is_set()
    assert reply.outcome == "tls_handshake_timeout"


def test_stop_flag_closes_the_connection_of_a_stalled_handshake(pki):
    """Only the stop path can end this call: the handshake and the whole call may take a minute."""
    stop = threading.Event()
    replies = []
    with TlsProvince(None, None, stall=True) as province:
        caller = threading.Thread(target=lambda: replies.append(
            _client(province.url, pki["ca"], connect_timeout=60, deadline=120).send(BODY, "B", [ID], stop=stop)))
        caller.start()
        assert province.accepted.wait(10), "the client never connected"
        stop.set()
        caller.join(10)
        assert not caller.is_alive(), "the stop flag did not end the handshake"
        assert province.closed_by_peer.wait(5), "the client's socket stayed open"
    assert replies[0].outcome == "stopped"


def _attempts(app) -> list[tuple[str, str]]:
    with app.app_context(), session_scope(app) as session:
        return [tuple(row) for row in session.execute(select(SyncAttempt.outcome, SyncBatch.state)
                                                      .join(SyncBatch, SyncBatch.id == SyncAttempt.batch_id)).all()]


def test_untrusted_province_is_retried_and_named_on_ops_and_metrics(chain, pki):
    chain.cards(2)
    with TlsProvince(*pki["self_signed"]) as province:
        figures = chain.once(PROVINCE_URL=province.url)
    assert figures["refused"] == 0 and figures["dead"] == 0 and figures["retrying"] == 2
    assert _attempts(chain.app) == [("tls_untrusted", "ready")]
    with chain.app.test_request_context(), session_scope(chain.app) as session:
        status = get_status(session)
        text = metrics.render(chain.app, status).decode()
    assert status["province"]["reason"] == "tls_untrusted"
    assert status["sync"]["failures_by_reason"] == {"tls_untrusted": 1}
    assert 'erhc_sync_failures_24h{reason="tls_untrusted"} 1.0' in text


def test_private_ca_bundle_lets_the_batch_through(chain, pki):
    chain.cards(2)
    with TlsProvince(*pki["good"]) as province:
        refused = chain.once(PROVINCE_URL=province.url)
        assert refused["accepted"] == 0 and refused["retrying"] == 2
        figures = chain.once(PROVINCE_CA_BUNDLE=pki["ca"])
        assert province.requests == 1  # the untrusted attempt never sent the batch
    assert figures["accepted"] == 2
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert outbox_counts(session)["accepted"] == 2


@pytest.mark.parametrize("key", ["PROVINCE_CA_BUNDLE", "PROVIDER_CA_BUNDLE"])
@pytest.mark.parametrize("content", [None, b"", b"not a certificate\n", "key"])
def test_production_refuses_an_unusable_ca_bundle(pki, tmp_path, key, content):
    bundle = tmp_path / "bundle.pem"
    if content == "key":  # a private key is PEM too, but no certificate
        bundle.write_bytes(pki["good"][1].read_bytes())
    elif content is not None:
        bundle.write_bytes(content)
    config = {**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc", key: str(bundle)}
    with pytest.raises(ConfigError) as info:
        create_app(config)
    assert str(info.value).startswith(f"ERHC_{key}:") and "\n" not in str(info.value)


def test_production_takes_a_good_ca_bundle_for_province_and_providers(pki):
    app = create_app({**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc",
                      "PROVINCE_CA_BUNDLE": pki["ca"], "PROVIDER_CA_BUNDLE": pki["ca"]})
    assert ProvinceClient.from_config(app.config).verify == pki["ca"]
    assert ProviderHttpClient.from_config(app.config).verify == pki["ca"]
    assert ProvinceClient.from_config({**app.config, "PROVINCE_CA_BUNDLE": ""}).verify is True  # certifi


def test_provider_calls_name_the_certificate_problem_and_take_their_own_bundle(pki, app):
    with TlsProvince(*pki["expired"]) as provider:
        untrusted = ProviderHttpClient(provider.url, "city-3301", "x" * 32, 2)
        with pytest.raises(ProviderUnavailable) as info:
            untrusted.call("idcard", "POST", "/idcard/verify", {"name": "x"})
        assert (info.value.reason, info.value.detail) == ("unreachable", "tls_untrusted")
        expired = ProviderHttpClient(provider.url, "city-3301", "x" * 32, 2, ca_bundle=pki["ca"])
        with pytest.raises(ProviderUnavailable) as info:
            expired.call("idcard", "POST", "/idcard/verify", {"name": "x"})
        assert info.value.detail == "tls_expired"
    text = generate_latest(app.extensions["erhc_metrics"].registry).decode()
    assert 'erhc_provider_call_failures_total{op="idcard",reason="tls_untrusted"} 1.0' in text
    assert 'erhc_provider_call_failures_total{op="idcard",reason="tls_expired"} 1.0' in text


def test_certificate_problem_never_kills_the_batch(chain, pki):
    """More failed attempts than SYNC_MAX_ATTEMPTS: the batch waits for the certificate, then goes."""
    chain.cards(3)
    chain.app.config["SYNC_MAX_ATTEMPTS"] = 2
    with TlsProvince(*pki["expired"]) as province:
        for _ in range(3):
            figures = chain.once(PROVINCE_URL=province.url, PROVINCE_CA_BUNDLE=pki["ca"])
            assert figures["dead"] == 0 and figures["retrying"] == 3, figures
    assert _attempts(chain.app) == [("tls_expired", "ready")] * 3
    with TlsProvince(*pki["good"]) as province:
        figures = chain.once(PROVINCE_URL=province.url)
    assert figures["accepted"] == 3
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert session.scalars(select(SyncBatch.attempts)).one() == 1
