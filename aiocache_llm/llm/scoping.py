"""Whose entry a call reads and writes: its key, and the scope a semantic search filters on.

The namespace (the cache's, or the call's ``cache={"namespace": ...}``) and the caller's
identity (from the cache's ``identity`` function, and the ``user`` argument under
``key_on_user``) enter every key through :mod:`aiocache_llm.llm.keys`, also the keys of a
custom ``get_cache_key``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidArgumentError
from .controls import Controls
from .keys import digest, make_key, scoped_custom_key

__all__ = ["Scoping"]


class Scoping:
    """The key rules of one cache."""

    __slots__ = ("custom_key", "identity", "key_on_user", "namespace")

    def __init__(
        self,
        namespace: str | None,
        identity: Callable[[Mapping[str, Any]], str | None] | None,
        custom_key: Callable[..., str] | None,
        key_on_user: bool = False,
    ) -> None:
        self.namespace = namespace
        self.identity = identity
        self.custom_key = custom_key
        self.key_on_user = key_on_user

    def identity_of(self, kwargs: Mapping[str, Any]) -> str | None:
        """The caller's identity (tenant, user): ``None`` or a non-empty str, else an error."""
        if self.identity is None and not self.key_on_user:
            return None
        identity = None if self.identity is None else self.identity(kwargs)
        if identity is not None and (not isinstance(identity, str) or not identity):
            raise InvalidArgumentError("the identity function must return a non-empty str or None")
        if self.key_on_user:
            user = kwargs.get("user")
            if isinstance(user, str) and user:  # the end user scopes the entry (LiteLLM's rule)
                return "user:" + digest([identity, user])
        return identity

    def key(self, call_type: str, kwargs: Mapping[str, Any], controls: Controls) -> str:
        """The cache key of a ``call_type`` call with ``kwargs``."""
        namespace = controls.namespace or self.namespace
        identity = self.identity_of(kwargs)
        if self.custom_key is not None:
            return scoped_custom_key(
                str(self.custom_key(**kwargs)), namespace=namespace, identity=identity
            )
        return make_key(call_type, kwargs, namespace=namespace, identity=identity)

    def scope(self, kwargs: Mapping[str, Any], controls: Controls) -> dict[str, str]:
        """The namespace and identity a semantic search of this call is limited to."""
        if (
            self.identity is None
            and not self.key_on_user
            and controls.namespace is None
            and self.namespace is None
        ):
            return {}
        scope: dict[str, str] = {}
        namespace = controls.namespace or self.namespace
        if namespace:
            scope["namespace"] = namespace
        identity = self.identity_of(kwargs)
        if identity is not None:
            scope["identity"] = identity
        return scope
