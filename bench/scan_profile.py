"""Where one scan's CPU goes, in process: the scan API and the bare endpoint through the Flask test
client, with the parts of the scan timed by thread CPU time (no profiler overhead in the figures).

    flock /tmp/bench.lock .venv/bin/python bench/scan_profile.py [--postgres] [--requests 2000] [--cprofile]
    flock /tmp/bench.lock .venv/bin/python bench/scan_profile.py --revocation-ab [--blocks 40]

Same data as bench/scan_load.py (fresh migrated database, demo seed, 200 authenticated residents,
one code each, rescanned round-robin by the demo device). Prints CPU ms per request for the whole
request, the view and its parts, and for /bench/bare; --cprofile adds cProfile's top entries.

--revocation-ab measures what the per-scan revocation check costs, in a way a busy shared machine
cannot blur: blocks of scans alternate between the check as built (the counter read in the scan's
transaction) and the check removed (the counter taken from the process's memory, no statement),
in one process, so both see the same load; it prints each side's median CPU ms per scan and the
throughput the check costs (CPU-bound: 1 − removed/built).
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


def revocation_ab(scans, blocks: int, block: int) -> int:
    """Alternate blocks of ``block`` scans with the revocation check built and removed; print the
    median CPU ms per scan of each side and the share of throughput the check costs."""
    import statistics

    from erhc_h5.scan.sql import ScanStatements
    from erhc_h5.security import revocation

    original = ScanStatements.revocation_version
    inside = [0.0, 0]

    def built(self, cursor) -> int:
        started = time.thread_time()
        try:
            return original(self, cursor)
        finally:
            inside[0] += time.thread_time() - started
            inside[1] += 1

    def removed(self, cursor) -> int:
        return revocation.known()

    per_scan: dict[str, list[float]] = {"built": [], "removed": []}
    for i in range(2 * blocks):
        side = "built" if i % 4 in (0, 3) else "removed"  # ABBA: neither side always goes first
        ScanStatements.revocation_version = built if side == "built" else removed
        started = time.thread_time()
        scans(block)
        per_scan[side].append((time.thread_time() - started) * 1000 / block)
    ScanStatements.revocation_version = original
    with_check, without = statistics.median(per_scan["built"]), statistics.median(per_scan["removed"])
    pairs = list(zip(per_scan["built"], per_scan["removed"]))
    wins = sum(b > r for b, r in pairs)
    paired = statistics.median(b - r for b, r in pairs)
    print(f"revocation check A/B: {blocks} blocks of {block} scans per side, alternating, load average {os.getloadavg()[0]:.1f}")
    print(f"CPU ms per scan, median: with the check {with_check:.3f}, without {without:.3f} "
          f"({with_check - without:+.3f} ms); per neighbouring pair of blocks, median {paired:+.3f} ms "
          f"({paired / with_check:+.1%}); the block with the check cost more in {wins} of {blocks} pairs")
    print(f"throughput cost of the check (CPU-bound): {1 - without / with_check:.1%}; the counter's statement "
          f"alone: {inside[0] * 1000 / max(inside[1], 1):.4f} ms per scan, {inside[0] / max(inside[1], 1) / (with_check / 1000):.1%} of a scan")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--revocation-ab", action="store_true", help="alternate scans with and without the revocation check")
    parser.add_argument("--blocks", type=int, default=40, help="--revocation-ab: blocks per side")
    parser.add_argument("--block", type=int, default=100, help="--revocation-ab: scans per block")
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
                assert answer.status_code == 200, (answer.status_code, answer.json.get("error"))

        def bares(n: int) -> None:
            for _ in range(n):
                client.get("/bench/bare")

        scans(300)
        bares(300)
        if args.revocation_ab:
            return revocation_ab(scans, args.blocks, args.block)
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
