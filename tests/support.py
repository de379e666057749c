"""What the tests share besides fixtures: app building, test databases, a live server, the resident
walk-through and the sync chain. Fixtures live in the conftest files and use these; tests import from
here (never from another folder's conftest). Test data comes from ``tests/factories.py``."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from erhc_h5 import create_app

from erhc_h5.sandbox import demo
from erhc_h5.db import get_db, session_scope, utcnow
from erhc_h5.filing.models import FiledApp
from erhc_h5.records.models import AuthRecord
from erhc_h5.resident.launch import make_launch_url
from erhc_h5.sync.client import ProvinceClient
from erhc_h5.sandbox.models import ProvinceRecord
from erhc_h5.sync.models import OutboxEntry, SyncBatch
from erhc_h5.sandbox.receiver import set_faults
from erhc_h5.sync.worker import Worker
from tests import processes
from tests.factories import demo_app, make_cards

TEST_DB_URL = os.environ.get("ERHC_TEST_DATABASE_URL", "")
ARTIFACTS = Path(os.environ.get("ERHC_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))

BASE_OVERRIDES = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "SYNC_RETRY_BASE_SECONDS": 0,
    "RATELIMIT_ENABLED": False,
    "WTF_CSRF_ENABLED": False,
    "PROVINCE_URL": "http://province.test",
}

# Debian's Chromium, launched once per test session (the ``browser`` fixture in tests/conftest.py).
CHROMIUM = os.environ.get("ERHC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]


def new_database_url(tmp_dir: Path, server: str | None = None, prefix: str = "erhc_test") -> str:
    """A brand-new empty database: a SQLite file in ``tmp_dir``, or a new PostgreSQL database on
    ``server`` (default: the test server, when ``ERHC_TEST_DATABASE_URL`` names one)."""
    server = TEST_DB_URL if server is None else server
    if not server:
        return f"sqlite:///{tmp_dir / (prefix + '-' + secrets.token_hex(4) + '.sqlite3')}"
    url = make_url(server)
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def make_app(database_url: str, **overrides):
    app = create_app({**BASE_OVERRIDES, "DATABASE_URL": database_url, **overrides})
    return app



PRODUCTION = {
    "ENV": "production",
    "SECRET_KEY": "s" * 40,
    "PII_KEYS": {"p1": "cHJvZHVjdGlvbi1rZXktb2YtMzItYnl0ZXMtbG9uZyEh"},
    "PII_ACTIVE_KEY_ID": "p1",
    "EMPI_KEY": "e" * 40,
    "BLIND_INDEX_KEY": "b" * 40,
    "PROVINCE_URL": "https://province.example.invalid",
    "PROVINCE_APP_ID": "city-3301",
    "PROVINCE_SECRET": "p" * 40,
    "PROVINCE_VERIFY_SECRET": "v" * 40,
    "IDENTITY_PROVIDER": "http",
    "SMS_PROVIDER": "http",
    "FACE_PROVIDER": "http",
    "PROVIDER_BASE_URL": "https://idp.example.invalid",
    "PROVIDER_APP_KEY": "city-3301",
    "PROVIDER_APP_SECRET": "x" * 32,
    "OPS_TOKEN": "o" * 32,
    "RATELIMIT_STORAGE_URI": "redis://cache.invalid:6379/0",  # shared by the workers (never reached here)
}



REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def port_in(ports: range) -> int:
    """A port of ``ports`` on 127.0.0.1 that was free a moment ago (skips the test if none is)."""
    import socket

    import pytest

    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free port in {ports.start}-{ports.stop - 1}")


def start_nginx(tmp: Path, conf: Path, port: int) -> subprocess.Popen:
    """nginx running ``conf`` (from ``nginx_config``), once it accepts connections on ``port``."""
    import socket

    import pytest

    proxy = processes.start([NGINX, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proxy
        except OSError:
            if time.monotonic() > deadline or proxy.poll() is not None:
                stop_nginx(proxy)
                pytest.fail("nginx did not start with deploy/nginx.conf: "
                            + (tmp / "nginx-error.log").read_text(errors="replace")[-500:])
            time.sleep(0.05)


def stop_nginx(proxy: subprocess.Popen) -> None:
    """Stop nginx as its service does (SIGTERM), then kill whatever of its group is left."""
    if proxy.poll() is None:
        os.killpg(proxy.pid, signal.SIGTERM)
    try:
        proxy.wait(timeout=15)
    finally:
        processes.kill_group(proxy)


def env_file() -> dict[str, str]:
    """deploy/systemd/env as systemd's EnvironmentFile reads it (one pair of outer quotes removed)."""
    values = {}
    for line in (REPO / "deploy" / "systemd" / "env").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def nginx_config(tmp: Path, listen: int, upstream: int, *, tls: tuple[Path, Path] | None = None,
                 redirect_listen: int | None = None) -> Path:
    """A main nginx.conf in ``tmp`` that serves deploy/nginx.conf on 127.0.0.1:``listen`` in front
    of 127.0.0.1:``upstream``; run it with ``nginx -p tmp -c <returned path> -g 'daemon off;'``.

    Only addresses, ports, the static path and the certificate placeholders are rewritten. With
    ``tls`` (certificate chain, key) the main server speaks TLS on ``listen`` as shipped; without
    it, plain HTTP (the benches' way to measure the proxy alone). The port-80 redirect listens on
    ``redirect_listen`` (a free port when not given) and points at ``listen``."""
    site = (REPO / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{redirect_listen or free_port()};")
    site = site.replace("https://$host$request_uri", f"https://$host:{listen}$request_uri")
    if tls:
        site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen} ssl http2;")
        site = site.replace("/etc/erhc-h5/tls/fullchain.pem", str(tls[0]))
        site = site.replace("/etc/erhc-h5/tls/privkey.pem", str(tls[1]))
    else:
        site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen};")
        site = "\n".join(line for line in site.splitlines() if not line.strip().startswith("ssl_"))
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};")
    site = site.replace("/srv/erhc-h5/static/", f"{REPO / 'static'}/")
    (tmp / "site.conf").write_text(site, encoding="utf-8")
    # As a distribution's nginx.conf does: without the types, CSS is served as
    # application/octet-stream and a browser refuses to apply it.
    mime_types = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    main = f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    {mime_types}
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
"""
    path = tmp / "nginx.conf"
    path.write_text(main, encoding="utf-8")
    return path


def qr_texts(png_or_image) -> list[str]:
    """The texts of the QR codes in a picture (PNG bytes, a data URI or a PIL image), read by
    zxing-cpp, the real decoder, as a nurse's QR scanner reads: QR codes only. Unfiltered, zxing-cpp
    also tries linear formats and about one code face in 3,000 yields a second, false ITF reading
    among the QR modules."""
    import base64
    import io

    import zxingcpp
    from PIL import Image

    image = png_or_image
    if isinstance(image, str):
        image = base64.b64decode(image.split(",", 1)[1])
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    return [found.text for found in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def wait_until(predicate, timeout: float = 30.0, every: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def in_parallel_sessions(app, n: int, work, timeout: float = 120) -> list[BaseException]:
    """Run ``work(session)`` in ``n`` threads released together at a barrier, each in the app context
    with its own session (closed afterwards, never committed here); returns what the threads raised."""
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def one() -> None:
        with app.app_context():
            session = get_db(app).factory()
            try:
                start.wait(10)
                work(session)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                errors.append(exc)
            finally:
                session.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=5)



# Obviously fake people; their ID number is checked against GB 11643 in tests/test_factories.py.
IDENTITY = {"name": "测试甲", "id_card_type_code": "01", "idcode": "330106199003071236"}
PROFILE = {"nation": "01", "phone": "13800000001", "county_code": "330106", "current_address": "测试路1号",
           "linkman": "", "telephone": ""}



class Journey:
    """Walks a resident through the pages with the test client."""

    def __init__(self, client, db_session):
        self.client = client
        self.db = db_session

    def launch(self, uid: str = "user-1"):
        app = demo_app(self.db)
        return self.client.get(make_launch_url(app, uid, app.launch_secret))

    def consent(self):
        return self.client.post("/h5/consent", data={"agree": "y"})

    def identity(self, **changes):
        return self.client.post("/h5/identity", data={**IDENTITY, **changes})

    def profile(self, **changes):
        return self.client.post("/h5/profile", data={**PROFILE, **changes})

    def ready(self, uid: str = "user-1", identity: dict | None = None, profile: dict | None = None):
        self.launch(uid)
        self.consent()
        assert self.identity(**(identity or {})).status_code == 302
        response = self.profile(**(profile or {}))
        assert response.status_code == 302 and response.headers["Location"].endswith("/h5/methods"), \
            response.get_data(as_text=True)
        return response

    def vs(self):
        from erhc_h5.resident.models import VerificationSession

        with self.client.session_transaction() as cookie:
            vs_id = cookie["resident"]["vs"]
        self.db.expire_all()
        return self.db.get(VerificationSession, vs_id)



class Phone:
    """One resident's browser: its own cookie jar and address, launched through the demo app as ``uid``."""

    def __init__(self, app, db_session, demo: FiledApp, uid: str, ip: str = "127.0.0.1"):
        self.client, self.db, self.demo, self.uid = app.test_client(), db_session, demo, uid
        self.client.environ_base["REMOTE_ADDR"] = ip  # the source address the limits count by

    def start(self, identity: dict, profile: dict | None = None) -> None:
        assert self.client.get(make_launch_url(self.demo, self.uid, self.demo.launch_secret)).status_code == 302
        assert self.client.post("/h5/consent", data={"agree": "y"}).status_code == 302
        keys = ("name", "id_card_type_code", "idcode", "nationality")
        response = self.client.post("/h5/identity", data={k: identity[k] for k in keys if k in identity})
        assert response.status_code == 302, response.get_data(as_text=True)
        if response.headers["Location"].endswith("/h5/profile"):
            values = {"nation": "01", "phone": identity.get("phone", "13800000000"), "county_code": "330106",
                      "current_address": "某路1号", **(profile or {})}
            assert self.client.post("/h5/profile", data=values).headers["Location"].endswith("/h5/methods")

    def vs(self):
        from erhc_h5.resident.models import VerificationSession

        with self.client.session_transaction() as cookie:
            vs_id = cookie["resident"]["vs"]
        self.db.expire_all()
        return self.db.get(VerificationSession, vs_id)

    def code_text(self) -> str | None:
        """What the phone's code face shows, decoded by a real QR reader; None without a code."""
        response = self.client.get("/h5/code/token.json")
        if response.status_code != 200:
            return None
        found = qr_texts(response.get_json()["src"])
        assert len(found) <= 1, found
        return found[0] if found else None


