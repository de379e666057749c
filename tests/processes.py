"""Processes the tests start (gunicorn, nginx, ``flask sync run``, ``flask residents import``, lock
holders): each in its own process group, every group killed when the test session ends.

``start`` runs a command with ``start_new_session=True`` (the process leads a new group, so its
children, such as gunicorn's workers and nginx's worker, share that group) and with a marker in its
environment that its children inherit. ``kill_group`` kills what is left of one group; ``kill_all``
kills every group this test process started and is run by ``pytest_sessionfinish`` (also after
Ctrl-C) and at interpreter exit. Once a leader has been reaped its process id can be reused by an
unrelated group, so only processes carrying this session's marker are killed then.
"""
from __future__ import annotations

import atexit
import os
import secrets
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

MARKER_VARIABLE = "ERHC_TEST_HARNESS"
MARKER = f"{os.getpid()}-{secrets.token_hex(6)}"
_started: dict[int, subprocess.Popen] = {}


def start(args, **popen) -> subprocess.Popen:
    """``subprocess.Popen(args, **popen)`` in a new process group, killed at session end at the latest."""
    env = dict(popen.pop("env", None) or os.environ)
    env[MARKER_VARIABLE] = MARKER
    proc = subprocess.Popen(args, env=env, start_new_session=True, **popen)
    _started[proc.pid] = proc
    return proc


def members(pgid: int) -> list[int]:
    """Live processes of group ``pgid`` that this session started (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z" and f"{MARKER_VARIABLE}={MARKER}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_group(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGKILL every remaining process of ``proc``'s group and reap the leader."""
    if proc.poll() is None:  # not reaped: the id still names our group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in members(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    _started.pop(proc.pid, None)


@contextmanager
def group(args, **popen) -> Iterator[subprocess.Popen]:
    """``start`` for the duration of a ``with`` block; the whole group is killed when it ends."""
    proc = start(args, **popen)
    try:
        yield proc
    finally:
        kill_group(proc)


def kill_all() -> None:
    """Kill every group this session started and has not killed yet."""
    for proc in list(_started.values()):
        kill_group(proc, timeout=5)


atexit.register(kill_all)
