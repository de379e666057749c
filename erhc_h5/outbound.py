"""Bounded outbound HTTP, shared by the provincial client and the identity/SMS/face providers.

A socket timeout only bounds one read: a peer that trickles one byte a second, or streams without
end, holds a plain ``requests`` call forever and may fill memory. Here every call has

- a whole-request deadline (connect, send, headers and body together),
- a reply-size cap, checked against Content-Length and again while the body streams in,
- an optional stop flag (the sync worker's SIGTERM) that ends the call within a fraction of a second,
- JSON parsing that refuses nesting deeper than ``max_depth`` before ``json.loads`` recurses.

A blocked ``recv`` cannot look at a clock, so a watchdog thread shuts the call's socket down when
the deadline passes or the stop flag is set; the reading thread then fails at once and the failure
is reported with the watchdog's reason. Sessions from ``new_session()`` register their sockets with
the watchdog; any other session (tests faking HTTP) still gets the checks between chunks.

During a TLS handshake the raw socket has already been handed to ``ssl`` (which detaches it), and
the TLS socket is not known until the handshake ends; so a duplicate of the raw socket's descriptor
is registered too: shutting it down ends the handshake's blocked read at once (SIGTERM, deadline).
A handshake that outlasts the connect timeout reads ``tls_handshake_timeout``, and a refused
certificate says why (``erhc_h5.outbound_tls``).

Failures raise ``OutboundFailure`` with a stable reason code (``REASONS``); the detail (Chinese:
operators read it on /ops) is about the transport only and never carries the peer's reply text.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from erhc_h5.outbound_tls import TLS_DETAIL, TLS_REASONS, tls_reason
from erhc_h5.text import ascii_digits

REASONS = (
    "connect_timeout",  # no TCP connection within the connect timeout
    "connect_error",  # refused, unresolvable, reset before the reply's headers
    "read_timeout",  # the peer went silent for longer than the read timeout
    "deadline",  # the whole call took longer than its deadline (trickling replies)
    "stopped",  # the caller's stop flag was set (a worker shutting down)
    "reply_too_large",  # declared or streamed body over the size cap
    "transport_error",  # connection broken while the body was read, or another transport fault
    "bad_json",  # body not UTF-8 JSON
    "nested_json",  # JSON nested deeper than the limit
    *TLS_REASONS,  # the peer's certificate refused, or a TLS handshake that never completed
)
CHUNK_BYTES = 64 * 1024
WATCH_TICK_SECONDS = 0.1
DEFAULT_MAX_DEPTH = 64


class OutboundFailure(Exception):
    """An outbound call gave no usable reply; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str = "", status: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class Limits:
    """How long and how much one call may take."""

    connect_timeout: float
    read_timeout: float
    deadline: float
    max_bytes: int
    max_depth: int = DEFAULT_MAX_DEPTH

    @property
    def timeout(self) -> tuple[float, float]:
        return (min(self.connect_timeout, self.deadline), min(self.read_timeout, self.deadline))


@dataclass
class Fetched:
    """A complete reply body read within the limits."""

    status: int
    headers: Any
    body: bytes
    elapsed_ms: int


# --- the watchdog ---------------------------------------------------------------------------------

_current = threading.local()


class _Watch:
    """Shuts down the sockets of one call when its deadline passes or its stop flag is set."""

    def __init__(self, deadline_at: float, stop: threading.Event | None) -> None:
        self.deadline_at = deadline_at
        self.stop = stop
        self.fired: str | None = None
        self.phase: str | None = None  # "handshake" between TCP connect and the end of the TLS handshake
        self._sockets: list[socket.socket] = []
        self._owned: list[socket.socket] = []  # duplicates made for the watch, closed when the call ends
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbound-watch", daemon=True)

    def __enter__(self) -> _Watch:
        self._thread.start()
        _current.watch = self
        return self

    def __exit__(self, *_exc) -> None:
        _current.watch = None
        with self._lock:
            self._done.set()
            self._sockets.clear()
            owned, self._owned = self._owned, []
        for sock in owned:
            sock.close()
        self._thread.join(timeout=1.0)

    def attach_duplicate(self, sock: socket.socket) -> None:
        """Watch the connection behind ``sock`` through a descriptor of our own (``ssl`` detaches ``sock``)."""
        try:
            duplicate = sock.dup()
        except OSError:
            return
        with self._lock:
            kept = not self._done.is_set()
            if kept:
                self._owned.append(duplicate)
        if not kept:
            duplicate.close()
            return
        self.attach(duplicate)

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self._done.is_set():
                return
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def check(self) -> None:
        """Raise if the call must end now (used between chunks, and where no socket is known)."""
        if self.fired is None:
            if self.stop is not None and self.stop.is_set():
                self._fire("stopped")
            elif time.monotonic() >= self.deadline_at:
                self._fire("deadline")
        if self.fired:
            raise OutboundFailure(self.fired, _FIRED_DETAIL[self.fired])

    def _run(self) -> None:
        while True:
            remaining = self.deadline_at - time.monotonic()
            if self._done.wait(max(0.0, min(WATCH_TICK_SECONDS, remaining))):
                return
            if self.stop is not None and self.stop.is_set():
                self._fire("stopped")
                return
            if time.monotonic() >= self.deadline_at:
                self._fire("deadline")
                return

    def _fire(self, reason: str) -> None:
        with self._lock:
            if self._done.is_set() or self.fired:
                return
            self.fired = reason
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


