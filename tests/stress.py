"""Run the test suite beside CPU-bound processes, to check that it holds on a busy machine.

    python tests/stress.py                 # one run of ``python -m pytest`` beside two busy loops
    python tests/stress.py --runs 5        # five runs
    python tests/stress.py --runs 3 -- tests/reliability -x   # arguments after -- go to pytest

Two processes (``--hogs``) spin on the CPU for as long as the runs take; they are started here,
named by PID, and stopped by PID when the runs end, however they end. Each run's pytest output
is kept in a log file; one line per run says pass or fail, how long it took and the load.
The exit status is 0 only if every run passed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPIN = "while True: pass"


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    hogs = []
    for _ in range(count):
        hogs.append(subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL))
    return hogs


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hog.pid, signal.SIGTERM)
    for hog in hogs:
        try:
            hog.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(hog.pid, signal.SIGKILL)
            hog.wait(5)


def summary(log: Path) -> str:
    """pytest's last line: ``== 1566 passed, 3 skipped in 183.2s ==``."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else "(no output)"


def failures(log: Path) -> list[str]:
    return [
        line
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    ]


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the finally that stops the busy processes


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    parser = argparse.ArgumentParser(
        description="Run the test suite beside CPU-bound processes.",
        epilog="Arguments after -- are passed to pytest (default: the whole suite).",
    )
    parser.add_argument("--runs", type=int, default=1, help="how many runs (default 1)")
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes (default 2)")
    parser.add_argument("--log-dir", type=Path, default=None, help="where run logs go")
    args, pytest_args = parser.parse_known_args(argv)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="aiocache_llm-stress-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", *pytest_args]

    hogs = start_hogs(args.hogs)
    print(f"busy processes (PIDs): {', '.join(str(h.pid) for h in hogs) or 'none'}", flush=True)
    print(f"command: {' '.join(command)}  (logs in {log_dir})", flush=True)
    passed = 0
    try:
        for run in range(1, args.runs + 1):
            log = log_dir / f"run-{run}.log"
            started = time.monotonic()
            with open(log, "wb") as out:
                suite = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                try:
                    code = suite.wait()
                finally:
                    if suite.poll() is None:  # interrupted: the suite stops with us
                        suite.terminate()
                        suite.wait()
            took = time.monotonic() - started
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            verdict = "pass" if code == 0 else f"FAIL (exit {code})"
            passed += code == 0
            print(
                f"run {run}/{args.runs}: {verdict} in {took:.0f} s, load {load}: {summary(log)}",
                flush=True,
            )
            for line in failures(log):
                print(f"    {line}", flush=True)
    finally:
        stop_hogs(hogs)
        print(f"stopped busy processes {', '.join(str(h.pid) for h in hogs)}", flush=True)
    print(f"{passed} of {args.runs} runs passed", flush=True)
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # stopped (Ctrl-C, SIGTERM): the busy processes are stopped
        sys.exit(130)
