"""S3Cache: a cache in an S3 bucket (AWS, MinIO, R2, Backblaze B2, ...), natively async."""

from __future__ import annotations

import datetime
import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

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

from ..core.codec import DEFAULT_COMPRESS_THRESHOLD, DEFAULT_MAX_ENTRY_SIZE
from ..errors import BackendTimeout, BackendUnavailable, ConfigurationError
from ._object_store import ABSENT, Match, ObjectStore, ObjectStoreCache, VersionConflict
from ._store import ErrorMap, Stored

__all__ = ["S3Cache", "S3Store"]

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class S3Store(ObjectStore[Any]):
    """Objects in one S3 bucket; conditional writes by ``If-Match`` / ``If-None-Match``."""

    errors: ClassVar[ErrorMap] = (
        *ObjectStore.errors,
        ((ConnectTimeoutError, ReadTimeoutError), BackendTimeout),
        ((ClientError, BotoCoreError, aiohttp.ClientError, OSError), BackendUnavailable),
    )

    def __init__(
        self, bucket: str, client_args: dict[str, Any], *, timeout: float, max_concurrency: int
    ) -> None:
        if not isinstance(bucket, str) or not bucket:
            raise ConfigurationError("S3Cache needs s3_bucket_name")
        super().__init__(timeout=timeout, max_concurrency=max_concurrency)
        self.bucket = bucket
        self.endpoint_url = client_args.get("endpoint_url")
        ours = AioConfig(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"mode": "standard", "total_max_attempts": 2},
            max_pool_connections=max_concurrency,
        )
        given = client_args.get("config")
        if isinstance(given, dict):
            given = AioConfig(**given)
        self._client_args = {**client_args, "config": ours.merge(given) if given else ours}

    def details(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "endpoint_url": self.endpoint_url}

    def error_message(self, exc: BaseException) -> str:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return f"{error.get('Code', '?')}: {error.get('Message', exc)}"
        return super().error_message(exc)

    # -- client ------------------------------------------------------------------------------
    async def _open_client(self) -> Any:
        # A fresh session per event loop (its credential cache belongs to one loop), sharing the
        # process-wide loader of botocore's service models: a client then opens in milliseconds.
        core = AioSession()
        core.register_component("data_loader", _model_loader())
        return await core.create_client("s3", **self._client_args).__aenter__()

    async def _close_client(self, client: Any) -> None:
        await client.close()

    # -- requests ----------------------------------------------------------------------------
    async def _read(self, client: Any, name: str) -> Stored[bytes] | None:
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
        self, client: Any, name: str, data: bytes, expires_at: float | None, match: Match = None
    ) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": name, "Body": data}
        if expires_at is not None:
            args["Expires"] = datetime.datetime.fromtimestamp(expires_at, datetime.timezone.utc)
        if match == ABSENT:
            args["IfNoneMatch"] = "*"
        elif match is not None:
            args["IfMatch"] = match
        try:
            await client.put_object(**args)
        except ClientError as exc:
            if match is not None and _code(exc) in _CONFLICT | _NOT_FOUND:
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
    store: S3Store

    @property
    def bucket(self) -> str:
        """The bucket the entries live in (``s3_bucket_name``)."""
        return self.store.bucket

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
        max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE,
    ) -> None:
        client_args = {
            "region_name": s3_region_name,
            "api_version": s3_api_version,
            "use_ssl": s3_use_ssl,
            "verify": s3_verify,
            "endpoint_url": s3_endpoint_url,
            "aws_access_key_id": s3_aws_access_key_id,
            "aws_secret_access_key": s3_aws_secret_access_key,
            "aws_session_token": s3_aws_session_token,
            "config": s3_config,
        }
        store = S3Store(
            s3_bucket_name, client_args, timeout=timeout, max_concurrency=max_concurrency
        )
        super().__init__(
            store,
            prefix=s3_path,
            default_ttl=default_ttl,
            compress_threshold=compress_threshold,
            max_entry_size=max_entry_size,
        )

    def name_of(self, key: str) -> str:
        """``key`` with ``:`` spelled ``/`` (folders, as LiteLLM names them), after the escape of
        :meth:`ObjectStoreCache.name_of`: ``acme:eu`` is ``acme/eu``, ``acme/eu`` is
        ``acme%2Feu``."""
        return super().name_of(key).replace(":", "/")


@functools.cache
def _model_loader() -> Loader:
    return create_loader()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
