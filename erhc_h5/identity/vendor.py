"""What the cloud vendors' adapters (``tencent.py``, ``aliyun.py``) share: the code-table lookup, the
bounded limits, the logged call, and reading a verdict or a refusal out of a code.

A code table maps (API, code) to (kind, reason): ``pass`` (the vendor confirms), ``fail`` (a verdict
against the resident: CheckResult reason), ``unavailable`` (not the resident's fault:
ProviderUnavailable reason) or ``pending`` (the resident has not finished the vendor's page). API
``*`` holds the codes every API may return; a sub-code not listed falls back to its parent
(``LimitExceeded.Foo`` → ``LimitExceeded``). Anything else is ``unknown_result``: never a pass.
"""
from __future__ import annotations

import time
from collections.abc import Mapping

from erhc_h5.identity.base import CheckResult, ProviderUnavailable
from erhc_h5.identity.http import count_provider_failure, parse_timeout
from erhc_h5.logs import log_event
from erhc_h5.outbound import Limits

PASS, FAIL, UNAVAILABLE, PENDING = "pass", "fail", "unavailable", "pending"
UNKNOWN = (UNAVAILABLE, "unknown_result")
ID_CARD = "01"  # the vendors check mainland resident ID numbers only (居民身份证)


def lookup(table: Mapping, api: str, code) -> tuple[str, str]:
    """(kind, reason) for ``code`` returned by ``api`` in ``table``; unknown codes are ``unknown_result``."""
    code = str(code)
    for key in ((api, code), ("*", code), ("*", code.split(".")[0])):
        if key in table:
            return table[key]
    return UNKNOWN


def limits_of(config: Mapping) -> Limits:
    """The bounded transport's limits from the provider settings."""
    connect, read = parse_timeout(config.get("PROVIDER_TIMEOUT", 5.0))
    return Limits(connect, read, deadline=float(config.get("PROVIDER_DEADLINE_SECONDS", 10.0)),
                  max_bytes=int(config.get("PROVIDER_MAX_REPLY_BYTES", 1024 * 1024)))


def logged_call(vendor: str, op: str, call):
    """``call()``'s result, with one log line (and a failure count) whatever the outcome."""
    started = time.monotonic()
    try:
        result = call()
    except ProviderUnavailable as exc:
        _log(vendor, op, started, exc.reason, exc.detail)
        raise
    _log(vendor, op, started, "ok", "")
    return result


def _log(vendor: str, op: str, started: float, outcome: str, detail: str) -> None:
    log_event("provider_call", op=op, vendor=vendor, outcome=outcome, detail=detail,
              elapsed_ms=round((time.monotonic() - started) * 1000))
    if outcome != "ok":
        count_provider_failure(op, outcome)


def refusal(kind_reason: tuple[str, str], api: str, code: str) -> ProviderUnavailable:
    """The unavailability an error code stands for (never a verdict: the call itself failed)."""
    kind, reason = kind_reason
    return ProviderUnavailable(reason if kind == UNAVAILABLE else "unknown_result", f"{api} {code[:64]}")


def verdict(kind_reason: tuple[str, str], api: str, code: str, ref: str) -> CheckResult:
    """A check's result code read through the table: pass, a failure reason, or unavailable."""
    kind, reason = kind_reason
    if kind == PASS:
        return CheckResult(True, "", ref)
    if kind == FAIL:
        return CheckResult(False, reason, ref)
    raise ProviderUnavailable("pending" if kind == PENDING else reason, f"{api} {code[:64]}")


def text(value, what: str) -> str:
    """A reply's scalar field as text; a missing, empty or structured one is a bad reply."""
    if value is None or isinstance(value, (dict, list, bool)) or str(value) == "":
        raise ProviderUnavailable("bad_reply", f"missing {what}")
    return str(value)


def require_id_card(id_card_type_code: str) -> None:
    """Real-name vendors check mainland resident ID numbers only; other documents go to on-site checks."""
    if id_card_type_code != ID_CARD:
        raise ProviderUnavailable("unsupported_document", f"type {id_card_type_code}")


def allowed_scheme(config: Mapping, endpoint_key: str) -> str:
    """https always; plain http only when the endpoint itself was configured as http (a test fake)."""
    return "http" if str(config.get(endpoint_key) or "").startswith("http://") else "https"


class VendorProvider:
    """A role's provider on one vendor's API object and the settings."""

    def __init__(self, api, config: Mapping) -> None:
        self._api = api
        self._config = config
