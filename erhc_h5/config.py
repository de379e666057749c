"""Configuration: embedded defaults, ERHC_-prefixed environment, and production checks."""
from __future__ import annotations

import re
from pathlib import Path

from erhc_h5.text import ascii_digits

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_PII_KEY = "ZGV2LWluc2VjdXJlLXBpaS1rZXktMzItYnl0ZXMhISE="  # base64 of 32 dev bytes (SM4 uses the first 16)
DEV_EMPI_KEY = "dev-insecure-empi-key"
DEV_PROVINCE_SECRET = "sandbox-province-secret"
DEV_PROVINCE_VERIFY_SECRET = "sandbox-province-verify-secret"
PLACEHOLDER = "CHANGE-ME"  # what deploy/systemd/env holds where a city's own value belongs


# development: sandbox everything. staging: production's settings and checks, but the sandbox providers,
# province receiver and demo pages stay, for a rehearsal before going live. production: nothing sandbox.
ENVIRONMENTS = {"development": "开发沙箱", "staging": "演练环境(测试环境)", "production": "生产环境"}
# Other names for the sandbox that deployments and harnesses use; anything else (e.g. "prod") is refused.
ENV_ALIASES = {"sandbox": "development", "dev": "development", "test": "development", "testing": "development"}


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message is one line meant for operators."""


def defaults(instance_path: str) -> dict:
    """Return the embedded defaults; every key may be overridden by ERHC_<KEY>."""
    db_file = Path(instance_path) / "erhc.sqlite3"
    return {
        "ENV": "development",
        "SECRET_KEY": DEV_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{db_file}",
        "DATABASE_ECHO": False,
        # Server connections per process: at most POOL_SIZE + MAX_OVERFLOW (README: connection budget).
        "DATABASE_POOL_SIZE": 5,
        "DATABASE_MAX_OVERFLOW": 10,
        "DATABASE_POOL_TIMEOUT_SECONDS": 30.0,
        # Personal-data encryption (column level). Keys: {kid: base64 key}; newest kid writes.
        "PII_KEYS": {"k1": DEV_PII_KEY},
        "PII_ACTIVE_KEY_ID": "k1",
        "PII_CIPHER": "sm4-gcm",  # or "aes-256-gcm"
        "EMPI_KEY": DEV_EMPI_KEY,
        "BLIND_INDEX_KEY": "dev-insecure-blind-index-key",
        # Provincial platform.
        "CD_SOURCE": "3301",
        "PROVINCE_URL": "http://127.0.0.1:5000/sandbox-province",
        "PROVINCE_APP_ID": "sandbox-city-3301",
        "PROVINCE_SECRET": DEV_PROVINCE_SECRET,
        "PROVINCE_CONNECT_TIMEOUT": 3.0,
        "PROVINCE_READ_TIMEOUT": 15.0,
        # PEM bundle that verifies the province's certificate (a private CA); empty: certifi's bundle.
        "PROVINCE_CA_BUNDLE": "",
        # The province's clock against ours (its replies' Date header): /ops alerts beyond this.
        "CLOCK_OFFSET_ALERT_SECONDS": 60.0,
        # The province's verification (验码) calls: its app id, the shared signing secret, its limit
        # (per app id and address: the province's terminals arrive through one gateway).
        # Where the 申请表 is delivered electronically (empty: the built-in sandbox province in sandbox mode
        # when PROVINCE_URL names it, else paper only); see erhc_h5/filing/delivery.py.
        "PROVINCE_FILING_URL": "",
        "PROVINCE_VERIFY_ID": "sandbox-province-verify",
        "PROVINCE_VERIFY_SECRET": DEV_PROVINCE_VERIFY_SECRET,
        "PROVINCE_VERIFY_RATE_LIMIT": "6000 per minute",
        "SYNC_BATCH_SIZE": 500,
        "SYNC_RETRY_BASE_SECONDS": 5.0,
        "SYNC_RETRY_MAX_SECONDS": 600.0,
        "SYNC_MAX_ATTEMPTS": 12,
        "SYNC_LEASE_SECONDS": 120,
        "SYNC_POLL_SECONDS": 2.0,
        # Whole-upload deadline and reply cap: a trickling or endless reply ends as a recorded attempt.
        "SYNC_DEADLINE_SECONDS": 30.0,
        "SYNC_MAX_REPLY_BYTES": 4 * 1024 * 1024,
        # `sync run` after a database error or a failed pass: back off (doubling up to the max) and go on.
        "SYNC_ERROR_BACKOFF_SECONDS": 1.0,
        "SYNC_ERROR_BACKOFF_MAX_SECONDS": 60.0,
        # Sandbox receiver fault injection (only in sandbox mode).
        "SANDBOX_PROVINCE_FAULTS": {},
        # The sandbox province's vaccination page: city base URLs by cd_source (empty: this app's own
        # city, at the address PROVINCE_URL names, else 127.0.0.1 on the serving port), the city
        # that takes EHC1 codes (empty: CD_SOURCE), the page's terminal id and its HTTP timeout.
        "SANDBOX_PROVINCE_CITIES": {},
        "SANDBOX_PROVINCE_DEFAULT_CITY": "",
        "SANDBOX_PROVINCE_TERMINAL": "SANDBOX-PROV-VAX-01",
        "SANDBOX_PROVINCE_TIMEOUT": 5.0,
        # Providers: "sandbox", "http", "tencent", "aliyun" or "null" (see erhc_h5/identity/http.py for the wire shapes).
        "IDENTITY_PROVIDER": "sandbox",
        "SMS_PROVIDER": "sandbox",
        "FACE_PROVIDER": "sandbox",
        "PROVIDER_BASE_URL": "",
        "PROVIDER_APP_KEY": "",
        "PROVIDER_APP_SECRET": "",
        "PROVIDER_TIMEOUT": 5.0,  # seconds for connect and read, or "connect,read"
        "PROVIDER_DEADLINE_SECONDS": 10.0,  # whole call, however slowly the reply trickles
        "PROVIDER_MAX_REPLY_BYTES": 1024 * 1024,
        "PROVIDER_CA_BUNDLE": "",  # PEM bundle for the identity/SMS/face HTTPS providers; empty: certifi
        "PROVIDER_SMS_TEMPLATE": "ERHC_OTP",
        "PROVIDER_SMS_NOTICE_TEMPLATE": "ERHC_LINK_NOTICE",  # "your ID was linked to an app account"
        "PROVIDER_FACE_MIN_SCORE": 80,
        "SANDBOX_PROVIDER_MODE": "normal",  # normal | timeout | error
        # Tencent Cloud (kind "tencent"; see erhc_h5/identity/tencent.py). Secrets are never logged.
        "TENCENT_SECRET_ID": "",
        "TENCENT_SECRET_KEY": "",
        "TENCENT_REGION": "ap-guangzhou",
        "TENCENT_FACEID_RULE_ID": "",
        "TENCENT_SMS_SDK_APP_ID": "",
        "TENCENT_SMS_SIGN": "",
        "TENCENT_SMS_TEMPLATE_CODE": "",
        "TENCENT_SMS_TEMPLATE_NOTICE": "",
        "TENCENT_ENDPOINT": "",  # override both products' endpoint, e.g. a private gateway (https only in production)
        # Alibaba Cloud (kind "aliyun"; see erhc_h5/identity/aliyun.py).
        "ALIYUN_ACCESS_KEY_ID": "",
        "ALIYUN_ACCESS_KEY_SECRET": "",
        "ALIYUN_REGION": "cn-hangzhou",
        "ALIYUN_SMS_SIGN": "",
        "ALIYUN_SMS_TEMPLATE_CODE": "",
        "ALIYUN_SMS_TEMPLATE_NOTICE": "",
        "ALIYUN_ENDPOINT": "",  # override both products' endpoint (https only in production)
        "ALIYUN_FACE_SCENE_ID": "",  # 认证场景ID of the H5 face check (console, 金融级实人认证)
        "ALIYUN_FACE_PRODUCT_CODE": "ID_PRO",  # the H5 solution
        # The vendor's script our face page runs for the device data (MetaInfo); its origin joins script-src.
        "ALIYUN_FACE_SCRIPT_URL": "https://o.alicdn.com/yd-cloudauth/cloudauth-cdn/jsvm_all.js",
        # Dynamic health code.
        "CODE_TTL_SECONDS": 60,
        "CODE_CLOCK_SKEW_SECONDS": 90,
        # Resident session and journey.
        "CONSENT_VERSION": "2026-11-v1",
        "SESSION_IDLE_MINUTES": 30,
        # A resident session ends this long after its launch, however often it is used.
        "RESIDENT_SESSION_MAX_HOURS": 12,
        "LAUNCH_MAX_SKEW_SECONDS": 300,
        "ONSITE_CODE_HOURS": 24,
        "LOCKOUT_FAILURES": 5,
        "LOCKOUT_WINDOW_HOURS": 24,
        # A person's failures from anyone only slow the knowledge check (two-factor): this wait, doubling.
        "KNOWLEDGE_BACKOFF_SECONDS": 60,
        "KNOWLEDGE_BACKOFF_MAX_SECONDS": 3600,
        # Where residents get help: the city's hotline and its on-site verification points
        # ([{"name", "address", "hours"}, …]); empty in sandbox mode shows a sample.
        "HOTLINE": "",
        "ONSITE_POINTS": [],
        "VERIFICATION_MAX_ATTEMPTS": 3,  # failed checks that end one verification session
        "SMS_PER_PHONE_HOUR": 5,
        "APP_ORIGINS": "",
        "TRUSTED_PROXIES": 0,  # reverse proxies in front (X-Forwarded-For/-Proto hops to trust)  # space-separated origins allowed to frame the H5
        # Rate limits.
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_ENABLED": True,
        # Store down or hung: limits fail open to per-process memory after at most this many seconds.
        "RATELIMIT_STORAGE_TIMEOUT_SECONDS": 0.3,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # Staff sign-in backoff per username (in the database, whatever the address): after this many
        # wrong passwords, sign-in waits BACKOFF seconds, doubling with each backoff up to the maximum.
        "STAFF_LOGIN_MAX_FAILURES": 5,
        "STAFF_LOGIN_BACKOFF_SECONDS": 60.0,
        "STAFF_LOGIN_BACKOFF_MAX_SECONDS": 3600.0,
        # Database outage: every route answers 503 with this Retry-After.
        "DATABASE_RETRY_AFTER_SECONDS": 30,
        # Retention (days).
        "RETENTION_VERIFICATION_DAYS": 90,
        "RETENTION_SCAN_DAYS": 180,
        "RETENTION_APP_USER_DAYS": 30,  # app users that never got a card (each launch makes one)
        "RETENTION_LAUNCH_AUDIT_DAYS": 30,  # per-launch audit rows (resident.launch)
        "RETENTION_EXPIRED_SESSION_DAYS": 7,  # verification sessions that expired unfinished
        "RETENTION_RATE_COUNTER_DAYS": 2,  # journey counters (never shorter than their longest window)
        "RETENTION_SCAN_CLAIM_DAYS": 1,  # scan claims: a code can be shown for minutes
        "RETENTION_SYNC_ATTEMPT_DAYS": 90,  # upload attempts (ops figures look back 24 h)
        "UPLOAD_MAX_BYTES": 5 * 1024 * 1024,
        "UPLOAD_DIR": str(Path(instance_path) / "uploads"),
        "LOG_LEVEL": "INFO",
        "OPS_TOKEN": "",  # bearer token for /ops/status.json and /metrics (monitoring systems)
        "METRICS_ENABLED": True,  # off: /metrics answers 404 (production then needs no OPS_TOKEN)
    }


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


SECRET_WORDS = ("SECRET", "KEY", "PASSWORD", "TOKEN")  # keys whose value a start-up error never repeats


def typed(key: str, value, default):
    """``value`` in the type of ``default``: the environment gives JSON (``3301`` is a number, ``"x"``
    a string), but every key has one type, taken from its default."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    elif isinstance(default, (int, float)):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value if isinstance(default, float) or value != int(value) else int(value)
        try:
            number = float(str(value).strip())
        except ValueError:
            pass
        else:
            return number if isinstance(default, float) or number != int(number) else int(number)
    elif isinstance(default, str):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif isinstance(value, type(default)):
        return value
    shown = "a value not shown (a secret)" if any(word in key for word in SECRET_WORDS) else repr(value)
    raise ConfigError(f"ERHC_{key} must be a {type(default).__name__}, got {shown}")


