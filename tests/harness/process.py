"""Start a server process on loopback for the test session, wait until it answers, stop it.

Server output goes to a log file, never to the test's own pipes. With ``CI=true`` a missing
server binary fails the run instead of skipping the tests that need it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"


#: set while a run selects only the tests that need no server: starting one is then a defect
NO_SERVERS = "AIOCACHE_LLM_TESTS_NO_SERVERS"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(thing: str | None, what: str) -> str:
    """Return ``thing`` (a path or command); skip the test without it, or fail under CI."""
    if thing:
        return thing
    message = f"{what} is not available on this machine"
    if in_ci():
        pytest.fail(message + " (CI=true: a missing server is a failure)", pytrace=False)
    pytest.skip(message)


#: Ports handed out lately by any test process on this machine, with when (see free_port).
_PORTS_GIVEN = Path(tempfile.gettempdir()) / "aiocache_llm-tests-ports"
_PORT_KEPT = 600.0


def free_port() -> int:
    """A TCP port on loopback that is free right now and was handed to no other test process in
    the last ten minutes: test workers pick ports at the same moments, and the kernel may offer
    two of them the same one before either server binds it (one server then answers for the
    other's clients)."""
    with open(_PORTS_GIVEN, "a+", encoding="ascii") as given:
        fcntl.flock(given, fcntl.LOCK_EX)
        given.seek(0)
        now = time.time()
        recent: dict[int, float] = {}
        for line in given.read().split("\n"):
            port, _, at = line.partition(" ")
            with contextlib.suppress(ValueError):
                if now - float(at) < _PORT_KEPT:
                    recent[int(port)] = float(at)
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((LOOPBACK, 0))
                chosen = int(sock.getsockname()[1])
            if chosen not in recent:
                break
        recent[chosen] = now
        given.seek(0)
        given.truncate()
        given.write("".join(f"{port} {at}\n" for port, at in recent.items()))
    return chosen


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def http_answers(url: str) -> bool:
    """Whether an HTTP server answers ``url`` at all (an error status still counts)."""
    try:
        with urllib.request.urlopen(url, timeout=0.5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@dataclass
class ServerProcess:
    """A started server: its process, the port it listens on, and its log file."""

    name: str
    argv: Sequence[str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its sockets but answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def terminate(self) -> None:
        """Ask the server to stop (SIGCONT, then SIGTERM), without waiting."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)
            os.kill(self.pid, signal.SIGTERM)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after ``timeout``."""
        if self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout)


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_dir: Path,
    ready: Callable[[], bool] | None = None,
    timeout: float = 90.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> ServerProcess:
    """Start ``argv`` and wait (bounded) until ``ready()`` (default: the port accepts). The
    bound is generous: a server importing a lot (moto) starts slowly on a busy machine, and the
    wait ends as soon as it answers."""
    if os.environ.get(NO_SERVERS):
        raise RuntimeError(
            f"{name}: this run selects the tests that need no server (-m 'not servers'), yet one"
            " started a server; tests/tiers.py did not see that it needs one"
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
    server = ServerProcess(name, argv, port, log_path, process)
    check = ready or (lambda: port_open(port))
    deadline = time.monotonic() + timeout
    try:
        while not check():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer in {timeout}s:\n{server.log_tail()}")
            time.sleep(0.05)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_server(name: str, argv: Sequence[str], **kwargs: object) -> Iterator[ServerProcess]:
    """:func:`start_server` as a context manager that always stops the server."""
    server = start_server(name, argv, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
