"""Where one scan's CPU goes, in process: the scan API and the bare endpoint through the Flask test
client, with the parts of the scan timed by thread CPU time (no profiler overhead in the figures).

    flock /tmp/bench.lock .venv/bin/python bench/scan_profile.py [--postgres] [--requests 2000] [--cprofile]

Same data as bench/scan_load.py (fresh migrated database, demo seed, 200 authenticated residents,
one code each, rescanned round-robin by the demo device). Prints CPU ms per request for the whole
request, the view and its parts, and for /bench/bare; --cprofile adds cProfile's top entries.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scan_load import new_database, prepare  # noqa: E402
from tests.support import drop_database  # noqa: E402

SPENT: dict[str, float] = defaultdict(float)


def timing(original, label: str):
    """``original`` wrapped so that its thread CPU time adds to SPENT[label]."""

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[label] += time.thread_time() - started

    return wrapper


def timed(owner, name: str, label: str) -> None:
    """Replace owner.name by its timed wrapper."""
    setattr(owner, name, timing(getattr(owner, name), label))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="erhc-scanprof-"))
    db_url = new_database(tmp, args.postgres)
    env = {"ERHC_DATABASE_URL": db_url, "ERHC_SECRET_KEY": "bench-" + secrets.token_hex(8),
           "ERHC_LOG_LEVEL": "WARNING", "ERHC_RATELIMIT_ENABLED": "false"}
    try:
        token, codes = prepare(env)
        os.environ.update(env)
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool.base import _ConnectionFairy

        import bench.scan_wsgi as wsgi
        from erhc_h5.scan import sql, views
        from erhc_h5.security.pii import Keyring

        app = wsgi.app
        for owner, name, label in [(views, "check", "check (signature, key, window)"),
                                   (views, "record", "record (verdict + statements)"),
                                   (sql.Statement, "run", "  driver statements"),
                                   (Keyring, "decrypt", "  decrypt name, ID number"),
                                   (views.devices, "lookup", "device (cached)"),
                                   (views, "jsonify", "jsonify"),
                                   (Engine, "raw_connection", "pool checkout"),
                                   (_ConnectionFairy, "close", "pool checkin")]:
            timed(owner, name, label)
        views_by_endpoint = app.view_functions
        views_by_endpoint["scan.api_scan"] = timing(views_by_endpoint["scan.api_scan"], "view (limiter decorator included)")
        client = app.test_client()
        headers = {"Authorization": "Bearer " + token}

        def scans(n: int) -> None:
            for i in range(n):
                answer = client.post("/api/v1/scan", json={"code": codes[i % len(codes)]}, headers=headers)
                assert answer.status_code == 200, answer.status_code

        def bares(n: int) -> None:
            for _ in range(n):
                client.get("/bench/bare")

        scans(300)
        bares(300)
        SPENT.clear()
        n = args.requests
        started = time.thread_time()
        scans(n)
        scan_ms = (time.thread_time() - started) * 1000 / n
        parts = dict(SPENT)
        started = time.thread_time()
        bares(n)
        bare_ms = (time.thread_time() - started) * 1000 / n
        print(f"database {'postgresql' if args.postgres else 'sqlite'}, {n} requests each, CPU ms per request "
              f"(thread time), load average {os.getloadavg()[0]:.1f}")
        print(f"scan request (test client, whole): {scan_ms:.3f}")
        for label, spent in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"  {label:36s} {spent * 1000 / n:.3f}")
        print(f"bare request (test client, whole): {bare_ms:.3f}")
        print(f"in-process ratio bare/scan: {bare_ms / scan_ms:.0%}")
        if args.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            scans(n)
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    finally:
        wsgi = sys.modules.get("bench.scan_wsgi")
        if wsgi is not None:
            from erhc_h5.db import get_db

            get_db(wsgi.app).engine.dispose()
        drop_database(db_url)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
