"""An OpenAI-compatible caching proxy (the ``proxy`` extra): point a client's ``base_url`` here.

``aiocache-llm serve --config config.yaml`` runs it; :func:`create_app` builds the ASGI app
for any other server.
"""

from ..errors import MissingDependencyError

try:
    import httpx  # noqa: F401
    import httpx_sse  # noqa: F401
    import prometheus_client  # noqa: F401
    import pydantic  # noqa: F401
    import starlette  # noqa: F401
    import yaml  # noqa: F401
except ImportError as exc:  # the extra is not installed
    raise MissingDependencyError("proxy", "proxy") from exc

from .app import create_app
from .config import ProxyConfig, load_config, parse_config

__all__ = ["ProxyConfig", "create_app", "load_config", "parse_config"]
