"""Which city platform answers for a health code, as a province with many cities decides it from
the contract alone: an ``EHC2.<cd_source>.…`` code names its issuing city, an ``EHC1`` code (shown
before the issuer was named) goes to the default city, anything else is not a health code.

City base URLs come from ``SANDBOX_PROVINCE_CITIES`` ({cd_source: base URL}). Left empty, the
sandbox province knows one city, this app's own (``CD_SOURCE``), at the origin its uploads come
from: the address ``PROVINCE_URL`` gives the built-in receiver, else 127.0.0.1 on the port serving
the request. The Host header is never followed: a request cannot point the signed call elsewhere.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from erhc_h5.config import ConfigError
from erhc_h5.errors import DomainError

RECEIVER_PATH = "/sandbox-province"
_CD_SOURCE = re.compile(r"[0-9]{4}")
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?")
_TERMINAL = re.compile(r"[\x20-\x7e]{1,64}")
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class City:
    """Where one verification goes: the issuing city's cd_source and its platform's base URL."""

    cd_source: str
    base_url: str


class Unroutable(DomainError):
    """The code cannot be sent to any city: a reason code and a Chinese message for the nurse."""

    status = 422


def check_config(cfg) -> None:
    """Refuse city maps, a default city, a terminal id or a timeout the page could not use."""
    cities = cfg["SANDBOX_PROVINCE_CITIES"]
    if not isinstance(cities, dict) or not all(
            isinstance(k, str) and _CD_SOURCE.fullmatch(k) and isinstance(v, str) and _BASE_URL.fullmatch(v)
            for k, v in cities.items()):
        raise ConfigError('ERHC_SANDBOX_PROVINCE_CITIES must map 4-digit cd_source to http(s) base URLs, '
                          'e.g. {"3301": "http://127.0.0.1:5000"}')
    default = cfg["SANDBOX_PROVINCE_DEFAULT_CITY"]
    if default and not _CD_SOURCE.fullmatch(default):
        raise ConfigError("ERHC_SANDBOX_PROVINCE_DEFAULT_CITY must be empty or 4 digits")
    if not _TERMINAL.fullmatch(cfg["SANDBOX_PROVINCE_TERMINAL"]):
        raise ConfigError("ERHC_SANDBOX_PROVINCE_TERMINAL must be 1-64 printable ASCII characters")
    if not float(cfg["SANDBOX_PROVINCE_TIMEOUT"]) > 0:
        raise ConfigError("ERHC_SANDBOX_PROVINCE_TIMEOUT must be above 0")


def own_city_url(cfg, server_port: str) -> str:
    """This app's base URL as the sandbox province reaches it (see the module's docstring)."""
    province_url = str(cfg["PROVINCE_URL"]).rstrip("/")
    if province_url.endswith(RECEIVER_PATH) and _BASE_URL.fullmatch(province_url):
        return province_url[: -len(RECEIVER_PATH)]
    port = server_port if _PORT.fullmatch(server_port or "") else "80"
    return f"http://127.0.0.1:{port}"


def known_cities(cfg, server_port: str) -> dict[str, str]:
    """{cd_source: base URL} the province may call."""
    configured = dict(cfg["SANDBOX_PROVINCE_CITIES"])
    return configured or {str(cfg["CD_SOURCE"]): own_city_url(cfg, server_port)}


def default_city(cfg) -> str:
    return str(cfg["SANDBOX_PROVINCE_DEFAULT_CITY"] or cfg["CD_SOURCE"])


def route(cfg, code: str, server_port: str) -> City:
    """The city that issued ``code``; Unroutable when it is no health code or its city is unknown."""
    fields = code.split(".")
    if fields[0] == "EHC2" and len(fields) > 2:
        cd_source = fields[1]
    elif fields[0] == "EHC1" and len(fields) > 2:
        cd_source = default_city(cfg)
    else:
        raise Unroutable("not_health_code", "这不是电子健康码,请居民打开电子健康码后重新出示")
    cities = known_cities(cfg, server_port)
    if cd_source not in cities:
        shown = f"({cd_source})" if _CD_SOURCE.fullmatch(cd_source) else ""
        raise Unroutable("unknown_city", f"未知的发码城市{shown}:省平台没有该城市的验码地址,"
                                         "请确认居民出示的是本省城市签发的电子健康码")
    return City(cd_source, cities[cd_source])
