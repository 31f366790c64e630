"""Shared fixtures. Real servers come from tests/harness/ (every module there is a plugin) and
are started at most once per session."""

from __future__ import annotations

import os
from pathlib import Path

#: litellm fetches its model cost map from the internet on import unless told to use its own copy
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytest_plugins = sorted(
    f"tests.harness.{path.stem}"
    for path in (Path(__file__).parent / "harness").glob("*.py")
    if not path.stem.startswith("_") and path.stem != "process"
)
