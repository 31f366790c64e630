"""``GCPIAMCredentialProvider`` under its former module name; it lives in
:mod:`aiocache_llm.backends.redis.gcp_iam`."""

from __future__ import annotations

from .redis.gcp_iam import GCPIAMCredentialProvider, google_default_token

__all__ = ["GCPIAMCredentialProvider", "google_default_token"]
