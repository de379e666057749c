"""Whole resident journeys under load: launch → consent → identity → profile → two-factor → code face.

    .venv/bin/python bench/journey_load.py [--residents 50] [--journeys 4] [--sqlite] [--workers 2 --threads 8]
                                           [--connections pool|nginx|close|resident] [--client phone|requests] [--bare]

One run: create and migrate a fresh database (a new PostgreSQL database on ERHC_BENCH_PG_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres; or a SQLite file with --sqlite), seed the demo
app, start gunicorn on app:app (CSRF on, rate limits off: every virtual resident shares 127.0.0.1),
then N threads each with its own phone (``Phone``: a cookie jar on http.client; ``--client requests``
uses a requests.Session instead) walk whole journeys as distinct synthetic residents, reading every
CSRF token from the forms. The phones' requests reach gunicorn as deploy/nginx.conf's upstream
keepalive cache would pass them (``Upstream``), or through a real nginx with ``--connections nginx``.
A journey counts only if every step answers as a browser expects and the code face shows
<img alt="电子健康码">. Prints journeys/s, p50/p95/max and errors; the last line is JSON; exit status 1
on any error or a missed target.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scan_load import _children, _proc_cpu, clean_up, cpu_snapshot, free_port, new_database, seeded  # noqa: E402
from bench.slow_clients import stop  # noqa: E402
from tests.support import nginx_config  # noqa: E402
from tests.factories import person  # noqa: E402

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def prepare(env: dict) -> tuple[str, str]:
    """Migrate and seed; returns the demo app's filing number and launch secret."""
    with seeded(env) as (_, _, filed):
        return filed.app_filing_no, filed.launch_secret


def identity(n: int) -> dict:
    """The n-th synthetic resident's name and document (distinct for distinct n)."""
    who = person(n)
    return {k: who[k] for k in ("name", "id_card_type_code", "idcode")}


class Failed(Exception):
    pass


class Reply:
    __slots__ = ("status_code", "headers", "text", "url", "method")

    def __init__(self, status_code: int, headers: dict, text: str, url: str, method: str):
        self.status_code, self.headers, self.text, self.url, self.method = status_code, headers, text, url, method

    @property
    def request(self):  # what _token reports, as requests.Response.request does
        return self


def upstream_keepalive() -> tuple[int, int]:
    """deploy/nginx.conf's cache of connections to gunicorn: (``keepalive``, ``keepalive_requests``,
    nginx's default 1000 when unset)."""
    text = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    block = re.search(r"upstream erhc_h5 \{(.*?)\}", text, re.S).group(1)
    cached = int(re.search(r"^\s*keepalive\s+(\d+);", block, re.M).group(1))
    per_connection = re.search(r"^\s*keepalive_requests\s+(\d+);", block, re.M)
    return cached, int(per_connection.group(1)) if per_connection else 1000


class Upstream:
    """How the phones' requests reach gunicorn. ``mode``:
    - "pool" (default): as nginx's upstream cache configured in deploy/nginx.conf keeps connections
      to gunicorn: a request takes the connection freed most recently (nginx's cache is LIFO), or
      opens one when none is free; after the answer the connection goes back to the cache, unless
      the cache is full (``keepalive``) or the connection has served ``keepalive_requests``.
    - "nginx": each phone keeps a connection to a real nginx running deploy/nginx.conf.
    - "close": a new connection for every request (an upstream without keepalive).
    - "resident": each phone keeps one connection to gunicorn for its whole journey; the worker
      that accepted it serves every step (a client talking to gunicorn directly)."""

    def __init__(self, base: str, mode: str = "pool"):
        parts = urlsplit(base)
        self.host, self.port, self.mode = parts.hostname, parts.port, mode
        self.cached, self.requests_per_connection = upstream_keepalive()
        self.cache: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def take(self) -> http.client.HTTPConnection:
        if self.mode == "pool":
            with self.lock:
                if self.cache:
                    return self.cache.pop()
        return self.connect()

    def give_back(self, conn: http.client.HTTPConnection, reusable: bool) -> None:
        conn.served = getattr(conn, "served", 0) + 1
        if self.mode == "pool" and reusable and conn.served < self.requests_per_connection:
            with self.lock:
                if len(self.cache) < self.cached:
                    self.cache.append(conn)
                    return
        conn.close()


