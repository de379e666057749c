"""Private PostgreSQL clusters for the fault tests: one the test can stop, or one on a disk it can
fill, and an app warmed up on it."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from erhc_h5 import migrate
from erhc_h5.sandbox import demo
from erhc_h5.db import get_db, session_scope
from tests.code.helpers import resident_cookie
from tests.factories import make_card
from tests.support import free_port, make_app, qr_texts

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def as_postgres(*args: str) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + list(args), capture_output=True, text=True, timeout=120)


def private_cluster(disk_mb: int | None = None):
    """A private PostgreSQL cluster: {"url", "stop", "home"}; with ``disk_mb``, its data folder on a
    tmpfs of that size (a disk that can be filled). A generator: the cluster is removed after it."""
    if not BINARIES or os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs PostgreSQL's server binaries and root (to run them as postgres)")
    bindir = os.path.dirname(BINARIES[-1])
    home = Path(tempfile.mkdtemp(prefix="erhc-pg-"))  # not under pytest's root-only folders
    if disk_mb is not None:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={disk_mb}m", "tmpfs", str(home)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            shutil.rmtree(home, ignore_errors=True)
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    data = home / "pg"
    data.mkdir()
    shutil.chown(home, "postgres")
    shutil.chown(data, "postgres")
    port = free_port()
    done = as_postgres(f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    assert done.returncode == 0, done.stderr[-2000:]
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    done = as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start")
    assert done.returncode == 0, done.stderr[-2000:]
    server = {"url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", "home": home,
              "stop": lambda: as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")}
    try:
        yield server
    finally:
        server["stop"]()
        if disk_mb is not None:
            subprocess.run(["umount", "-l", str(home)], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)



def warmed(private_pg):
    """An app on ``private_pg`` with the demo seeded, a resident's cookie and the pool and caches warm:
    (app, client, resident client, the device's auth header, a code already scanned)."""
    app = make_app(private_pg["url"], DATABASE_RETRY_AFTER_SECONDS=11)
    migrate.upgrade(app)
    with app.app_context(), session_scope(app) as session:
        seeded = demo.seed(app, session)
        _card, user, _identity = make_card(session, seeded, bind="stopped-db")
        cookie = resident_cookie(user.id, user.app_id, user.session_version)
    client, resident = app.test_client(), app.test_client()
    with resident.session_transaction() as sess:
        sess["resident"] = cookie
    auth = {"Authorization": f"Bearer {seeded['device_token']}"}
    for _ in range(3):  # the pool holds live connections, the caches are warm
        code = qr_texts(resident.get("/h5/code/token.json").get_json()["src"])[0]
        assert client.post("/api/v1/scan", json={"code": code}, headers=auth).status_code == 200
        assert client.get("/readyz").status_code == 200
    try:
        yield app, client, resident, auth, code
    finally:
        get_db(app).engine.dispose()
