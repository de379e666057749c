"""TLS for outbound calls: which CA bundle verifies a peer, and why a handshake failed.

``requests`` verifies against certifi's bundle, not the system store, so a province or provider
behind a private CA is trusted only through ``ERHC_PROVINCE_CA_BUNDLE`` / ``ERHC_PROVIDER_CA_BUNDLE``
(a PEM file). A failed verification is read from ``ssl.SSLCertVerificationError.verify_code``
(OpenSSL's X509_V_ERR_* numbers, include/openssl/x509_vfy.h), not from its message text.
"""
from __future__ import annotations

import ssl
from pathlib import Path

# OpenSSL X509_V_ERR_* codes and the reason an operator acts on.
VERIFY_CODE_REASONS = {
    2: "tls_untrusted",  # UNABLE_TO_GET_ISSUER_CERT
    9: "tls_not_yet_valid",  # CERT_NOT_YET_VALID (or this host's clock is behind)
    10: "tls_expired",  # CERT_HAS_EXPIRED
    18: "tls_untrusted",  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: "tls_untrusted",  # SELF_SIGNED_CERT_IN_CHAIN
    20: "tls_untrusted",  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "tls_untrusted",  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27: "tls_untrusted",  # CERT_UNTRUSTED
    62: "tls_hostname",  # HOSTNAME_MISMATCH
    64: "tls_hostname",  # IP_ADDRESS_MISMATCH
}
TLS_REASONS = ("tls_untrusted", "tls_expired", "tls_not_yet_valid", "tls_hostname", "tls_handshake_timeout",
               "tls_error")
TLS_DETAIL = {
    "tls_untrusted": "证书不受信任(自签名或未知 CA)",
    "tls_expired": "证书已过期",
    "tls_not_yet_valid": "证书尚未生效(或本机时钟落后)",
    "tls_hostname": "证书与主机名不符",
    "tls_handshake_timeout": "TCP 已连接,TLS 握手未在连接时限内完成",
    "tls_error": "TLS 握手失败",
}


def _chain(exc: BaseException):
    """The exception and everything it wraps (requests → urllib3 → ssl), each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        yield current
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None),
                     *[a for a in current.args if isinstance(a, BaseException)]])


def tls_reason(exc: BaseException) -> str | None:
    """``tls_*`` when ``exc`` is (or wraps) a TLS failure, else None."""
    generic = None
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            code = getattr(item, "verify_code", None)
            if code in VERIFY_CODE_REASONS:
                return VERIFY_CODE_REASONS[code]
            # Python's own hostname matching (no OpenSSL code) raises the same class.
            return "tls_hostname" if "hostname" in str(item).lower() or "match" in str(item).lower() else "tls_untrusted"
        if isinstance(item, ssl.SSLError) and not isinstance(item, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            generic = "tls_error"
    return generic


def verify_setting(bundle: str | None):
    """The ``verify=`` value for requests: the bundle's path, or True (certifi)."""
    bundle = (bundle or "").strip()
    return bundle if bundle else True


def check_bundle(key: str, bundle: str | None) -> str | None:
    """One-line reason why ``ERHC_<key>`` cannot be used as a CA bundle, or None when it can (or is unset)."""
    bundle = (bundle or "").strip()
    if not bundle:
        return None
    path = Path(bundle)
    if not path.is_file():
        return f"ERHC_{key}: no such file {bundle}"
    try:
        context = ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"ERHC_{key}: {bundle} is not a PEM bundle of CA certificates ({type(exc).__name__})"
    if not context.cert_store_stats().get("x509"):
        return f"ERHC_{key}: {bundle} holds no certificate"
    return None