_FIRED_DETAIL = {"deadline": "超过整次请求时限", "stopped": "进程停止,本次请求中止"}


def _shutdown(sock: socket.socket) -> None:
    # The base-class call: SSLSocket.shutdown would also drop its TLS object under the reading thread.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


def _attach_current(sock) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _attach_current(sock)
        return sock

    def request(self, *args, **kwargs):
        _attach_current(self.sock)  # a kept-alive connection being reused
        return super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach_duplicate(sock)  # covers the TLS handshake, after ssl has detached ``sock``
            watch.phase = "handshake"
        return sock

    def connect(self):
        super().connect()
        _attach_current(self.sock)  # the TLS socket replaces the raw one
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.phase = "connected"

    def request(self, *args, **kwargs):
        _attach_current(self.sock)
        return super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """An adapter whose connections hand their sockets to the current call's watchdog."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


def new_session() -> requests.Session:
    """A requests session whose calls the watchdog can cut short."""
    session = requests.Session()
    adapter = WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --- the bounded call -----------------------------------------------------------------------------

def fetch(session: requests.Session, prepared: requests.PreparedRequest, limits: Limits, *,
          stop: threading.Event | None = None, **send_kwargs) -> Fetched:
    """Send one prepared request and read its whole reply within ``limits``; raise OutboundFailure."""
    started = time.monotonic()
    send_kwargs.pop("stream", None)  # merge_environment_settings() carries one; this call always streams
    # A compressed body could expand far past the cap inside one decoded chunk: ask for none.
    prepared.headers["Accept-Encoding"] = "identity"
    with _Watch(started + float(limits.deadline), stop) as watch:
        watch.check()
        response = None
        try:
            try:
                response = session.send(prepared, stream=True, timeout=limits.timeout, allow_redirects=False,
                                        **send_kwargs)
            except requests.RequestException as exc:
                watch.check()
                raise _transport_failure(exc, before_reply=True, phase=watch.phase) from None
            watch.check()
            body = _read_body(response, limits, watch)
        finally:
            if response is not None:
                response.close()
    return Fetched(response.status_code, response.headers, body, int((time.monotonic() - started) * 1000))


def _read_body(response: requests.Response, limits: Limits, watch: _Watch) -> bytes:
    status = response.status_code
    declared = response.headers.get("Content-Length", "")
    if ascii_digits(declared.strip()) and int(declared) > limits.max_bytes:
        raise OutboundFailure("reply_too_large", f"声明 {int(declared)} 字节,超过上限 {limits.max_bytes}", status)
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise OutboundFailure("bad_json", "回复经过压缩", status)
    body = bytearray()
    try:
        for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
            body += chunk
            if len(body) > limits.max_bytes:
                raise OutboundFailure("reply_too_large", f"读取超过上限 {limits.max_bytes} 字节", status)
            watch.check()
    except OutboundFailure:
        raise
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        watch.check()
        raise _transport_failure(exc, before_reply=False, status=status) from None
    watch.check()  # a shut-down socket may look like the end of a close-delimited body
    return bytes(body)


def _transport_failure(exc: BaseException, *, before_reply: bool, status: int | None = None,
                       phase: str | None = None) -> OutboundFailure:
    name = type(exc).__name__
    tls = tls_reason(exc) if before_reply else None
    if tls is not None:
        return OutboundFailure(tls, TLS_DETAIL[tls], status)
    timed_out = isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, socket.timeout))
    if before_reply and phase == "handshake" and timed_out:
        return OutboundFailure("tls_handshake_timeout", TLS_DETAIL["tls_handshake_timeout"], status)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return OutboundFailure("connect_timeout", name, status)
    if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError,
                        socket.timeout)):
        return OutboundFailure("read_timeout", name, status)
    if before_reply and isinstance(exc, requests.exceptions.ConnectionError):
        return OutboundFailure("connect_error", name, status)
    return OutboundFailure("transport_error", name, status)


# --- JSON ----------------------------------------------------------------------------------------

# A whole JSON string (possessive: no backtracking on long strings) or one bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """True when brackets outside strings nest deeper than ``max_depth`` anywhere in ``body``."""
    depth = 0
    for match in _JSON_TOKENS.finditer(body):
        char = body[match.start()]
        if char in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        elif char in _CLOSE:
            depth -= 1
    return False


def parse_json(body: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse a UTF-8 JSON reply; OutboundFailure ``nested_json`` or ``bad_json`` instead of recursing."""
    if json_depth_exceeds(body, max_depth):
        raise OutboundFailure("nested_json", f"嵌套超过 {max_depth} 层")
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise OutboundFailure("nested_json", "嵌套过深") from None
    except (UnicodeDecodeError, ValueError):
        raise OutboundFailure("bad_json", "不是 UTF-8 JSON") from None
