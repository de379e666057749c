"""Soak: steady resident journeys and scans at a fixed arrival rate for minutes; is p95 flat, is memory flat?

    .venv/bin/python bench/soak.py [--minutes 10] [--journeys-per-s 3] [--scans-per-s 30] [--workers N]
                                   [--layout production --redis redis://127.0.0.1:6379/N] [--sync-workers 1]

One run: a fresh migrated PostgreSQL database (bench/journey_load.py's setup), the demo app seeded
with 200 residents holding a card each, gunicorn started with gunicorn.conf.py's settings (rate
limits off: every virtual resident shares 127.0.0.1). First the generator alone: GET /healthz at the
same request rate as the soak (a benchmark's client must not be its bottleneck). Then, for
``--minutes``, journeys start at a fixed rate (journey_load's ``Phone`` and steps, each request
timed) and scans are POSTed to /api/v1/scan at a fixed rate, with codes reissued every 30 s (a code
lives 60 s). Arrivals do not wait for answers, so a slower server shows as latency, not as a lower
rate. Per minute: requests, p50/p95 of resident requests, p95 of whole journeys and of scans,
errors, RSS of the gunicorn master and of each worker, and the row counts of the tables that grew.
Beside them, in the same minutes and by the same client, a control: GET on a bare WSGI answer in a
process of its own (bench/control_wsgi.py) at ``--control-per-s``, and how late the client started
each arrival (its own lag). Machine noise (other work on the shared cores, the client's threads)
slows the control as much as the app; the app's own drift does not. The server's checkpoints and
autovacuum runs are counted per minute (pg_stat_bgwriter, pg_stat_user_tables).

``--layout production`` runs what a city runs beside gunicorn: rate limits on, counted in Redis
(``--redis``; each virtual resident has its own address, passed as one proxy hop would pass it,
ERHC_TRUSTED_PROXIES=1), four scan devices sharing the scans (each under the scan API's per-device
limit), and ``--sync-workers`` `flask sync run` processes uploading every new record to the sandbox
province on the same gunicorn.

The load runs ``--warmup-minutes`` before the measured minutes begin (default: one
checkpoint_timeout and a minute more), so both ends are compared in the database's steady state:
a freshly created database has had no timed checkpoint yet, and the first one's start (every page
touched after it is written whole to the WAL) falls into the first minutes only by chance. The
compared windows are as long as checkpoint_timeout (``--window-minutes``; at least 3, at most half
the run), so each holds one checkpoint cycle, whatever its phase.

At the end the ratio p95 of the last window / the first, raw and divided by the control's own
ratio, beside it the last 3 minutes / the first 3 and a trend (Theil-Sen: the median slope over
every pair of minutes, which one bad minute cannot move, times the run's length, over the median),
and the RSS growth. Where the server has pg_stat_statements loaded, the database's own time per
scan and per resident request each minute (what the statements cost inside PostgreSQL, so a
growing table or index would show there first). A minute is noise when the control's p95 is over
3x its quietest p95 (measured alone before the soak, or its best minute), the client started its
arrivals over 50 ms late (p95), or work outside the soak's own processes (this client, gunicorn, the
control, the sync workers, a local PostgreSQL server; read from /proc) took over a quarter of a
core: on two shared cores that slows the app well before it slows a bare answer threefold. The verdict is
"inconclusive (machine noise)" (exit status 2) when one of the compared minutes is noise; else
"flat" when the raw window ratio of every kind is within 10 % (and memory within 5 %), "flat beside the
control" when only the ratio relative to the control is (exit status 0 for both), else "drift"
(or "errors"; exit status 1). The last line is JSON.
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
from bench.scan_load import RESIDENTS, TICK, _children, _proc_cpu, clean_up, free_port, new_database, seeded  # noqa: E402
from tests.factories import person  # noqa: E402

FLAT_P95, FLAT_RSS = 1.10, 0.05  # the soak's targets: p95 last 3 min / first 3 min, workers' RSS growth
SCAN_DEVICES = 4  # the production layout's scanners: 30 scans/s stay under 600/min each (scan/views.py)
# The soak's own statements begin with this comment, so its counts of growing tables are not taken for
# the app's (pg_stat_statements keeps the text of a statement's first run, and the app runs none of them).
OWN = "/* soak */"
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
        self.samples: dict[str, list[tuple[float, float]]] = {"request": [], "journey": [], "scan": [],
                                                               "control": [], "lag": []}
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


CURRENT = threading.local()  # the address of the virtual resident whose journey this thread runs


def address(n: int) -> str:
    """One client address per virtual resident (10.0.0.0/8), as the proxy would pass it."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class TimedPhone(Phone):
    """journey_load's Phone, each request (a redirect followed counts as its own request) timed."""

    def __init__(self, upstream):
        super().__init__(upstream)
        if getattr(CURRENT, "address", None):
            self.extra_headers["X-Forwarded-For"] = CURRENT.address

    def _send(self, method, url, body):
        began = time.perf_counter()
        reply = Phone._send(self, method, url, body)
        RECORDER.add("request", time.perf_counter() - began)
        return reply


