"""Soak: steady resident journeys and scans at a fixed arrival rate for minutes; is p95 flat, is memory flat?

    .venv/bin/python bench/soak.py [--minutes 10] [--journeys-per-s 3] [--scans-per-s 30] [--workers N]

One run: a fresh migrated PostgreSQL database (bench/journey_load.py's setup), the demo app seeded
with 200 residents holding a card each, gunicorn started with gunicorn.conf.py's settings (rate
limits off: every virtual resident shares 127.0.0.1). First the generator alone: GET /healthz at the
same request rate as the soak (a benchmark's client must not be its bottleneck). Then, for
``--minutes``, journeys start at a fixed rate (journey_load's ``Phone`` and steps, each request
timed) and scans are POSTed to /api/v1/scan at a fixed rate, with codes reissued every 30 s (a code
lives 60 s). Arrivals do not wait for answers, so a slower server shows as latency, not as a lower
rate. Per minute: requests, p50/p95 of resident requests, p95 of whole journeys and of scans,
errors, RSS of the gunicorn master and of each worker, and the row counts of the tables that grew.
At the end the ratio p95 of the last 3 minutes / the first 3 and the RSS growth; the last line is
JSON; exit status 1 on any error.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import journey_load  # noqa: E402
from bench.journey_load import CLIENT_ERRORS, Phone, Upstream, journey  # noqa: E402
from bench.scan_load import RESIDENTS, _children, clean_up, free_port, new_database, seeded  # noqa: E402
from tests.factories import person  # noqa: E402

GROWING = ("scan_events", "scan_token_claims", "audit_log", "launch_nonces", "verification_sessions",
           "verification_events", "ehealth_cards", "app_users", "auth_records", "code_card_refs",
           "outbox_entries", "rate_counters", "province_verify_nonces")


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)]


class Recorder:
    """Samples (finished at, seconds) per kind, and error messages, from every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.samples: dict[str, list[tuple[float, float]]] = {"request": [], "journey": [], "scan": []}
        self.errors: list[tuple[float, str]] = []

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.samples[kind].append((time.perf_counter(), seconds))

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append((time.perf_counter(), message[:160]))

    def window(self, kind: str, start: float, end: float) -> list[float]:
        with self.lock:
            return [s for t, s in self.samples[kind] if start <= t < end]

    def errors_in(self, start: float, end: float) -> list[str]:
        with self.lock:
            return [m for t, m in self.errors if start <= t < end]


RECORDER = Recorder()


class TimedPhone(Phone):
    """journey_load's Phone, each request (a redirect followed counts as its own request) timed."""

    def _send(self, method, url, body):
        began = time.perf_counter()
        reply = Phone._send(self, method, url, body)
        RECORDER.add("request", time.perf_counter() - began)
        return reply


journey_load.CLIENTS["timed"] = TimedPhone


def prepare(env: dict) -> dict:
    """Migrate and seed: the demo app's filing number and launch secret, the demo device's token and
    RESIDENTS card ids to issue scan codes for."""
    from erhc_h5.cards.service import issue_or_update_card

    with seeded(env) as (seed, session, filed):
        cards = []
        for i in range(RESIDENTS):
            card = issue_or_update_card(session, person(500_000 + i), filed, methods="2")
            session.flush()
            cards.append(card.id)
        session.commit()
        return {"filing_no": filed.app_filing_no, "secret": filed.launch_secret,
                "device_token": seed["device_token"], "cards": cards}


class Codes:
    """Fresh codes for the bench cards, reissued every 30 s by a thread of their own."""

    def __init__(self, cards: list[int]):
        from erhc_h5 import create_app

        self.app, self.cards, self.codes, self.stopped = create_app(), cards, [], threading.Event()
        self.refresh()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def refresh(self) -> None:
        from erhc_h5.code import tokens
        from erhc_h5.db import session_scope

        with self.app.app_context(), session_scope(self.app) as session:
            codes = [tokens.issue(session, cid).text for cid in self.cards]
            session.commit()
        self.codes = codes

    def _loop(self) -> None:
        while not self.stopped.wait(30):
            try:
                self.refresh()
            except Exception as exc:  # a failed refresh shows as expired-code errors, recorded there
                RECORDER.error(f"code refresh: {type(exc).__name__}")

    def pick(self, i: int) -> str:
        codes = self.codes
        return codes[i % len(codes)]


