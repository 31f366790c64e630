"""Shared fixtures. Real servers come from tests/harness/ (every module there is a plugin) and
are started at most once per session."""

from __future__ import annotations

import os
import signal
from pathlib import Path

# One BLAS thread (numpy, under the local embedding model): its worker threads spin while they
# wait, and beside other busy processes that costs ten times the work. Set before numpy loads,
# and inherited by the servers the tests start.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
#: litellm fetches its model cost map from the internet on import unless told to use its own copy
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytest_plugins = [
    "tests.tiers",
    *sorted(
        f"tests.harness.{path.stem}"
        for path in (Path(__file__).parent / "harness").glob("*.py")
        if not path.stem.startswith("_") and path.stem != "process"
    ),
]


def pytest_configure() -> None:
    # A terminated run (a CI time limit, a stopped stress run) ends as an interrupted one, so the
    # session's teardown still stops every server it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