journey_load.CLIENTS["timed"] = TimedPhone


def prepare(env: dict, devices: int = 1) -> dict:
    """Migrate and seed: the demo app's filing number and launch secret, ``devices`` scan device tokens
    (the demo device's first) and RESIDENTS card ids to issue scan codes for."""
    from erhc_h5.cards.service import issue_or_update_card
    from erhc_h5.scan.devices import enrol_device

    with seeded(env) as (seed, session, filed):
        cards = []
        for i in range(RESIDENTS):
            card = issue_or_update_card(session, person(500_000 + i), filed, methods="2")
            session.flush()
            cards.append(card.id)
        tokens = [seed["device_token"]] + [enrol_device(session, f"压测扫码枪{n}", "示范社区卫生服务中心接种点")[1]
                                           for n in range(2, devices + 1)]
        session.commit()
        return {"filing_no": filed.app_filing_no, "secret": filed.launch_secret,
                "device_tokens": tokens, "cards": cards}


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


def _exchange(upstream: Upstream, kind: str, method: str, path: str, body: bytes | None = None,
              headers: dict | None = None) -> None:
    """One request through the pool, timed as ``kind``; anything but 200 is an error."""
    conn = upstream.take()
    began = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        payload = answer.read()
    except BaseException:
        conn.close()
        raise
    upstream.give_back(conn, not answer.will_close)
    if answer.status != 200:
        raise journey_load.Failed(f"{kind} {path} → {answer.status} {payload[:80]!r}")
    RECORDER.add(kind, time.perf_counter() - began)


def scan(upstream: Upstream, token: str, code: str, forwarded_for: str = "") -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    _exchange(upstream, "scan", "POST", "/api/v1/scan", json.dumps({"code": code}).encode(), headers)


def timed_get(upstream: Upstream, path: str, kind: str) -> None:
    """GET ``path`` through the pool, timed as ``kind``; anything but 200 is an error."""
    _exchange(upstream, kind, "GET", path)


def control(upstream: Upstream) -> None:
    """GET the bare control server (bench/control_wsgi.py), timed as "control"."""
    timed_get(upstream, "/", "control")


def healthz(upstream: Upstream) -> None:
    timed_get(upstream, "/healthz", "request")


