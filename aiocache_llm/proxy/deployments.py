"""The proxy's upstreams: ``model_list`` entries, each a public model name and where it goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import ConfigurationError
from .fields import seconds, string

__all__ = ["OPENAI_COMPATIBLE", "Deployment", "parse_deployments"]

#: Provider prefixes the OpenAI-compatible forwarder speaks (a bare model name too).
OPENAI_COMPATIBLE: Final = frozenset({"openai", "text-completion-openai", "custom_openai"})


@dataclass(frozen=True)
class Deployment:
    """One upstream a public model name is sent to."""

    model_name: str
    model: str
    api_base: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float | None = None
    #: the provider prefix of ``litellm_params.model`` (``None`` for a bare name)
    provider: str | None = None

    @property
    def openai_compatible(self) -> bool:
        """Whether the forwarder may send this deployment OpenAI-style requests (and its key)."""
        return self.provider is None or self.provider in OPENAI_COMPATIBLE


def parse_deployments(model_list: Any, default_base: str) -> dict[str, list[Deployment]]:
    """``model_list`` as public model name -> its deployments, in order."""
    if model_list is None:
        return {}
    if not isinstance(model_list, list):
        raise ConfigurationError("model_list: must be a list of models")
    out: dict[str, list[Deployment]] = {}
    for i, item in enumerate(model_list):
        where = f"model_list[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigurationError(f"{where}: must be a mapping")
        name = string(item.get("model_name"), f"{where}.model_name")
        params = item.get("litellm_params") or {}
        if not isinstance(params, Mapping):
            raise ConfigurationError(f"{where}.litellm_params: must be a mapping")
        where = f"{where}.litellm_params"
        model = string(params.get("model", name), f"{where}.model")
        assert name is not None and model is not None
        provider, slash, bare = model.partition("/")
        upstream_model = (
            bare if slash and provider in ("openai", "text-completion-openai") else model
        )
        api_base = string(params.get("api_base", default_base), f"{where}.api_base")
        assert api_base is not None
        if not api_base.startswith(("http://", "https://")):
            raise ConfigurationError(f"{where}.api_base: must be an http:// or https:// URL")
        api_key = string(params.get("api_key"), f"{where}.api_key", required=False)
        timeout = params.get("timeout")
        deployment = Deployment(
            name,
            upstream_model,
            api_base.rstrip("/"),
            api_key,
            None if timeout is None else seconds(timeout, f"{where}.timeout"),
            provider if slash else None,
        )
        out.setdefault(name, []).append(deployment)
    return out