def load(app, overrides: dict | None = None) -> None:
    """Fill app.config from defaults, the environment and overrides, each key in its default's type;
    then derive and check."""
    base = defaults(app.instance_path)
    app.config.update(base)
    app.config.from_prefixed_env("ERHC")
    if overrides:
        app.config.update(overrides)
    cfg = app.config
    for key, default in base.items():
        cfg[key] = typed(key, cfg[key], default)
    cfg["ENV"] = ENV_ALIASES.get(str(cfg["ENV"]).strip().lower(), cfg["ENV"])
    if cfg["ENV"] not in ENVIRONMENTS:
        raise ConfigError(f"ERHC_ENV must be one of {', '.join(ENVIRONMENTS)}, got {cfg['ENV']!r}")
    cfg["SANDBOX"] = cfg["ENV"] != "production"  # sandbox providers, receiver and demo pages allowed
    cfg["STAGING"] = cfg["ENV"] == "staging"
    cfg["PRODUCTION_CHECKS"] = cfg["ENV"] in ("production", "staging")  # Secure cookies, HSTS, secrets
    cfg["SQLALCHEMY_URL"] = cfg["DATABASE_URL"]
    cfg["PERMANENT_SESSION_LIFETIME"] = int(cfg["SESSION_IDLE_MINUTES"]) * 60
    cfg["SESSION_REFRESH_EACH_REQUEST"] = True
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = cfg["PRODUCTION_CHECKS"]
    cfg["MAX_CONTENT_LENGTH"] = int(cfg["UPLOAD_MAX_BYTES"]) + 1024 * 1024
    cfg["WTF_CSRF_TIME_LIMIT"] = None
    if cfg["PRODUCTION_CHECKS"]:
        check_production(cfg)
    from erhc_h5.identity.factory import check_config as check_providers

    check_providers(cfg)
    check_ca_bundles(cfg)
    if not re.fullmatch(r"\d{4}", cfg["CD_SOURCE"]):
        raise ConfigError(f"ERHC_CD_SOURCE must be 4 digits, got {cfg['CD_SOURCE']!r}")
    if cfg["SANDBOX"]:
        from erhc_h5.sandbox.cities import check_config as check_sandbox_cities

        check_sandbox_cities(cfg)
    if int(cfg["DATABASE_POOL_SIZE"]) < 1 or int(cfg["DATABASE_MAX_OVERFLOW"]) < 0 \
            or float(cfg["DATABASE_POOL_TIMEOUT_SECONDS"]) <= 0:
        raise ConfigError("ERHC_DATABASE_POOL_SIZE must be at least 1, ERHC_DATABASE_MAX_OVERFLOW at least 0 "
                          "and ERHC_DATABASE_POOL_TIMEOUT_SECONDS above 0")
    if int(cfg["STAFF_LOGIN_MAX_FAILURES"]) < 1 or float(cfg["STAFF_LOGIN_BACKOFF_SECONDS"]) <= 0:
        raise ConfigError("ERHC_STAFF_LOGIN_MAX_FAILURES must be at least 1 and ERHC_STAFF_LOGIN_BACKOFF_SECONDS above 0")
    if cfg["PII_CIPHER"] not in ("sm4-gcm", "aes-256-gcm"):
        raise ConfigError("ERHC_PII_CIPHER must be sm4-gcm or aes-256-gcm")
    from erhc_h5.security.pii import Keyring, PIIError

    try:
        Keyring.from_config(cfg)
    except PIIError as exc:
        raise ConfigError(f"ERHC_PII_KEYS / ERHC_PII_ACTIVE_KEY_ID unusable: {exc}") from None


