"""What the library runs on the event-loop thread: every blocking call it makes there.

"Never blocks the event loop" is a statement about *what* runs on the loop thread, not about
how long a step took (a loaded machine stretches every step, a quiet one hides a slow disk).
:class:`LoopAudit` installs a profile hook on the calling thread (the loop's) and records each
call into C that can block, made while a frame of ``aiocache_llm`` is on the stack:

* SQLite statements, commits and fetches (``sqlite3.Connection`` / ``Cursor`` methods);
* socket operations on a socket in blocking mode (timeout other than 0): connect, accept,
  send, receive; name resolution (``getaddrinfo``, ``gethostbyname``);
* file-system calls: ``open``, ``os.open``, ``stat``, listing, creating, renaming, removing,
  ``fsync``;
* sleeping (``time.sleep``) and waiting for another thread (``Condition.wait``, which is under
  ``Future.result()``, ``Event.wait()``, ``Queue.get()``, ``Thread.join()``).

Non-blocking sockets (the loop's own transports) and the loop's wait in its selector are not
blocking calls. Imports are not counted (warm the path once before auditing).
"""

from __future__ import annotations

import _socket
import contextlib
import io
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import aiocache_llm

LIBRARY = str(Path(aiocache_llm.__file__).resolve().parent) + os.sep

_SQLITE = {
    "execute",
    "executemany",
    "executescript",
    "commit",
    "rollback",
    "fetchone",
    "fetchmany",
    "fetchall",
    "backup",
}
_SOCKET = {
    "connect",
    "connect_ex",
    "accept",
    "recv",
    "recv_into",
    "recvfrom",
    "recvfrom_into",
    "recvmsg",
    "send",
    "sendall",
    "sendto",
    "sendmsg",
}
_FUNCTIONS: dict[Any, str] = {
    time.sleep: "time.sleep",
    io.open: "open",
    os.open: "os.open",
    os.stat: "os.stat",
    os.lstat: "os.lstat",
    os.listdir: "os.listdir",
    os.scandir: "os.scandir",
    os.mkdir: "os.mkdir",
    os.remove: "os.remove",
    os.rename: "os.rename",
    os.replace: "os.replace",
    os.rmdir: "os.rmdir",
    os.fsync: "os.fsync",
    _socket.getaddrinfo: "socket.getaddrinfo",
    _socket.gethostbyname: "socket.gethostbyname",
}
_NAMES = _SQLITE | _SOCKET | {"acquire"}
#: The frames whose lock ``acquire`` is a wait for another thread.
_WAITS = {threading.Condition.wait.__code__}
if hasattr(threading.Thread, "_wait_for_tstate_lock"):  # Thread.join before Python 3.13
    _WAITS.add(threading.Thread._wait_for_tstate_lock.__code__)


def _blocking(call: Any, frame: FrameType) -> str | None:
    """What kind of blocking call ``call`` (a C function about to run) is, or ``None``."""
    known = _FUNCTIONS.get(call)
    if known is not None:
        return known
    name = getattr(call, "__name__", None)
    if name not in _NAMES:
        return None
    owner = getattr(call, "__self__", None)
    if isinstance(owner, (sqlite3.Connection, sqlite3.Cursor)) and name in _SQLITE:
        return f"sqlite3.{type(owner).__name__}.{name}"
    if isinstance(owner, _socket.socket) and name in _SOCKET:
        try:
            blocking = owner.gettimeout() != 0.0
        except OSError:
            return None
        return f"socket.{name} on a blocking socket" if blocking else None
    if name == "acquire" and frame.f_code in _WAITS:
        return "a wait for another thread (Condition.wait)"
    return None


def _library_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost ``aiocache_llm`` frame on the stack, unless the call is an import."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith("<frozen importlib"):
            return None
        if filename.startswith(LIBRARY):
            return frame
        frame = frame.f_back
    return None


class LoopAudit:
    """Records the library's blocking calls on the thread that runs :meth:`watching`."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "c_call":
            return
        kind = _blocking(arg, frame)
        if kind is None:
            return
        culprit = _library_frame(frame)
        if culprit is not None:
            where = culprit.f_code.co_filename[len(LIBRARY) :]
            self.calls.append(f"{kind} from {where}:{culprit.f_lineno} ({culprit.f_code.co_name})")

    @contextlib.contextmanager
    def watching(self) -> Iterator[LoopAudit]:
        """Audit this thread (the event loop's, when entered from a coroutine) until exit."""
        previous = sys.getprofile()
        sys.setprofile(self._profile)
        try:
            yield self
        finally:
            sys.setprofile(previous)
