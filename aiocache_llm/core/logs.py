"""How the library logs: one line per state change, repeated failures at most once per
interval, and an optional structured form (JSON lines).

Every line the library writes goes to a logger under ``aiocache_llm`` and carries its facts as
``extra`` fields (``event``, ``backend``, ``operation``, ``error``, ``suppressed``, ...), so a
JSON formatter shows them as fields::

    import aiocache_llm
    aiocache_llm.use_json_logs()  # JSON lines on stderr for the "aiocache_llm" loggers

or, with a handler of your own, ``handler.setFormatter(aiocache_llm.JsonFormatter())``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import IO, Any, Final

import orjson

__all__ = ["JsonFormatter", "RateLimitedLog", "use_json_logs"]

#: The attributes every ``LogRecord`` has: anything else on a record came in ``extra``.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, every ``extra`` field, and ``exception`` when one is logged."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def use_json_logs(
    level: int | str = logging.INFO, stream: IO[str] | None = None, logger: str = "aiocache_llm"
) -> logging.Handler:
    """Write the library's log lines as JSON to ``stream`` (default: stderr) from ``level``
    up; returns the handler (remove it from ``logging.getLogger(logger)`` to stop)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    target = logging.getLogger(logger)
    target.addHandler(handler)
    target.setLevel(level)
    return handler


class RateLimitedLog:
    """Logs the first failure at once, then at most one line per ``interval`` seconds, which
    says how many like it were left out (``suppressed`` among its ``extra`` fields)."""

    def __init__(self, log: logging.Logger, interval: float = 30.0) -> None:
        self.log, self.interval = log, interval
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._suppressed = 0

    def warning(self, message: str, *args: Any, extra: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        fields = {**(extra or {}), "suppressed": suppressed}
        if suppressed:
            self.log.warning(message + " (and %d more like it)", *args, suppressed, extra=fields)
        else:
            self.log.warning(message, *args, extra=fields)