def check_ca_bundles(cfg) -> None:
    """A CA bundle that is set must be a readable PEM file of certificates (checked in every mode:
    a bad one would otherwise fail every upload or provider call until someone looks)."""
    from erhc_h5.outbound_tls import check_bundle

    for key in ("PROVINCE_CA_BUNDLE", "PROVIDER_CA_BUNDLE"):
        problem = check_bundle(key, cfg.get(key))
        if problem:
            raise ConfigError(problem)
    if float(cfg["CLOCK_OFFSET_ALERT_SECONDS"]) <= 0:
        raise ConfigError("ERHC_CLOCK_OFFSET_ALERT_SECONDS must be above 0")


def server_workers() -> int:
    """The gunicorn worker count, as gunicorn.conf.py sets it: GUNICORN_WORKERS, else WEB_CONCURRENCY,
    else 2 × CPU count. gunicorn.conf.py's on_starting hook writes the final count (command-line ``-w``
    included) to GUNICORN_WORKERS before workers load the app; a preloaded app sees the environment."""
    import os

    for name in ("GUNICORN_WORKERS", "WEB_CONCURRENCY"):
        value = (os.environ.get(name) or "").strip()
        if value:
            if not ascii_digits(value):
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
            return int(value)
    return 2 * (os.cpu_count() or 1)


