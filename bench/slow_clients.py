"""Slow clients: 100 half-open connections against gunicorn alone, then behind nginx (deploy/nginx.conf).

    .venv/bin/python bench/slow_clients.py [--connections 100] [--probe-seconds 15] [--no-nginx]

Starts gunicorn with the shipped gunicorn.conf.py on a fresh migrated SQLite database, opens N
connections that each send a request line and one header and then nothing (the connections stay
open), and probes /healthz and /readyz twice a second with a 2 s timeout. Then the same with nginx
in front, configured by deploy/nginx.conf (only its listen port, upstream address and static path
are rewritten): the half-open connections go to nginx, the probes through nginx. Prints one line
per scenario and a JSON summary last; exits 1 when a probe through nginx failed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support import nginx_config  # noqa: E402
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def half_open(port: int, n: int) -> list[socket.socket]:
    """n connections that sent a request line and one header, and will send nothing more."""
    held = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
        held.append(s)
    return held


def still_open(held: list[socket.socket]) -> int:
    """How many of the half-open connections the server has not closed yet."""
    alive = 0
    for s in held:
        s.setblocking(False)
        try:
            alive += s.recv(1, socket.MSG_PEEK) != b""  # data (an error page) still means answered, not held
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def probe(port: int, seconds: float) -> dict:
    """GET /healthz and /readyz every 0.5 s for ``seconds``; answered count and latencies."""
    results: list[tuple[bool, float]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for path in ("/healthz", "/readyz"):
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
                    ok = reply.status == 200
            except OSError:
                ok = False
            results.append((ok, time.monotonic() - started))
        time.sleep(0.5)
    answered = [t for ok, t in results if ok]
    return {
        "probes": len(results), "answered": len(answered),
        "p50_ms": round(statistics.median(answered) * 1000, 1) if answered else None,
        "max_ms": round(max(answered) * 1000, 1) if answered else None,
    }


def start_gunicorn(tmp: Path, port: int, env: dict) -> subprocess.Popen:
    args = [PY, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "app:app"]
    genv = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_ACCESSLOG": ""}
    log = open(tmp / "gunicorn.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, cwd=ROOT, env=genv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def scenario(name: str, target_port: int, probe_port: int, n: int, seconds: float, extra_probe: int | None = None) -> dict:
    baseline = probe(probe_port, 1.0)
    held = half_open(target_port, n)
    time.sleep(0.5)
    side: dict = {}
    if extra_probe is not None:  # gunicorn directly, while nginx holds the slow clients
        thread = threading.Thread(target=lambda: side.update(probe(extra_probe, seconds)))
        thread.start()
    under = probe(probe_port, seconds)
    if extra_probe is not None:
        thread.join()
    open_after = still_open(held)
    for s in held:
        s.close()
    result = {"scenario": name, "half_open": n, "baseline": baseline, "under_attack": under,
              "half_open_still_held_after_s": round(seconds + 0.5, 1), "still_held": open_after}
    if side:
        result["gunicorn_direct_meanwhile"] = side
    print(f"{name}: {under['answered']}/{under['probes']} probes answered (p50 {under['p50_ms']} ms, "
          f"max {under['max_ms']} ms) with {n} half-open connections; {open_after} still held after "
          f"{seconds + 0.5:.0f} s", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--probe-seconds", type=float, default=15.0)
    parser.add_argument("--no-nginx", action="store_true")
    args = parser.parse_args()
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

    results = []
    with tempfile.TemporaryDirectory(prefix="erhc-slow-") as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "ERHC_DATABASE_URL": f"sqlite:///{tmp / 'erhc.sqlite3'}", "ERHC_LOG_LEVEL": "WARNING"}
        subprocess.run([PY, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        g_port = free_port()
        gunicorn = start_gunicorn(tmp, g_port, env)
        try:
            wait_for(f"http://127.0.0.1:{g_port}/healthz")
            results.append(scenario("gunicorn alone", g_port, g_port, args.connections, args.probe_seconds))
            # Let gunicorn's threads be released (the held sockets are closed) before the next run.
            time.sleep(2)
            if nginx and not args.no_nginx:
                n_port = free_port()
                conf = nginx_config(tmp, n_port, g_port)
                proxy = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
                try:
                    wait_for(f"http://127.0.0.1:{n_port}/healthz")
                    results.append(scenario("nginx + gunicorn", n_port, n_port, args.connections,
                                            args.probe_seconds, extra_probe=g_port))
                finally:
                    stop(proxy)
            elif not args.no_nginx:
                print("nginx not found: the proxied scenario was skipped (apt-get install -y nginx)", flush=True)
        finally:
            stop(gunicorn)
    print(json.dumps({"workers": os.environ.get("GUNICORN_WORKERS", "2×CPU"), "results": results},
                     ensure_ascii=False))
    proxied = [r for r in results if r["scenario"].startswith("nginx")]
    return 0 if all(r["under_attack"]["answered"] == r["under_attack"]["probes"] for r in proxied) else 1


if __name__ == "__main__":
    sys.exit(main())