class SourceAddress(requests.adapters.HTTPAdapter):
    """Connect from a given local address (any 127.0.0.0/8 address is this machine's loopback)."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


class Chain:
    """The city side and the sandbox province in one fresh app, the receiver on a live port."""

    def __init__(self, app, server):
        self.app = app
        self.server = server
        self.province_url = server.url + "/sandbox-province"
        self.bodies: list[bytes] = []  # every upload the receiver was sent, as it arrived
        self.answered = 0  # uploads the receiver has finished with
        self.made = 0

    def faults(self, **faults):
        set_faults(self.app, faults)

    def cards(self, n: int, methods: str = "2"):
        with self.app.app_context(), session_scope(self.app) as session:
            demo.seed(self.app, session)
            make_cards(session, demo_app(session), n, start=self.made, methods=methods)
        self.made += n

    def once(self, secret: str | None = None, clock=utcnow, **config) -> dict:
        """One worker pass; ``secret`` makes the client sign with another secret than the province's;
        ``clock`` is the worker's (naive UTC) clock."""
        self.app.config.update(config)
        client = ProvinceClient.from_config(self.app.config)
        if secret is not None:
            client.secret = secret
        return Worker(self.app, client=client, clock=clock).once()

    def books(self) -> dict:
        """Check the invariants and return figures: every version held at most once by the receiver,
        accepted versions exactly once, each version travelled in exactly one cd_batch."""
        import json

        travelled: dict[tuple, set] = {}
        for body in self.bodies:
            envelope = json.loads(body)
            for r in envelope["records"]:
                travelled.setdefault((r["id"], r["cd_time"], r["cd_operation"]), set()).add(envelope["cd_batch"])
        assert all(len(batches) == 1 for batches in travelled.values()), "a version travelled in two batches"
        with self.app.app_context(), session_scope(self.app) as session:
            held = session.execute(select(ProvinceRecord.record_id, ProvinceRecord.cd_time,
                                          ProvinceRecord.cd_operation, ProvinceRecord.cd_batch)).all()
            keys = [(a, b, c) for a, b, c, _ in held]
            assert len(keys) == len(set(keys)), "the receiver holds a version twice"
            rows = session.execute(
                select(AuthRecord.record_id, AuthRecord.cd_time, AuthRecord.cd_operation, OutboxEntry.state,
                       SyncBatch.cd_batch)
                .join(OutboxEntry, OutboxEntry.auth_record_id == AuthRecord.id)
                .outerjoin(SyncBatch, SyncBatch.id == OutboxEntry.batch_id)
            ).all()
            held_batch = {(a, b, c): d for a, b, c, d in held}
            for record_id, cd_time, op, state, cd_batch in rows:
                key = (record_id, cd_time, op)
                if state == "accepted":
                    assert held_batch.get(key) == cd_batch, "accepted version missing or under another batch"
                if key in travelled:
                    assert travelled[key] == {cd_batch}
            states = {}
            for *_, state, _ in rows:
                states[state] = states.get(state, 0) + 1
        return {"held": len(keys), "versions": len(rows), "states": states}

