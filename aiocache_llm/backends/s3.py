"""S3Cache: a cache in an S3 bucket (AWS, MinIO, R2, Backblaze B2, ...), natively async."""

from __future__ import annotations

import datetime
import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import AioSession  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
from botocore.loaders import Loader, create_loader  # type: ignore[import-untyped]

from ..codec import DEFAULT_COMPRESS_THRESHOLD
from ..errors import BackendUnavailable, ConfigurationError
from ._object_store import ObjectStoreCache, Stored, VersionConflict

__all__ = ["S3Cache"]

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class S3Cache(ObjectStoreCache[Any]):
    """A cache of one object per key in ``s3_bucket_name``, named ``s3_path`` + key.

    ``:`` in a key becomes ``/`` in the object name (``litellm:abc`` -> ``<s3_path>/litellm/abc``),
    so keys group into folders in the console. The bucket must exist.

    Entries expire on read (their expiry travels inside the object) and carry the expiry as the
    object's ``Expires`` header. Counters use conditional writes (``If-Match`` /
    ``If-None-Match``) and retry on conflict. Every request gives up after ``timeout`` seconds
    with :class:`~aiocache_llm.errors.BackendTimeout`; other failures of S3 raise
    :class:`~aiocache_llm.errors.BackendUnavailable`.
    """

    backend_name = "s3"

    def __init__(
        self,
        s3_bucket_name: str,
        s3_region_name: str | None = None,
        s3_api_version: str | None = None,
        s3_use_ssl: bool | None = True,
        s3_verify: bool | str | None = None,
        s3_endpoint_url: str | None = None,
        s3_aws_access_key_id: str | None = None,
        s3_aws_secret_access_key: str | None = None,
        s3_aws_session_token: str | None = None,
        s3_config: AioConfig | dict[str, Any] | None = None,
        s3_path: str | None = None,
        *,
        default_ttl: float | None = None,
        timeout: float = 10.0,
        max_concurrency: int = 32,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
    ) -> None:
        if not isinstance(s3_bucket_name, str) or not s3_bucket_name:
            raise ConfigurationError("S3Cache needs s3_bucket_name")
        super().__init__(
            prefix=s3_path,
            default_ttl=default_ttl,
            timeout=timeout,
            max_concurrency=max_concurrency,
            compress_threshold=compress_threshold,
        )
        self.bucket = s3_bucket_name
        self.endpoint_url = s3_endpoint_url
        ours = AioConfig(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"mode": "standard", "total_max_attempts": 2},
            max_pool_connections=max_concurrency,
        )
        if isinstance(s3_config, dict):
            s3_config = AioConfig(**s3_config)
        self._client_args: dict[str, Any] = {
            "region_name": s3_region_name,
            "api_version": s3_api_version,
            "use_ssl": s3_use_ssl,
            "verify": s3_verify,
            "endpoint_url": s3_endpoint_url,
            "aws_access_key_id": s3_aws_access_key_id,
            "aws_secret_access_key": s3_aws_secret_access_key,
            "aws_session_token": s3_aws_session_token,
            "config": ours.merge(s3_config) if s3_config is not None else ours,
        }

    def object_name(self, key: str) -> str:
        return self.prefix + key.replace(":", "/")

    # -- client ------------------------------------------------------------------------------
    async def _open_client(self) -> Any:
        # A fresh session per event loop (its credential cache belongs to one loop), sharing the
        # process-wide loader of botocore's service models: a client then opens in milliseconds.
        core = AioSession()
        core.register_component("data_loader", _model_loader())
        return await core.create_client("s3", **self._client_args).__aenter__()

    async def _close_client(self, client: Any) -> None:
        await client.close()

    def _describe_error(self, exc: Exception) -> tuple[bool, str] | None:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return False, f"{error.get('Code', '?')}: {error.get('Message', exc)}"
        if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
            return True, str(exc)
        if isinstance(exc, (BotoCoreError, aiohttp.ClientError, OSError)):
            return False, str(exc)
        return None

    # -- primitives --------------------------------------------------------------------------
    async def _read(self, client: Any, name: str) -> Stored | None:
        try:
            response = await client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise
        async with response["Body"] as body:
            data = await body.read()
        return Stored(data, response["ETag"])

    async def _write(
        self,
        client: Any,
        name: str,
        data: bytes,
        expires_at: float | None,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
    ) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": name, "Body": data}
        if expires_at is not None:
            args["Expires"] = datetime.datetime.fromtimestamp(expires_at, datetime.timezone.utc)
        if if_version is not None:
            args["IfMatch"] = if_version
        if if_absent:
            args["IfNoneMatch"] = "*"
        try:
            await client.put_object(**args)
        except ClientError as exc:
            if (if_version is not None or if_absent) and _code(exc) in _CONFLICT | _NOT_FOUND:
                raise VersionConflict(name) from exc
            raise

    async def _remove(self, client: Any, name: str, *, if_version: str | None = None) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": name}
        if if_version is not None:
            args["IfMatch"] = if_version
        try:
            await client.delete_object(**args)
        except ClientError as exc:
            code = _code(exc)
            if code in _NOT_FOUND:
                return
            if if_version is not None and code in _CONFLICT:
                raise VersionConflict(name) from exc
            raise

    async def _remove_many(self, client: Any, names: Sequence[str]) -> None:
        for start in range(0, len(names), 1000):  # DeleteObjects takes at most 1000 keys
            chunk = names[start : start + 1000]
            response = await client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": name} for name in chunk], "Quiet": True},
            )
            failed = response.get("Errors") or ()
            if failed:
                first = failed[0]
                raise BackendUnavailable(
                    f"s3: {len(failed)} objects were not deleted, the first {first.get('Key')!r}:"
                    f" {first.get('Code')}: {first.get('Message')}"
                )

    async def _list_names(self, client: Any, prefix: str) -> AsyncIterator[list[str]]:
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            names = [item["Key"] for item in page.get("Contents", ())]
            if names:
                yield names

    async def _probe(self, client: Any) -> None:
        await client.head_bucket(Bucket=self.bucket)

    async def async_test_connection(self) -> dict[str, Any]:
        report = await super().async_test_connection()
        report.update(bucket=self.bucket, prefix=self.prefix, endpoint_url=self.endpoint_url)
        return report

    def __repr__(self) -> str:
        return f"S3Cache(bucket={self.bucket!r}, prefix={self.prefix!r})"


@functools.cache
def _model_loader() -> Loader:
    return create_loader()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