class Phone:
    """One resident's phone as a load generator can afford it: http.client over the bench's
    ``Upstream`` connections, a cookie jar of name -> value (every cookie here is host-wide, path /),
    forms urlencoded, GET redirects followed as a browser follows them. The subset of
    requests.Session that ``journey`` uses, at a fraction of its CPU (the generator shares the
    server's two cores)."""

    REDIRECTS = (301, 302, 303, 307, 308)

    def __init__(self, upstream: Upstream):
        self.upstream = upstream
        self.own = upstream.connect() if upstream.mode in ("resident", "nginx") else None
        self.cookies: dict[str, str] = {}
        self.extra_headers: dict[str, str] = {}  # e.g. the X-Forwarded-For a proxy would add

    def _send(self, method: str, url: str, body: bytes | None) -> Reply:
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        headers = {"Accept-Encoding": "identity"}
        if self.upstream.mode == "close":
            headers["Connection"] = "close"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers.update(self.extra_headers)
        conn = self.own or self.upstream.take()
        try:
            conn.request(method, target, body=body, headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
        except BaseException:
            conn.close()
            raise
        if self.own is None:
            self.upstream.give_back(conn, not answer.will_close)
        for cookie in answer.headers.get_all("Set-Cookie") or ():
            pair, _, attributes = cookie.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attributes.lower().replace(" ", "") or "1970" in attributes:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        headers = {"Location": answer.headers.get("Location", "")}
        return Reply(answer.status, headers, payload.decode("utf-8", "replace"), url, method)

    def get(self, url: str, timeout: float = 30, allow_redirects: bool = True) -> Reply:
        reply = self._send("GET", url, None)
        for _ in range(5):
            if not (allow_redirects and reply.status_code in self.REDIRECTS):
                break
            reply = self._send("GET", urljoin(url, reply.headers["Location"]), None)
        return reply

    def post(self, url: str, data: dict, timeout: float = 30, allow_redirects: bool = False) -> Reply:
        assert not allow_redirects, "journeys read the POST's own redirect"
        return self._send("POST", url, urlencode(data).encode())

    def close(self) -> None:
        if self.own is not None:
            self.own.close()


CLIENTS = {"phone": Phone, "requests": lambda upstream: requests.Session()}
CLIENT_ERRORS = (Failed, OSError, http.client.HTTPException, requests.RequestException)


def _token(page) -> str:
    match = CSRF.search(page.text)
    if page.status_code != 200 or not match:
        raise Failed(f"{page.request.method} {page.url.split('?')[0]} → {page.status_code}, no form")
    return match.group(1) or match.group(2)


def _post(http, base, path, data, expect_path):
    token = _token(http.get(base + path, timeout=30))
    reply = http.post(base + path, data={**data, "csrf_token": token}, timeout=30, allow_redirects=False)
    where = reply.headers.get("Location", "")
    if reply.status_code not in (302, 303) or not where.endswith(expect_path):
        raise Failed(f"POST {path} → {reply.status_code} {where}")


def journey(base: str, filing_no: str, secret: str, n: int, client: str, upstream: Upstream) -> None:
    from erhc_h5.resident.launch import make_launch_url

    http = CLIENTS[client](upstream)
    try:
        _walk(http, base, filing_no, secret, n, make_launch_url)
    finally:
        http.close()


def _walk(http, base: str, filing_no: str, secret: str, n: int, make_launch_url) -> None:
    launched = http.get(make_launch_url(filing_no, f"bench-{n}", secret, base=base), timeout=30)
    if launched.status_code != 200:
        raise Failed(f"launch → {launched.status_code}")
    _post(http, base, "/h5/consent", {"agree": "y"}, "/h5/identity")
    _post(http, base, "/h5/identity", identity(n), "/h5/profile")
    _post(http, base, "/h5/profile", {"nation": "01", "phone": f"139{n:08d}", "county_code": "330106",
                                      "current_address": "测试路1号"}, "/h5/methods")
    token = _token(http.get(base + "/h5/methods", timeout=30))
    done = http.post(base + "/h5/verify/two-factor", data={"csrf_token": token}, timeout=30, allow_redirects=False)
    if done.status_code not in (302, 303) or not done.headers.get("Location", "").endswith("/h5/code"):
        raise Failed(f"two-factor → {done.status_code} {done.headers.get('Location', '')}")
    face = http.get(base + "/h5/code", timeout=30)
    if face.status_code != 200 or 'alt="电子健康码"' not in face.text:
        raise Failed(f"code face → {face.status_code}")


TARGET_JOURNEYS_PER_S, TARGET_P95_S = 15.0, 3.0


def bare(base: str, residents: int, upstream: Upstream, seconds: float = 8.0, client: str = "phone") -> dict:
    """The generator's own ceiling: the same threads, each with its own client, GET the trivial
    /healthz as fast as the server answers. Journeys need REQUESTS_PER_JOURNEY times their rate."""
    count, until = [0] * residents, time.perf_counter() + seconds

    def client_loop(r: int) -> None:
        http = CLIENTS[client](upstream)
        while time.perf_counter() < until:
            if http.get(base + "/healthz", timeout=30).status_code == 200:
                count[r] += 1
        http.close()

    cpu_before, began = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(r,)) for r in range(residents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    return {"bare_requests_per_s": round(sum(count) / wall, 1),
            "bare_client_core_share": round((time.process_time() - cpu_before) / wall, 2)}


REQUESTS_PER_JOURNEY = 11  # launch (+ its redirect), 3 forms x (GET + POST), methods, two-factor, code face


def run(base: str, filing_no: str, secret: str, residents: int, per_resident: int, upstream: Upstream,
        offset: int = 0, client: str = "phone") -> dict:
    durations: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(residents)

    def resident(r: int) -> None:
        start_gate.wait()
        for j in range(per_resident):
            n = offset + r * per_resident + j
            began = time.perf_counter()
            try:
                journey(base, filing_no, secret, n, client, upstream)
            except CLIENT_ERRORS as exc:
                with lock:
                    errors.append(str(exc)[:160])
                continue
            with lock:
                durations.append(time.perf_counter() - began)

    threads = [threading.Thread(target=resident, args=(r,)) for r in range(residents)]
    cpu_before = time.process_time()
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    client_cpu = time.process_time() - cpu_before
    durations.sort()
    p95 = durations[max(0, math.ceil(len(durations) * 0.95) - 1)] if durations else 0.0  # nearest rank
    return {"journeys": len(durations), "errors": len(errors), "error_samples": sorted(set(errors))[:5],
            "seconds": round(wall, 2), "journeys_per_s": round(len(durations) / wall, 2),
            "p50_s": round(statistics.median(durations), 3) if durations else None,
            "p95_s": round(p95, 3), "max_s": round(durations[-1], 3) if durations else None,
            # The load generator's own share of one core: near 1.0 means the client, not the server, is the limit.
            "client_cpu_s": round(client_cpu, 2), "client_core_share": round(client_cpu / wall, 2)}


def start_nginx(tmp: Path, upstream_port: int) -> tuple[subprocess.Popen, str]:
    """nginx with deploy/nginx.conf (listen port and upstream address rewritten) in front of the
    bench's gunicorn; returns the process and the address the phones use."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        raise SystemExit("nginx not found (apt-get install -y nginx); --connections pool models it")
    listen = free_port()
    conf = nginx_config(tmp, listen, upstream_port)
    proxy = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return proxy, f"http://127.0.0.1:{listen}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=50, help="concurrent virtual residents")
    parser.add_argument("--journeys", type=int, default=4, help="journeys per virtual resident")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--bare", action="store_true",
                        help="also measure the generator against the trivial /healthz first (its ceiling)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="phone",
                        help="the virtual residents' HTTP client: phone (http.client, default) or requests")
    parser.add_argument("--connections", choices=("pool", "nginx", "close", "resident"), default="pool",
                        help="how the phones reach gunicorn: pool (deploy/nginx.conf's upstream keepalive, "
                             "modelled; the default), nginx (through a real nginx running deploy/nginx.conf), "
                             "close (a connection per request) or resident (one per resident)")
    parser.add_argument("--server-log", help="append gunicorn's stderr (tracebacks) to this file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="erhc-journey-"))
    db_url = new_database(tmp, not args.sqlite)
    env = {"ERHC_DATABASE_URL": db_url, "ERHC_SECRET_KEY": "bench-" + secrets.token_hex(8),
           "ERHC_LOG_LEVEL": "WARNING", "ERHC_RATELIMIT_ENABLED": "false"}
    port = free_port()
    server = proxy = None
    try:
        filing_no, secret = prepare(env)
        if args.connections == "nginx":
            env["ERHC_TRUSTED_PROXIES"] = "1"
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "2048", "--keep-alive", "75", "app:app"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
            stderr=open(args.server_log, "a") if args.server_log else subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        if args.connections == "nginx":
            proxy, base = start_nginx(tmp, port)
        for _ in range(200):
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        upstream = Upstream(base, args.connections)
        ceiling = bare(base, args.residents, upstream, client=args.client) if args.bare else {}
        run(base, filing_no, secret, 5, 1, upstream, offset=100_000, client=args.client)  # warm-up, residents of its own
        workers = _children(server.pid)
        proxies = _children(proxy.pid) if proxy else []
        before, machine_before = [_proc_cpu(w) for w in workers], cpu_snapshot(server.pid)
        machine_before["nginx"] = sum(_proc_cpu(p) for p in proxies)
        result = run(base, filing_no, secret, args.residents, args.journeys, upstream, client=args.client)
        spent = [_proc_cpu(w) - b for w, b in zip(workers, before)]
        machine_after = cpu_snapshot(server.pid)
        machine_after["nginx"] = sum(_proc_cpu(p) for p in proxies)
        result["worker_shares"] = [round(x / max(sum(spent), 1e-9), 2) for x in spent]
        # Where the two cores went during the run: cores used by the workers and PostgreSQL
        # (CPU seconds over the run's wall time); the generator's own share is printed beside it.
        result["cores_used"] = {k: round((machine_after[k] - machine_before[k]) / result["seconds"], 2)
                                for k in ("workers", "postgres") + (("nginx",) if proxy else ())}
    finally:
        if proxy is not None:
            stop(proxy)
        clean_up(server, db_url, tmp)
    db = "sqlite" if args.sqlite else "postgresql"
    print(f"database {db}, gunicorn {args.workers} gthread workers x {args.threads} threads, "
          f"{args.residents} concurrent residents x {args.journeys} journeys, client {args.client}"
          + (f", connections {args.connections}" if args.client == "phone" else ""))
    print(f"journeys/s {result['journeys_per_s']}  p50 {result['p50_s']} s  p95 {result['p95_s']} s  "
          f"max {result['max_s']} s  errors {result['errors']}")
    if ceiling:
        print(f"bare /healthz: {ceiling['bare_requests_per_s']} requests/s from the same generator "
              f"({ceiling['bare_client_core_share']:.0%} of one core); the journeys drove "
              f"{result['journeys_per_s'] * REQUESTS_PER_JOURNEY:.0f} requests/s, the target needs "
              f"{TARGET_JOURNEYS_PER_S * REQUESTS_PER_JOURNEY:.0f}")
        result.update(ceiling)
    for sample in result["error_samples"]:
        print("  error:", sample)
    print(f"load generator CPU {result['client_cpu_s']} s ({result['client_core_share']:.0%} of one core); "
          f"server cores used {result['cores_used']}; workers' CPU shares {result['worker_shares']}; "
          f"load average {os.getloadavg()[0]:.1f}")
    missed = result["journeys_per_s"] < TARGET_JOURNEYS_PER_S or (result["p95_s"] or 0) > TARGET_P95_S
    print(f"target >= {TARGET_JOURNEYS_PER_S} journeys/s with p95 <= {TARGET_P95_S} s: {'MISSED' if missed else 'met'}")
    print(json.dumps({"database": db, "residents": args.residents, "client": args.client,
                      "connections": args.connections if args.client == "phone" else "resident", **result, "target_met": not missed},
                     ensure_ascii=False))
    return 1 if result["errors"] or missed else 0


if __name__ == "__main__":
    sys.exit(main())
