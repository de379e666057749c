"""The sandbox province's client of the city's verification (验码) API: it signs each request with
its own implementation of the scheme (``province_signing``), never the city's code.

Used by tests and by the sandbox province's vaccination page; every call has a timeout.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import requests

from erhc_h5.sync.province_signing import signed_headers

VERIFY_PATH = "/api/v1/province/verify"


@dataclass(frozen=True)
class SignedRequest:
    path: str
    headers: dict
    body: bytes


@dataclass(frozen=True)
class VerifyAnswer:
    """The city's answer: HTTP status and the JSON body (``{}`` when it was not JSON)."""

    status: int
    body: dict

    @property
    def authenticated(self) -> bool:
        return self.status == 200 and self.body.get("result") == "authenticated"


class ProvinceVerifyClient:
    """Signs and sends ``{"code", "terminal"}`` to a city platform at ``base_url``."""

    def __init__(self, base_url: str, app_id: str, secret: str, *, timeout: tuple[float, float] = (3.0, 10.0),
                 http: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id, self.secret, self.timeout = app_id, secret, timeout
        self.http = http or requests.Session()

    def prepare(self, code: str, terminal: str, *, now: float | None = None, nonce: str | None = None) -> SignedRequest:
        """The signed request, not sent (tests send it through the WSGI client, or replay it)."""
        body = json.dumps({"code": code, "terminal": terminal}, ensure_ascii=False).encode("utf-8")
        path = _path_of(self.base_url) + VERIFY_PATH
        return SignedRequest(path, signed_headers(self.app_id, self.secret, path, body, now=now, nonce=nonce), body)

    def send(self, signed: SignedRequest) -> VerifyAnswer:
        """POST a prepared request once; network errors propagate as ``requests`` exceptions."""
        origin = self.base_url[: len(self.base_url) - len(_path_of(self.base_url))]
        reply = self.http.post(origin + signed.path, data=signed.body, headers=signed.headers, timeout=self.timeout)
        try:
            body = reply.json()
        except ValueError:
            body = {}
        return VerifyAnswer(reply.status_code, body if isinstance(body, dict) else {})

    def verify(self, code: str, terminal: str) -> VerifyAnswer:
        return self.send(self.prepare(code, terminal))


def _path_of(base_url: str) -> str:
    """The path part of a base URL ('' for 'http://host:port')."""
    rest = base_url.split("://", 1)[-1]
    return rest[rest.index("/"):] if "/" in rest else ""


def from_config(cfg, base_url: str, **kwargs) -> ProvinceVerifyClient:
    """A client with the verification id and secret the city is configured to accept (sandbox only)."""
    return ProvinceVerifyClient(base_url, str(cfg["PROVINCE_VERIFY_ID"]), str(cfg["PROVINCE_VERIFY_SECRET"]), **kwargs)
