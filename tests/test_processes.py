"""Harness processes: a server started by a test runs in its own process group, and no process of that
group remains after the fixture ends, nor after a test session interrupted by Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import processes
from tests.support import REPO, wait_until

# A server as gunicorn is one: a master that forks a worker; both serve until killed. Both print
# their process id so the test can see them without relying on the code under test.
FORKING_SERVER = textwrap.dedent("""
    import os, signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stuck server: only SIGKILL ends it
    role = "worker" if os.fork() == 0 else "master"
    os.write(1, f"{role} {os.getpid()}\\n".encode())  # one write: the two lines never interleave
    while True:
        time.sleep(60)
""")


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process, read from /proc apart from ``processes``."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _forking_server():
    with processes.group([sys.executable, "-c", FORKING_SERVER], stdout=subprocess.PIPE, text=True) as proc:
        pids = {}
        for _ in range(2):
            role, pid = proc.stdout.readline().split()
            pids[role] = int(pid)
        yield proc, pids


@pytest.fixture
def forking_server():
    yield from _forking_server()


def test_a_server_and_its_worker_run_in_their_own_group(forking_server):
    proc, pids = forking_server
    assert pids["master"] == proc.pid
    assert os.getpgid(pids["master"]) == os.getpgid(pids["worker"]) == proc.pid != os.getpgid(0)
    assert sorted(processes.members(proc.pid)) == sorted(pids.values())


def test_no_process_of_the_group_outlives_the_fixture():
    fixture = _forking_server()
    proc, pids = next(fixture)
    assert all(_alive(pid) for pid in pids.values())
    with pytest.raises(StopIteration):
        next(fixture)  # the fixture's end
    assert wait_until(lambda: not any(_alive(pid) for pid in pids.values()), timeout=10), pids
    assert proc.returncode == -signal.SIGKILL


INTERRUPTED_SESSION = textwrap.dedent("""
    import os, pathlib, signal, sys, time
    from tests import processes

    def test_starts_a_server_then_the_run_is_interrupted():
        pids = pathlib.Path({pids!r})
        with pids.open("w") as out:
            processes.start([sys.executable, "-c", {server!r}], stdout=out)
        deadline = time.monotonic() + 30
        while pids.read_text().count("\\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the terminal
""")


@pytest.mark.slow  # a whole pytest session in a subprocess
def test_an_interrupted_session_leaves_no_process_of_its_groups(tmp_path):
    pids_file = tmp_path / "pids"
    test_file = tmp_path / "test_interrupted.py"
    test_file.write_text(INTERRUPTED_SESSION.format(server=FORKING_SERVER, pids=str(pids_file)), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
                           str(test_file)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout[-2000:] + done.stderr[-2000:]
    pids = [int(line.split()[1]) for line in pids_file.read_text().splitlines()]
    assert len(pids) == 2
    assert wait_until(lambda: not any(_alive(pid) for pid in pids), timeout=10), "a server outlived the session"
