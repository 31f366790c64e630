"""The ``Cache`` facade (moved to :mod:`aiocache_llm.facade`; this path keeps working)."""

from . import facade as _facade
from .facade import *  # noqa: F403 - every public name of the facade, as before

__all__ = _facade.__all__