def environment(cfg) -> dict:
    """The deployment mode as shown to staff: ``{"env": "staging", "label": "演练环境(测试环境)"}``."""
    return {"env": cfg["ENV"], "label": ENVIRONMENTS[cfg["ENV"]]}


def check_production(cfg) -> None:
    """Refuse to run in production or staging with missing or development secrets. Staging may point
    at the sandbox province receiver (its own ``/sandbox-province``) under the sandbox app id."""
    placeholders = [f"ERHC_{key}" for key in sorted(k for k, v in cfg.items() if PLACEHOLDER in str(v))]
    if placeholders:
        raise ConfigError(f"still the sample env file's {PLACEHOLDER} placeholder: {', '.join(placeholders)}")
    if cfg.get("SECRET_KEY") in (None, "", DEV_SECRET_KEY):
        raise ConfigError("ERHC_SECRET_KEY is missing or still the development default")
    keys = cfg.get("PII_KEYS") or {}
    if not keys or DEV_PII_KEY in keys.values():
        raise ConfigError("ERHC_PII_KEYS is missing or still the development default")
    if cfg.get("EMPI_KEY") in (None, "", DEV_EMPI_KEY):
        raise ConfigError("ERHC_EMPI_KEY is missing or still the development default")
    if cfg.get("BLIND_INDEX_KEY") in (None, "", "dev-insecure-blind-index-key"):
        raise ConfigError("ERHC_BLIND_INDEX_KEY is missing or still the development default")
    staging = cfg["ENV"] == "staging"
    if not cfg.get("PROVINCE_URL") or ("/sandbox-province" in str(cfg.get("PROVINCE_URL")) and not staging):
        raise ConfigError("ERHC_PROVINCE_URL is missing or points at the sandbox receiver")
    if "/sandbox-province" in str(cfg.get("PROVINCE_FILING_URL") or "") and not staging:
        raise ConfigError("ERHC_PROVINCE_FILING_URL points at the sandbox province")
    if not cfg.get("PROVINCE_APP_ID") or (cfg.get("PROVINCE_APP_ID") == "sandbox-city-3301" and not staging):
        raise ConfigError("ERHC_PROVINCE_APP_ID is missing or still the sandbox default")
    if cfg.get("PROVINCE_SECRET") in (None, "", DEV_PROVINCE_SECRET):
        raise ConfigError("ERHC_PROVINCE_SECRET is missing or still the development default")
    if not str(cfg.get("PROVINCE_VERIFY_ID") or "").strip():
        raise ConfigError("ERHC_PROVINCE_VERIFY_ID is missing")
    secret = str(cfg.get("PROVINCE_VERIFY_SECRET") or "")
    if secret in ("", DEV_PROVINCE_VERIFY_SECRET) or len(secret) < 16:
        raise ConfigError("ERHC_PROVINCE_VERIFY_SECRET is missing, shorter than 16 characters or still the development default")
    if str(cfg["DATABASE_URL"]).startswith("sqlite"):
        raise ConfigError("ERHC_DATABASE_URL must name a server database (PostgreSQL) in production")
    workers = server_workers()
    if cfg["RATELIMIT_ENABLED"] and str(cfg["RATELIMIT_STORAGE_URI"]).startswith("memory") and workers > 1:
        raise ConfigError(f"ERHC_RATELIMIT_STORAGE_URI is memory:// (one count per process) with {workers} gunicorn "
                          "workers: point it at Redis (redis://...) or set GUNICORN_WORKERS=1")
    if cfg["METRICS_ENABLED"] and not str(cfg.get("OPS_TOKEN") or "").strip():
        raise ConfigError("ERHC_OPS_TOKEN is missing: /metrics would be open (or set ERHC_METRICS_ENABLED=false)")