def arrivals(rate: float, until: float, pool: ThreadPoolExecutor, task, start: float | None = None,
             lag: bool = False) -> threading.Thread:
    """A thread submitting task(i) at ``rate`` per second until ``until`` (perf_counter), on schedule:
    a late answer does not delay the next arrival. ``lag``: record how late the thread woke for each
    arrival (the client's own delay: the interpreter's lock, the cores it shares), not the wait for a
    free pool thread, which a slow server causes."""

    def guarded(i: int) -> None:
        try:
            task(i)
        except CLIENT_ERRORS as exc:
            RECORDER.error(str(exc))

    first = time.perf_counter() if start is None else start

    def loop() -> None:
        i = 0
        while True:
            due = first + i / rate
            if due >= until:
                return
            time.sleep(max(0.0, due - time.perf_counter()))
            if lag:
                RECORDER.add("lag", time.perf_counter() - due)
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
                counts[table] = conn.execute(f"{OWN} SELECT count(*) FROM {table}").fetchone()[0]
            except psycopg.Error:
                pass
        try:  # what the sync workers have not had accepted yet (--layout production uploads as it goes)
            counts["outbox_not_accepted"] = conn.execute(
                f"{OWN} SELECT count(*) FROM outbox_entries WHERE state <> 'accepted'").fetchone()[0]
        except psycopg.Error:
            pass
        counts["dead_rows"] = conn.execute("SELECT coalesce(sum(n_dead_tup), 0)::bigint FROM pg_stat_user_tables").fetchone()[0]
        counts["autovacuums"] = conn.execute(
            "SELECT coalesce(sum(autovacuum_count), 0)::bigint FROM pg_stat_user_tables").fetchone()[0]
        # Timed checkpoints come every checkpoint_timeout; requested ones when WAL reaches max_wal_size, or
        # for any CREATE DATABASE / DROP DATABASE on the server (other work on a shared server does those).
        timed, requested, buffers, write_ms = conn.execute(
            "SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, checkpoint_write_time::bigint"
            " FROM pg_stat_bgwriter").fetchone()
        counts.update(checkpoints_timed=timed, checkpoints_req=requested, checkpoint_buffers=buffers,
                      checkpoint_write_ms=write_ms)
    return counts


SERVER_WIDE = ("checkpoints_timed", "checkpoints_req", "checkpoint_buffers", "checkpoint_write_ms", "autovacuums")


# The scan's statements, told apart by the tables only they touch (scan/sql.py): the card by its code
# reference, the claim and the event.
SCAN_TABLES = ("scan_token_claims", "scan_events", "code_card_refs.ref")


def statement_costs(db_url: str) -> dict | None:
    """This database's statements so far as pg_stat_statements counts them (None where the server does
    not load it): execution ms and calls of the scan's statements, and of all the others."""
    import psycopg

    like = " OR ".join("query LIKE %s" for _ in SCAN_TABLES)
    try:
        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            row = conn.execute(
                f"SELECT coalesce(sum(total_exec_time) FILTER (WHERE {like}), 0),"
                f" coalesce(sum(calls) FILTER (WHERE {like}), 0),"
                f" coalesce(sum(total_exec_time) FILTER (WHERE NOT ({like})), 0),"
                f" coalesce(sum(calls) FILTER (WHERE NOT ({like})), 0)"
                " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                f" AND query NOT LIKE '%%pg_stat%%' AND query NOT LIKE '{OWN}%%'",
                [f"%{t}%" for t in SCAN_TABLES] * 4).fetchone()
    except psycopg.Error:
        return None
    return {"scan_ms": float(row[0]), "scan_calls": int(row[1]), "other_ms": float(row[2]), "other_calls": int(row[3])}


def enable_statement_costs(db_url: str) -> bool:
    """pg_stat_statements in the bench database, where the server preloads it; its counters reset."""
    import psycopg

    try:
        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
    except psycopg.Error:
        return False
    return statement_costs(db_url) is not None


