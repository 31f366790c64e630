"""The facade: :class:`Cache`, the wrappers that put it in front of calls, and the default.

* :mod:`.cache` — :class:`Cache` (its call, admin and LiteLLM-named methods), with
  :func:`enable_cache` / :func:`update_cache`; :mod:`.default` — the process-wide default.
* :mod:`.settings` — the facade's settings, checked once; :mod:`.registry` — a ``type`` and
  its settings to the backend stack calls use.
* :mod:`.wrappers` — :func:`cached`; :mod:`.clients` — :func:`wrap_openai`,
  :func:`wrap_anthropic`; :mod:`.litellm_methods` — LiteLLM's ``Cache`` methods.

Imports go one way: cache -> clients -> wrappers -> default, settings; nothing here imports
:mod:`.cache` at run time but this package.
"""

from .cache import Cache, enable_cache, update_cache
from .clients import wrap_anthropic, wrap_openai
from .default import default_cache, disable_cache
from .registry import BACKEND_TYPES, backend_class, build_backend, guard_backend
from .settings import CALL_TYPES
from .wrappers import cached

__all__ = [
    "BACKEND_TYPES",
    "CALL_TYPES",
    "Cache",
    "backend_class",
    "build_backend",
    "cached",
    "default_cache",
    "disable_cache",
    "enable_cache",
    "guard_backend",
    "update_cache",
    "wrap_anthropic",
    "wrap_openai",
]
