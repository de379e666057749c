"""Where one scan's CPU goes, in process: the scan API and the bare endpoint through the Flask test
client, with the parts of the scan timed by thread CPU time (no profiler overhead in the figures).

    flock /tmp/bench.lock .venv/bin/python bench/scan_profile.py [--postgres] [--requests 2000] [--cprofile]
    flock /tmp/bench.lock .venv/bin/python bench/scan_profile.py --revocation-ab [--blocks 40]

Same data as bench/scan_load.py (fresh migrated database, demo seed, 200 authenticated residents,
one code each, rescanned round-robin by the demo device). Prints CPU ms per request for the whole
request, the view and its parts, and for /bench/bare; --cprofile adds cProfile's top entries.

--revocation-ab measures what the per-scan revocation check costs, in a way a busy shared machine
cannot blur: blocks of scans alternate between the check as built (the counter read by the scan's
card statement) and the check removed (the card statement without it, the counter taken from the
process's memory), in one process, so both see the same load; it prints each side's median CPU ms
per scan and the throughput the check costs (CPU-bound: 1 − removed/built).
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


def revocation_ab(scans, dialect, blocks: int, block: int) -> int:
    """Alternate blocks of ``block`` scans with the revocation check built and removed; print the
    median CPU ms per scan of each side and the share of throughput the check costs."""
    import statistics

    from erhc_h5.scan import sql
    from erhc_h5.security import revocation

    statements = sql.ScanStatements
    built = {"card_and_counter": statements.card_and_counter, "revocation_version": statements.revocation_version}
    plain_card = sql._compile(sql.card_select(with_counter=False), dialect)
    inside = {"built": [0.0, 0], "removed": [0.0, 0]}

    def card_and_counter(self, cursor, ref, fp):
        return built["card_and_counter"](self, cursor, ref, fp)

    def card_only(self, cursor, ref, fp):  # the card statement as it was before the counter joined it
        row = plain_card.run(cursor, {"ref": ref, "fp": fp}).fetchone()
        return (None if row is None else self._card_row(row)), revocation.known()

    def timed_on(side: str, fn):
        def wrapper(*args):
            started = time.thread_time()
            try:
                return fn(*args)
            finally:
                inside[side][0] += time.thread_time() - started
                inside[side][1] += 1
        return wrapper

    sides = {"built": {"card_and_counter": timed_on("built", card_and_counter),
                       "revocation_version": built["revocation_version"]},
             "removed": {"card_and_counter": timed_on("removed", card_only),
                         "revocation_version": lambda self, cursor: revocation.known()}}
    per_scan: dict[str, list[float]] = {"built": [], "removed": []}
    for i in range(2 * blocks):
        side = "built" if i % 4 in (0, 3) else "removed"  # ABBA: neither side always goes first
        for name, fn in sides[side].items():
            setattr(statements, name, fn)
        started = time.thread_time()
        scans(block)
        per_scan[side].append((time.thread_time() - started) * 1000 / block)
    for name, fn in built.items():
        setattr(statements, name, fn)
    with_check, without = statistics.median(per_scan["built"]), statistics.median(per_scan["removed"])
    pairs = list(zip(per_scan["built"], per_scan["removed"]))
    wins = sum(b > r for b, r in pairs)
    paired = statistics.median(b - r for b, r in pairs)
    card_ms = {side: spent * 1000 / max(n, 1) for side, (spent, n) in inside.items()}
    print(f"revocation check A/B: {blocks} blocks of {block} scans per side, alternating, load average {os.getloadavg()[0]:.1f}")
    print(f"CPU ms per scan, median: with the check {with_check:.3f}, without {without:.3f} "
          f"({with_check - without:+.3f} ms); per neighbouring pair of blocks, median {paired:+.3f} ms "
          f"({paired / with_check:+.1%}); the block with the check cost more in {wins} of {blocks} pairs")
    print(f"throughput cost of the check (CPU-bound): {1 - without / with_check:.1%}; the card statement with the "
          f"counter {card_ms['built']:.4f} ms, without {card_ms['removed']:.4f} ms "
          f"({(card_ms['built'] - card_ms['removed']) / with_check:+.1%} of a scan)")
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
            from erhc_h5.db import get_db

            return revocation_ab(scans, get_db(app).engine.dialect, args.blocks, args.block)
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