def postmaster_pid(db_url: str) -> int | None:
    """The PostgreSQL server's main process when it runs on this machine (the parent of our backend)."""
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            return int(Path(f"/proc/{backend}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return None


class OtherWork:
    """How much CPU the machine spent outside the soak's own processes (this client, gunicorn, the
    control, the sync workers, the PostgreSQL server when local), in cores, between two samples.
    The control measures what other work does to a bare answer; this measures the work itself, which
    slows a CPU-bound app on shared cores long before it slows a bare answer threefold."""

    def __init__(self, roots: list[int]):
        self.roots = [r for r in roots if r]
        self.last = self._read()

    def _ours(self) -> float:
        seen, todo, total = set(), list(self.roots), 0.0
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            total += _proc_cpu(pid, reaped_children=True)
            todo.extend(_children(pid))
        return total

    @staticmethod
    def _busy() -> float:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
        return (user + nice + system + irq + softirq + steal) / TICK

    def _read(self) -> tuple[float, float, float]:
        return time.perf_counter(), self._busy(), self._ours()

    def sample(self) -> float:
        """Cores of other work since the last sample."""
        now = self._read()
        (t0, busy0, ours0), self.last = self.last, now
        return round(max(0.0, (now[1] - busy0) - (now[2] - ours0)) / max(now[0] - t0, 1e-6), 2)


def server_settings(db_url: str) -> dict:
    """The PostgreSQL settings that decide when checkpoints and vacuum run, as the server has them."""
    import psycopg

    names = ("autovacuum", "checkpoint_timeout", "checkpoint_completion_target", "max_wal_size", "shared_buffers")
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}


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


def control_check(upstream: Upstream, rate: float, seconds: float) -> float | None:
    """The control alone before the soak (the machine as quiet as it gets now): its p95 in ms."""
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        arrivals(rate, began + seconds, pool, lambda i: control(upstream)).join()
    done = RECORDER.window("control", began, time.perf_counter())
    with RECORDER.lock:
        RECORDER.samples["control"].clear()
    return ms(nearest_rank(done, 0.95))


def minute_row(m: int, start: float, master: int, db_url: str, cpu: float, before: dict,
               costs_before: dict | None = None, other_cores: float | None = None) -> dict:
    """Minute ``m``'s figures; ``before``: the row counts at its start (server-wide counters are shown
    as what this minute added), ``costs_before``: the statement costs then (None: not counted)."""
    lo, hi = start + m * 60, start + (m + 1) * 60
    requests_, journeys, scans, controls, lags = (RECORDER.window(k, lo, hi)
                                                  for k in ("request", "journey", "scan", "control", "lag"))
    rows = row_counts(db_url)
    costs = statement_costs(db_url) if costs_before is not None else None
    db = None
    if costs is not None:
        scan_ms = costs["scan_ms"] - costs_before["scan_ms"]
        other_ms = costs["other_ms"] - costs_before["other_ms"]
        db = {"scan_ms_per_scan": round(scan_ms / len(scans), 3) if scans else None,
              "other_ms_per_request": round(other_ms / len(requests_), 3) if requests_ else None,
              "scan_statements": costs["scan_calls"] - costs_before["scan_calls"]}
    return {"minute": m, "db": db, "costs": costs, "requests": len(requests_) + len(scans), "journeys": len(journeys), "scans": len(scans),
            "request_p50_ms": ms(nearest_rank(requests_, 0.5)), "request_p95_ms": ms(nearest_rank(requests_, 0.95)),
            "journey_p95_ms": ms(nearest_rank(journeys, 0.95)), "scan_p95_ms": ms(nearest_rank(scans, 0.95)),
            "control_p95_ms": ms(nearest_rank(controls, 0.95)), "client_lag_p95_ms": ms(nearest_rank(lags, 0.95)),
            "errors": len(RECORDER.errors_in(lo, hi)), "error_samples": sorted(set(RECORDER.errors_in(lo, hi)))[:3],
            "rss_master_mb": rss_mb(master), "rss_workers_mb": [rss_mb(w) for w in _children(master)],
            "rows": rows, "this_minute": {k: rows[k] - before[k] for k in SERVER_WIDE},
            "client_core_share": round(cpu, 2), "other_cores": other_cores, "load1": round(os.getloadavg()[0], 2)}


def soak(base: str, setup: dict, args, master: int, db_url: str, control_base: str,
         others: OtherWork | None = None) -> list[dict]:
    upstream, control_upstream = Upstream(base, "pool"), Upstream(control_base, "pool")
    codes = Codes(setup["cards"])
    tokens, proxied = setup["device_tokens"], args.layout == "production"
    began = time.perf_counter()
    start = began + args.warmup_minutes * 60  # the measured minutes begin after the warm-up
    until = start + args.minutes * 60

    def one_journey(i: int) -> None:
        CURRENT.address = address(i) if proxied else None
        began = time.perf_counter()
        journey(base, setup["filing_no"], setup["secret"], i, "timed", upstream)
        RECORDER.add("journey", time.perf_counter() - began)

    def one_scan(i: int) -> None:
        scan(upstream, tokens[i % len(tokens)], codes.pick(i), "192.168.0.%d" % (1 + i % len(tokens)) if proxied else "")

    rows, before, costs = [], row_counts(db_url), statement_costs(db_url)
    with ThreadPoolExecutor(max_workers=64) as journeys_pool, ThreadPoolExecutor(max_workers=32) as scans_pool, \
            ThreadPoolExecutor(max_workers=4) as control_pool:
        arrivals(args.journeys_per_s, until, journeys_pool, one_journey, began)
        arrivals(args.scans_per_s, until, scans_pool, one_scan, began, lag=True)
        arrivals(args.control_per_s, until, control_pool, lambda i: control(control_upstream), began)
        for m in range(-args.warmup_minutes, args.minutes):
            cpu_before = time.process_time()
            time.sleep(max(0.0, start + (m + 1) * 60 + 5 - time.perf_counter()))  # 5 s for stragglers
            row = minute_row(m, start, master, db_url, (time.process_time() - cpu_before) / 60, before, costs,
                             others.sample() if others else None)
            before, costs = row["rows"], row["costs"]
            if m >= 0:
                rows.append(row)
            print(("warm-up " if m < 0 else "") + format_row(row), flush=True)
    codes.stopped.set()
    return rows


def format_row(r: dict) -> str:
    grown = " ".join(f"{k}={v}" for k, v in r["rows"].items() if v and k not in SERVER_WIDE)
    added = r["this_minute"]
    return (f"min {r['minute']:2d}  req {r['requests']:5d}  p50 {r['request_p50_ms']} ms  p95 {r['request_p95_ms']} ms  "
            f"journey p95 {r['journey_p95_ms']} ms ({r['journeys']})  scan p95 {r['scan_p95_ms']} ms ({r['scans']})  "
            f"control p95 {r['control_p95_ms']} ms  client lag p95 {r['client_lag_p95_ms']} ms  "
            f"errors {r['errors']}  RSS master {r['rss_master_mb']} MB workers {r['rss_workers_mb']} MB  "
            f"client {r['client_core_share']:.0%} core  other work {r.get('other_cores')} cores  load {r['load1']}  "
            f"checkpoints +{added['checkpoints_timed']} timed +{added['checkpoints_req']} requested "
            f"({added['checkpoint_buffers']} buffers, "
            f"{added['checkpoint_write_ms']} ms writing)  autovacuum +{added['autovacuums']}  "
            + (f"db {r['db']['scan_ms_per_scan']} ms/scan {r['db']['other_ms_per_request']} ms/request  "
               if r.get("db") else "")
            + f"rows {grown}"
            + "".join(f"\n    error: {e}" for e in r["error_samples"]))


def ratio(rows: list[dict], key: str, window: int = 3) -> float | None:
    """The mean of the last ``window`` minutes' values over the mean of the first ``window``'s."""
    first = [r[key] for r in rows[:window] if r[key]]
    last = [r[key] for r in rows[-window:] if r[key]]
    if not first or not last:
        return None
    return round((sum(last) / len(last)) / (sum(first) / len(first)), 3)


def median(values: list[float]) -> float:
    ordered, n = sorted(values), len(values)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def trend(rows: list[dict], key: str) -> float | None:
    """The change over the run as a share of the median (Theil-Sen: the median of the slopes between
    every two minutes, so a single bad minute at either end cannot make or hide a drift)."""
    points = [(r["minute"], r[key]) for r in rows if r.get(key)]
    slopes = [(b[1] - a[1]) / (b[0] - a[0]) for i, a in enumerate(points) for b in points[i + 1:]]
    if len(points) < 3:
        return None
    return round(median(slopes) * (points[-1][0] - points[0][0]) / median([v for _, v in points]), 3)


def window_minutes(checkpoint_timeout: str, minutes: int) -> int:
    """The compared windows: one checkpoint cycle each (at least 3 minutes), and two fit in the run."""
    return max(1, min(max(3, math.ceil(duration_seconds(checkpoint_timeout) / 60)), minutes // 2))


def duration_seconds(setting: str) -> int:
    """A PostgreSQL duration setting as SHOW prints it ("5min", "30s", "1h") in seconds."""
    for unit, seconds in (("min", 60), ("ms", 0.001), ("s", 1), ("h", 3600), ("d", 86400)):
        if setting.endswith(unit) and setting[:-len(unit)].isdigit():
            return math.ceil(int(setting[:-len(unit)]) * seconds)
    raise ValueError(f"not a duration: {setting!r}")


APP_KINDS = ("request_p95_ms", "journey_p95_ms", "scan_p95_ms")


NOISY_CONTROL, NOISY_LAG_MS = 3.0, 50.0  # a minute whose control p95 is over 3x its quiet p95, or whose client
# started its arrivals more than 50 ms late (p95), measured the machine, not the app
NOISY_OTHER_CORES = 0.25  # nor one where work outside the soak took over a quarter of a core (an idle machine: ~0.05)


def control_quiet(rows: list[dict], before_ms: float | None) -> float | None:
    """The control's p95 when the machine was quietest: alone before the soak, or its best minute
    (the check before the soak may itself have met other work)."""
    seen = [v for v in [before_ms, *(r["control_p95_ms"] for r in rows)] if v]
    return min(seen) if seen else None


def noisy_minutes(rows: list[dict], control_quiet_p95_ms: float | None) -> list[int]:
    """Minutes where the machine, not the app, set the figures (the control or the client slowed)."""
    limit = NOISY_CONTROL * max(control_quiet_p95_ms or 0.0, 1.0)
    return [r["minute"] for r in rows
            if (r["control_p95_ms"] or 0) > limit or (r["client_lag_p95_ms"] or 0) > NOISY_LAG_MS
            or (r.get("other_cores") or 0) > NOISY_OTHER_CORES]


def summary(rows: list[dict], control_before_ms: float | None = None, window: int = 3) -> dict:
    """Ratios of the last ``window`` minutes over the first, raw and relative to the control's own
    ratio, memory growth, and the verdict. With noise in any compared minute no ratio says anything
    about the app: "inconclusive"."""
    workers_first, workers_last = sum(w or 0 for w in rows[0]["rss_workers_mb"]), sum(w or 0 for w in rows[-1]["rss_workers_mb"])
    raw = {k: ratio(rows, k, window) for k in APP_KINDS}
    control_ratio = ratio(rows, "control_p95_ms", window)
    relative = {k: round(v / control_ratio, 3) if v and control_ratio else None for k, v in raw.items()}
    growth = round(workers_last / workers_first - 1, 3) if workers_first else None
    errors = sum(r["errors"] for r in rows)
    memory_flat = growth is not None and growth <= FLAT_RSS
    control_quiet_p95_ms = control_quiet(rows, control_before_ms)
    noisy = noisy_minutes(rows, control_quiet_p95_ms)
    compared = {r["minute"] for r in rows[:window] + rows[-window:]}
    if errors:
        verdict = "errors"
    elif compared & set(noisy):
        verdict = "inconclusive (machine noise)"
    elif all(v is not None and v <= FLAT_P95 for v in raw.values()) and memory_flat:
        verdict = "flat"
    elif all(v is not None and v <= FLAT_P95 for v in relative.values()) and memory_flat:
        verdict = "flat beside the control"
    else:
        verdict = "drift"
    # With noise at the ends, the same comparison over the quiet minutes alone (two windows at least; the minute
    # after a noisy one still serves its backlog, so it is left out too): a figure beside the verdict,
    # never the verdict (the quiet minutes are chosen after the fact).
    quiet = [r for r in rows if r["minute"] not in noisy and r["minute"] - 1 not in noisy]
    quiet_ratios = ({"minutes": [r["minute"] for r in quiet[:window] + quiet[-window:]],
                     **{k: ratio(quiet, k, window) for k in APP_KINDS}}
                    if len(quiet) >= 2 * window else None)
    db = [r["db"] for r in rows if r.get("db")]
    db_ratio = ({k: ratio([{"minute": r["minute"], k: r["db"][k]} for r in rows if r.get("db")], k, window)
                 for k in ("scan_ms_per_scan", "other_ms_per_request")} if len(db) == len(rows) else None)
    return {"window_minutes": window, "p95_ratio_windows": raw, "control_p95_ratio_windows": control_ratio,
            "p95_ratio_last3_first3": {k: ratio(rows, k) for k in APP_KINDS},
            "control_p95_ratio_last3_first3": ratio(rows, "control_p95_ms"),
            "p95_trend": {k: trend(rows, k) for k in (*APP_KINDS, "control_p95_ms")},
            "db_ratio_windows": db_ratio,
            "p95_ratio_quiet_minutes": quiet_ratios,
            "client_lag_p95_ratio_windows": ratio(rows, "client_lag_p95_ms", window),
            "p95_ratio_relative_to_control": relative,
            "rss_workers_mb_first_last": [round(workers_first, 1), round(workers_last, 1)],
            "rss_workers_growth": growth,
            "rss_master_mb_first_last": [rows[0]["rss_master_mb"], rows[-1]["rss_master_mb"]],
            "checkpoints_by_minute": [[r["this_minute"]["checkpoints_timed"], r["this_minute"]["checkpoints_req"]]
                                      for r in rows],
            "autovacuums_by_minute": [r["this_minute"]["autovacuums"] for r in rows],
            "control_quiet_p95_ms": control_quiet_p95_ms, "noisy_minutes": noisy,
            "errors": errors, "verdict": verdict}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--journeys-per-s", type=float, default=3.0)
    parser.add_argument("--scans-per-s", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None, help="default: gunicorn.conf.py's (2 x cores)")
    parser.add_argument("--server-log", help="append gunicorn's stderr (tracebacks) to this file")
    parser.add_argument("--layout", choices=("bench", "production"), default="bench",
                        help="production: rate limits in Redis, one address per resident, four scanners, sync workers")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the limiter store of --layout production")
    parser.add_argument("--sync-workers", type=int, default=1, help="`flask sync run` processes of --layout production")
    parser.add_argument("--control-per-s", type=float, default=5.0, help="GETs of the bare control per second")
    parser.add_argument("--warmup-minutes", type=int, default=None,
                        help="load before the measured minutes (default: checkpoint_timeout and a minute more)")
    parser.add_argument("--window-minutes", type=int, default=None,
                        help="compared windows at each end (default: checkpoint_timeout, at least 3, at most half the run)")
    args = parser.parse_args()
    production = args.layout == "production"
    tmp = Path(tempfile.mkdtemp(prefix="erhc-soak-"))
    db_url = new_database(tmp, True)
    port, control_port = free_port(), free_port()
    env = {"ERHC_DATABASE_URL": db_url, "ERHC_SECRET_KEY": "bench-" + secrets.token_hex(8),
           "ERHC_LOG_LEVEL": "WARNING", "ERHC_RATELIMIT_ENABLED": "false"}
    if production:
        env.update(ERHC_RATELIMIT_ENABLED="true", ERHC_RATELIMIT_STORAGE_URI=args.redis, ERHC_TRUSTED_PROXIES="1",
                   ERHC_PROVINCE_URL=f"http://127.0.0.1:{port}/sandbox-province")
    server, helpers = None, []
    bin_dir = Path(sys.executable).parent
    try:
        setup = prepare(env, SCAN_DEVICES if production else 1)
        settings = server_settings(db_url)
        cycle = math.ceil(duration_seconds(settings["checkpoint_timeout"]) / 60)
        if args.warmup_minutes is None:
            args.warmup_minutes = cycle + 1
        window = args.window_minutes or window_minutes(settings["checkpoint_timeout"], args.minutes)
        counted = enable_statement_costs(db_url)
        print(f"PostgreSQL: {settings}; statement costs "
              f"{'from pg_stat_statements' if counted else 'not counted (pg_stat_statements not preloaded)'}; "
              f"warm-up {args.warmup_minutes} min, compared windows {window} min", flush=True)
        gunicorn_env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        if args.workers:
            gunicorn_env["GUNICORN_WORKERS"] = str(args.workers)
        server = subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "app:app"], cwd=ROOT,
                                  env=gunicorn_env, stdout=subprocess.DEVNULL,
                                  stderr=open(args.server_log, "a") if args.server_log else subprocess.DEVNULL)
        # The control: a bare answer in a gunicorn of its own (no control socket: gunicorn.conf.py says why).
        helpers.append(subprocess.Popen(
            [str(bin_dir / "gunicorn"), "-k", "gthread", "-w", "1", "--threads", "4", "-b", f"127.0.0.1:{control_port}",
             "--no-control-socket", "bench.control_wsgi:app"],
            cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(args.sync_workers if production else 0):
            helpers.append(subprocess.Popen([str(bin_dir / "flask"), "--app", "app", "sync", "run"], cwd=ROOT,
                                            env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                            stderr=open(args.server_log, "a") if args.server_log else subprocess.DEVNULL))
        base, control_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{control_port}"
        for probe in (port, control_port):
            for _ in range(200):
                try:
                    http.client.HTTPConnection("127.0.0.1", probe, timeout=1).request("GET", "/healthz")
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
        control_quiet = control_check(Upstream(control_base, "pool"), args.control_per_s, 20)
        print(f"control alone at {args.control_per_s}/s for 20 s: p95 {control_quiet} ms "
              f"(a soak minute over {NOISY_CONTROL:.0f}x this, or with the client {NOISY_LAG_MS:.0f} ms late, is noise)",
              flush=True)
        workers = _children(server.pid)
        print(f"gunicorn -c gunicorn.conf.py: master {server.pid}, workers {workers}; layout {args.layout}"
              f"{f' (Redis limiter, {args.sync_workers} sync workers)' if production else ''}; "
              f"{args.journeys_per_s} journeys/s + {args.scans_per_s} scans/s for {args.minutes} min; "
              f"control {args.control_per_s}/s", flush=True)
        others = OtherWork([os.getpid(), server.pid, *(h.pid for h in helpers), postmaster_pid(db_url)])
        rows = soak(base, setup, args, server.pid, db_url, control_base, others)
    finally:
        for helper in helpers:
            helper.terminate()
        for helper in helpers:
            try:
                helper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                helper.kill()
        clean_up(server, db_url, tmp)
    result = {"minutes": args.minutes, "journeys_per_s": args.journeys_per_s, "scans_per_s": args.scans_per_s,
              "layout": args.layout, "postgres": settings, "bare": ceiling, "warmup_minutes": args.warmup_minutes, **summary(rows, control_quiet, window),
              "per_minute": [{k: v for k, v in r.items() if k not in ("error_samples", "costs")} for r in rows]}
    w = result["window_minutes"]
    print(f"p95 last {w} min / first {w} min: {result['p95_ratio_windows']}; the control's "
          f"{result['control_p95_ratio_windows']}; relative to it {result['p95_ratio_relative_to_control']}; "
          f"client lag {result['client_lag_p95_ratio_windows']}; last 3 / first 3: {result['p95_ratio_last3_first3']} "
          f"(control {result['control_p95_ratio_last3_first3']}); trend over the run {result['p95_trend']}; "
          f"database time per scan and per request, last / first window: {result['db_ratio_windows']}; workers' RSS "
          f"{result['rss_workers_mb_first_last'][0]} → {result['rss_workers_mb_first_last'][1]} MB "
          f"({result['rss_workers_growth']:+.1%}); master {result['rss_master_mb_first_last']} MB; "
          f"checkpoints (timed, requested) by minute {result['checkpoints_by_minute']}, autovacuum {result['autovacuums_by_minute']}; "
          f"noisy minutes {result['noisy_minutes']} (over the quiet minutes alone: {result['p95_ratio_quiet_minutes']}); "
          f"errors {result['errors']}; verdict: {result['verdict']}")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["verdict"].startswith("flat") else 2 if result["verdict"].startswith("inconclusive") else 1



if __name__ == "__main__":
    sys.exit(main())
