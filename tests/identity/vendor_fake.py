"""What the loopback fakes of the cloud vendors share: the server on 127.0.0.1, its state and fault
modes, the vendor's own face page (the resident presses 完成 and is sent back to our return URL),
and writing a reply. Nothing here logs a request: bodies carry names and ID numbers."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

FACE_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>人脸核身(测试)</title></head>
<body><h1>人脸核身(测试)</h1><p>请正对屏幕。</p>
<form method="post" action="/h5/face/done"><input type="hidden" name="token" value="{token}">
<button type="submit">完成</button></form></body></html>"""
# For journeys that simulate no fault: a machine under load must not turn a slow answer into a timeout page.
JOURNEY_TIMEOUTS = {"PROVIDER_TIMEOUT": "2,5", "PROVIDER_DEADLINE_SECONDS": 8.0}


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that gave up is expected here
        pass


class LoopbackFake:
    """Shared state of a fake (faces, SMS sent, calls seen, refusals) and its fault mode."""

    PORTS = range(5220, 5240)

    def __init__(self) -> None:
        self.mode = "normal"
        self.faces: dict[str, dict] = {}
        self.sms: list[dict] = []
        self.calls: list[str] = []
        self.refused: list[str] = []
        self.result_override: dict[str, dict] = {}  # action → fields replacing the normal answer
        self.release = threading.Event()
        self.server = None
        self.url = ""

    def handler(self):
        raise NotImplementedError

    def start(self):
        for port in self.PORTS:
            try:
                self.server = QuietServer(("127.0.0.1", port), self.handler())
                break
            except OSError:
                continue
        else:
            raise RuntimeError(f"no free port in {self.PORTS.start}-{self.PORTS.stop - 1}")
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        """Back to normal for the next test."""
        self.mode = "normal"
        self.release.clear()
        for seen in (self.result_override, self.calls, self.refused, self.sms):
            seen.clear()

    def finish_face(self, token: str) -> str:
        """The resident completes the vendor's page; returns where the page sends the browser."""
        face = self.faces[token]
        face["done"] = True
        return face["redirect"] + ("&" if "?" in face["redirect"] else "?") + urlencode(self.return_query(token))

    def return_query(self, token: str) -> dict:
        """What the vendor's page appends to the return URL (our app reads none of it)."""
        return {"token": token}


class FakeHandler(BaseHTTPRequestHandler):
    """Serves the vendor's face page (``/h5/face?<TOKEN_PARAM>=…``) and ``PAGES``; subclasses answer the API."""

    protocol_version = "HTTP/1.1"
    fake: LoopbackFake
    TOKEN_PARAM = "token"
    PAGES: dict[str, tuple[bytes, str]] = {}  # path → (body, content type)

    def log_message(self, *args):  # keep test output quiet, and personal data out of it
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path in self.PAGES:
            return self.send(200, *self.PAGES[parts.path])
        if parts.path != "/h5/face":
            return self.send(404, b"not found", "text/plain")
        self.face_page(parse_qs(parts.query).get(self.TOKEN_PARAM, [""])[0])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/h5/face/done":
            return self.face_done(body)
        if not self.fault():
            self.api(body)

    def api(self, body: bytes) -> None:
        raise NotImplementedError

    def face_page(self, token: str) -> None:
        if token not in self.fake.faces:
            return self.send(404, b"not found", "text/plain")
        self.send(200, FACE_PAGE.replace("{token}", token).encode(), "text/html; charset=utf-8")

    def face_done(self, body: bytes) -> None:
        token = parse_qs(body.decode()).get("token", [""])[0]
        if token not in self.fake.faces:
            return self.send(404, b"not found", "text/plain")
        self.send_response(302)
        self.send_header("Location", self.fake.finish_face(token))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def fault(self) -> bool:
        """Answer as the fault mode says (timeout: silence; trickle: slower than any deadline; error: 502)."""
        if self.fake.mode == "timeout":
            self.fake.release.wait(5)
            return True
        if self.fake.mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(20):
                if self.fake.release.wait(0.1):
                    break
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    break
            return True
        if self.fake.mode == "error":
            self.send(502, b"<html>Bad Gateway</html>", "text/html")
            return True
        return False

    def send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass


def handler_for(fake: LoopbackFake, cls: type[FakeHandler]) -> type[FakeHandler]:
    """``cls`` bound to one fake's state."""
    return type(cls.__name__, (cls,), {"fake": fake})
