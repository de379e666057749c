"""A misbehaving provincial platform on a real local socket (no HTTP library on this side).

Modes, each after reading the whole request:
  trickle        headers (Content-Length 100000), then one space every ``interval`` seconds
  silent         headers, then nothing
  huge           a 400 MB body streamed with no Content-Length (the end is the connection's close)
  huge_declared  the same with ``Content-Length: 419430400``
  nested         a 200 reply whose body is ``[`` × 200,000
  endless        a chunked body that never ends: 1 KB every ``interval`` seconds (0: as fast as it can)
"""
from __future__ import annotations

import socket
import threading
import time

HUGE_BYTES = 400 * 1024 * 1024
NESTED = b"[" * 200_000
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"


class FaultyProvince:
    """Serve one fault on 127.0.0.1; ``requests`` counts requests read, ``sent`` body bytes written."""

    def __init__(self, mode: str, interval: float = 1.0) -> None:
        self.mode = mode
        self.interval = interval
        self.requests = 0
        self.sent = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> FaultyProvince:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def wait_for_request(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.requests:
                return True
            time.sleep(0.05)
        return False

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._read_request(conn)
            with self._lock:
                self.requests += 1
            getattr(self, "_" + self.mode)(conn)
        except OSError:
            pass  # the client gave up: that is what these faults are for
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("client closed")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("client closed")
            body += chunk

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def _trickle(self, conn):
        conn.sendall(HEAD + b"Content-Length: 100000\r\n\r\n")
        while not self._stop.wait(self.interval):
            self._send(conn, b" ")

    def _silent(self, conn):
        conn.sendall(HEAD + b"Content-Length: 100\r\n\r\n")
        self._stop.wait()

    def _huge(self, conn, declared: bool = False):
        length = f"Content-Length: {HUGE_BYTES}\r\n" if declared else ""
        conn.sendall(HEAD + length.encode() + b"\r\n")
        block = b'{"accepted": [' + b"0," * 32_760 + b"0]}"
        sent = 0
        while sent < HUGE_BYTES and not self._stop.is_set():
            part = block[:HUGE_BYTES - sent]
            self._send(conn, part)
            sent += len(part)

    def _huge_declared(self, conn):
        self._huge(conn, declared=True)

    def _nested(self, conn):
        conn.sendall(HEAD + f"Content-Length: {len(NESTED)}\r\n\r\n".encode())
        self._send(conn, NESTED)
        self._stop.wait(2)

    def _endless(self, conn):
        conn.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
        while not self._stop.is_set():
            self._send(conn, chunk)
            if self.interval:
                self._stop.wait(self.interval)
