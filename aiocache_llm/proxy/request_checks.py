"""What a caller may not put in a request body.

A request goes upstream with the deployment's credential. Through litellm's Router, some body
fields would retarget it (``api_base``, ``base_url``, a ``user_config`` with its own
deployments, cloud-credential selectors, observability hosts): those are refused with
litellm's own proxy check (``is_request_body_safe``, kept up to date by litellm), or with the
short list below when litellm's proxy parts are not installed. Fallbacks named in the body
may only go to models the caller's key may call, and litellm's test switches (which force a
fallback or an error) are for the admin only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

__all__ = ["BodyCheck", "body_check", "fallback_targets", "test_switches"]

logger = logging.getLogger("aiocache_llm.proxy")

#: ``check(body, model, route)``: raises ``ValueError`` naming a field the caller may not send.
BodyCheck = Callable[[dict[str, Any], str, str], None]

#: Body fields that retarget a Router call, refused when litellm's own check is not at hand.
_RETARGETING: Final = frozenset(
    {
        "api_base",
        "base_url",
        "user_config",
        "model_list",
        "litellm_params",
        "router_settings_override",
        "aws_sts_endpoint",
        "aws_web_identity_token",
        "aws_role_name",
        "aws_profile_name",
        "aws_bedrock_runtime_endpoint",
        "vertex_credentials",
        "vertex_ai_credentials",
        "azure_ad_token",
        "s3_endpoint_url",
        "sagemaker_base_url",
        "deployment_url",
    }
)
_FALLBACK_FIELDS: Final = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
#: litellm's switches that make a call fail or fall back on purpose (tests of a deployment)
_TEST_SWITCHES: Final = frozenset(
    {
        "mock_testing_fallbacks",
        "mock_testing_context_fallbacks",
        "mock_testing_content_policy_fallbacks",
        "mock_testing_rate_limit_error",
        "mock_timeout",
        "mock_delay",
    }
)
_MAX_DEPTH: Final = 6


def body_check() -> BodyCheck:
    """litellm's proxy check of request bodies, or the short list when it cannot be imported."""
    try:
        from litellm.proxy.auth.auth_utils import is_request_body_safe
    except Exception as exc:  # litellm without its proxy's dependencies
        logger.info("litellm's request check is not available (%s): using the short list", exc)
        return _short_list

    def check(body: dict[str, Any], model: str, route: str) -> None:
        _short_list(body, model, route)
        try:
            is_request_body_safe(
                request_body=body, general_settings={}, llm_router=None, model=model, route=route
            )
        except ValueError:
            raise
        except Exception as exc:  # a check that breaks refuses, never lets the body through
            message = f"the request body could not be checked ({type(exc).__name__})"
            raise ValueError(message) from None

    return check


def _short_list(body: dict[str, Any], model: str, route: str) -> None:
    targets = [t for name in _FALLBACK_FIELDS for t in _mappings(body.get(name), 0)]
    for container in (body, body.get("extra_body"), body.get("metadata"), *targets):
        if isinstance(container, Mapping):
            found = sorted(_RETARGETING.intersection(container))
            if found:
                raise ValueError(f"Rejected Request: {found[0]} is not allowed in the request body")


def test_switches(body: Mapping[str, Any]) -> list[str]:
    """The test switches ``body`` sets."""
    return sorted(name for name in _TEST_SWITCHES.intersection(body) if body[name])


def fallback_targets(body: Mapping[str, Any]) -> set[str]:
    """Every name the body's fallbacks hold (targets, the groups they serve, and the field
    names of a target given as a mapping); ``ValueError`` when they nest too deep."""
    found: set[str] = set()
    for name in _FALLBACK_FIELDS:
        if name in body:
            found.update(_strings(body[name], 0))
    return found


def _mappings(value: Any, depth: int) -> Iterator[Mapping[str, Any]]:
    if depth <= _MAX_DEPTH and isinstance(value, (list, Mapping)):
        if isinstance(value, Mapping):
            yield value
        for item in value.values() if isinstance(value, Mapping) else value:
            yield from _mappings(item, depth + 1)


def _strings(value: Any, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        raise ValueError("Rejected Request: fallbacks nested too deep")
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, depth + 1)