def scan(upstream: Upstream, token: str, code: str) -> None:
    conn = upstream.take()
    began = time.perf_counter()
    try:
        conn.request("POST", "/api/v1/scan", body=json.dumps({"code": code}).encode(),
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        answer = conn.getresponse()
        payload = answer.read()
    except BaseException:
        conn.close()
        raise
    upstream.give_back(conn, not answer.will_close)
    if answer.status != 200:
        raise journey_load.Failed(f"scan → {answer.status} {payload[:80]!r}")
    RECORDER.add("scan", time.perf_counter() - began)


def healthz(upstream: Upstream) -> None:
    conn = upstream.take()
    began = time.perf_counter()
    try:
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        answer.read()
    except BaseException:
        conn.close()
        raise
    upstream.give_back(conn, not answer.will_close)
    if answer.status != 200:
        raise journey_load.Failed(f"healthz → {answer.status}")
    RECORDER.add("request", time.perf_counter() - began)


def arrivals(rate: float, until: float, pool: ThreadPoolExecutor, task) -> threading.Thread:
    """A thread submitting task(i) at ``rate`` per second until ``until`` (perf_counter), on schedule:
    a late answer does not delay the next arrival."""

    def guarded(i: int) -> None:
        try:
            task(i)
        except CLIENT_ERRORS as exc:
            RECORDER.error(str(exc))

    def loop() -> None:
        start, i = time.perf_counter(), 0
        while True:
            due = start + i / rate
            if due >= until:
                return
            time.sleep(max(0.0, due - time.perf_counter()))
            pool.submit(guarded, i)
            i += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def row_counts(db_url: str) -> dict[str, int]:
    """Rows of the growing tables; beside them the dead row versions of all tables (what vacuum has
    not reclaimed yet) and the server's checkpoints so far (a checkpoint's writes slow every request)."""
    import psycopg

    counts = {}
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for table in GROWING:
            try:
                counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except psycopg.Error:
                pass
        counts["dead_rows"] = conn.execute("SELECT coalesce(sum(n_dead_tup), 0)::bigint FROM pg_stat_user_tables").fetchone()[0]
        counts["checkpoints"] = conn.execute(
            "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").fetchone()[0]
    return counts


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def bare_check(upstream: Upstream, rate: float, seconds: float) -> dict:
    """The generator alone: /healthz at the soak's request rate, through the same pool and threads."""
    cpu, began = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        arrivals(rate, began + seconds, pool, lambda i: healthz(upstream)).join()
    wall = time.perf_counter() - began
    done = RECORDER.window("request", began, time.perf_counter())
    errors = RECORDER.errors_in(began, time.perf_counter())
    with RECORDER.lock:
        RECORDER.samples["request"].clear()
    return {"rate": rate, "requests": len(done), "errors": len(errors), "p50_ms": ms(nearest_rank(done, 0.5)),
            "p95_ms": ms(nearest_rank(done, 0.95)), "client_core_share": round((time.process_time() - cpu) / wall, 2)}


def minute_row(m: int, start: float, master: int, db_url: str, cpu: float) -> dict:
    lo, hi = start + m * 60, start + (m + 1) * 60
    requests_, journeys, scans = (RECORDER.window(k, lo, hi) for k in ("request", "journey", "scan"))
    return {"minute": m, "requests": len(requests_) + len(scans), "journeys": len(journeys), "scans": len(scans),
            "request_p50_ms": ms(nearest_rank(requests_, 0.5)), "request_p95_ms": ms(nearest_rank(requests_, 0.95)),
            "journey_p95_ms": ms(nearest_rank(journeys, 0.95)), "scan_p95_ms": ms(nearest_rank(scans, 0.95)),
            "errors": len(RECORDER.errors_in(lo, hi)), "error_samples": sorted(set(RECORDER.errors_in(lo, hi)))[:3],
            "rss_master_mb": rss_mb(master), "rss_workers_mb": [rss_mb(w) for w in _children(master)],
            "rows": row_counts(db_url), "client_core_share": round(cpu, 2), "load1": round(os.getloadavg()[0], 2)}


def soak(base: str, setup: dict, args, master: int, db_url: str) -> list[dict]:
    upstream = Upstream(base, "pool")
    codes = Codes(setup["cards"])
    start = time.perf_counter()
    until = start + args.minutes * 60

    def one_journey(i: int) -> None:
        began = time.perf_counter()
        journey(base, setup["filing_no"], setup["secret"], i, "timed", upstream)
        RECORDER.add("journey", time.perf_counter() - began)

    rows = []
    with ThreadPoolExecutor(max_workers=64) as journeys_pool, ThreadPoolExecutor(max_workers=32) as scans_pool:
        arrivals(args.journeys_per_s, until, journeys_pool, one_journey)
        arrivals(args.scans_per_s, until, scans_pool, lambda i: scan(upstream, setup["device_token"], codes.pick(i)))
        for m in range(args.minutes):
            cpu_before = time.process_time()
            time.sleep(max(0.0, start + (m + 1) * 60 + 5 - time.perf_counter()))  # 5 s for stragglers
            row = minute_row(m, start, master, db_url, (time.process_time() - cpu_before) / 60)
            rows.append(row)
            print(format_row(row), flush=True)
    codes.stopped.set()
    return rows


def format_row(r: dict) -> str:
    grown = " ".join(f"{k}={v}" for k, v in r["rows"].items() if v)
    return (f"min {r['minute']:2d}  req {r['requests']:5d}  p50 {r['request_p50_ms']} ms  p95 {r['request_p95_ms']} ms  "
            f"journey p95 {r['journey_p95_ms']} ms ({r['journeys']})  scan p95 {r['scan_p95_ms']} ms ({r['scans']})  "
            f"errors {r['errors']}  RSS master {r['rss_master_mb']} MB workers {r['rss_workers_mb']} MB  "
            f"client {r['client_core_share']:.0%} core  load {r['load1']}  rows {grown}"
            + "".join(f"\n    error: {e}" for e in r["error_samples"]))


def ratio(rows: list[dict], key: str) -> float | None:
    first = [r[key] for r in rows[:3] if r[key]]
    last = [r[key] for r in rows[-3:] if r[key]]
    if not first or not last:
        return None
    return round((sum(last) / len(last)) / (sum(first) / len(first)), 3)


def summary(rows: list[dict]) -> dict:
    workers_first, workers_last = sum(rows[0]["rss_workers_mb"]), sum(rows[-1]["rss_workers_mb"])
    return {"p95_ratio_last3_first3": {k: ratio(rows, k) for k in ("request_p95_ms", "journey_p95_ms", "scan_p95_ms")},
            "rss_workers_mb_first_last": [round(workers_first, 1), round(workers_last, 1)],
            "rss_workers_growth": round(workers_last / workers_first - 1, 3) if workers_first else None,
            "rss_master_mb_first_last": [rows[0]["rss_master_mb"], rows[-1]["rss_master_mb"]],
            "errors": sum(r["errors"] for r in rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--journeys-per-s", type=float, default=3.0)
    parser.add_argument("--scans-per-s", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None, help="default: gunicorn.conf.py's (2 x cores)")
    parser.add_argument("--server-log", help="append gunicorn's stderr (tracebacks) to this file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="erhc-soak-"))
    db_url = new_database(tmp, True)
    env = {"ERHC_DATABASE_URL": db_url, "ERHC_SECRET_KEY": "bench-" + secrets.token_hex(8),
           "ERHC_LOG_LEVEL": "WARNING", "ERHC_RATELIMIT_ENABLED": "false"}
    port = free_port()
    server = None
    try:
        setup = prepare(env)
        gunicorn_env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        if args.workers:
            gunicorn_env["GUNICORN_WORKERS"] = str(args.workers)
        server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "app:app"], cwd=ROOT,
                                  env=gunicorn_env, stdout=subprocess.DEVNULL,
                                  stderr=open(args.server_log, "a") if args.server_log else subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        warm = Upstream(base, "pool")
        for n in range(4):  # warm-up: every worker imports and compiles before anything is measured
            journey(base, setup["filing_no"], setup["secret"], 900_000 + n, "phone", warm)
        bare_check(warm, 20, 5)
        rate = args.journeys_per_s * journey_load.REQUESTS_PER_JOURNEY + args.scans_per_s
        ceiling = bare_check(Upstream(base, "pool"), rate, 20)
        print(f"bare /healthz at {rate:.0f} requests/s for 20 s: p50 {ceiling['p50_ms']} ms  p95 {ceiling['p95_ms']} ms  "
              f"errors {ceiling['errors']}  client {ceiling['client_core_share']:.0%} of one core", flush=True)
        workers = _children(server.pid)
        print(f"gunicorn -c gunicorn.conf.py: master {server.pid}, workers {workers}; "
              f"{args.journeys_per_s} journeys/s + {args.scans_per_s} scans/s for {args.minutes} min", flush=True)
        rows = soak(base, setup, args, server.pid, db_url)
    finally:
        clean_up(server, db_url, tmp)
    result = {"minutes": args.minutes, "journeys_per_s": args.journeys_per_s, "scans_per_s": args.scans_per_s,
              "bare": ceiling, **summary(rows), "per_minute": [{k: v for k, v in r.items() if k != "error_samples"}
                                                               for r in rows]}
    print(f"p95 last 3 min / first 3 min: {result['p95_ratio_last3_first3']}; workers' RSS "
          f"{result['rss_workers_mb_first_last'][0]} → {result['rss_workers_mb_first_last'][1]} MB "
          f"({result['rss_workers_growth']:+.1%}); master {result['rss_master_mb_first_last']} MB; errors {result['errors']}")
    print(json.dumps(result, ensure_ascii=False))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
