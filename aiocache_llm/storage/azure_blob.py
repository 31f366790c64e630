"""AzureBlobCache: a cache in an Azure Blob Storage container, natively async."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestTimeoutError,
    ServiceResponseTimeoutError,
)
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from ..core.codec import DEFAULT_COMPRESS_THRESHOLD, DEFAULT_MAX_ENTRY_SIZE
from ..errors import BackendTimeout, BackendUnavailable, ConfigurationError
from ._object_store import ABSENT, Match, ObjectStore, ObjectStoreCache, VersionConflict
from ._store import ErrorMap, Stored

__all__ = ["AzureBlobCache", "AzureBlobStore"]


@dataclass
class _Client:
    service: BlobServiceClient
    container: ContainerClient
    credential: Any


class AzureBlobStore(ObjectStore[_Client]):
    """Blobs in one Azure container (created on first use); conditions by ETag."""

    errors: ClassVar[ErrorMap] = (
        *ObjectStore.errors,
        ((ServiceRequestTimeoutError, ServiceResponseTimeoutError), BackendTimeout),
        ((AzureError, OSError), BackendUnavailable),
    )

    def __init__(
        self,
        account_url: str | None,
        container: str,
        connection_string: str | None,
        credential: Any,
        *,
        timeout: float,
        max_concurrency: int,
    ) -> None:
        if not account_url and not connection_string:
            raise ConfigurationError(
                "AzureBlobCache needs azure_account_url or azure_connection_string"
            )
        if not isinstance(container, str) or not container:
            raise ConfigurationError("AzureBlobCache needs azure_blob_container")
        super().__init__(timeout=timeout, max_concurrency=max_concurrency)
        self.account_url = account_url
        self.container_name = container
        self._connection_string = connection_string
        self._credential = credential
        self._container_ready = False

    def details(self) -> dict[str, Any]:
        where: dict[str, Any] = {"container": self.container_name}
        if self.account_url:
            where["account_url"] = self.account_url
        return where

    def error_message(self, exc: BaseException) -> str:
        if isinstance(exc, HttpResponseError):
            code = getattr(exc, "error_code", None) or exc.status_code
            return f"{code}: {exc.reason or exc.message}"
        if isinstance(exc, AzureError):
            return str(exc.message)
        return super().error_message(exc)

    # -- client ------------------------------------------------------------------------------
    async def _open_client(self) -> _Client:
        options: dict[str, Any] = {
            "connection_timeout": self.timeout,
            "read_timeout": self.timeout,
            "retry_total": 1,
        }
        credential = self._credential
        owned = None
        if self._connection_string:
            service = BlobServiceClient.from_connection_string(
                self._connection_string, credential=credential, **options
            )
        else:
            assert self.account_url is not None
            if credential is None:
                from azure.identity.aio import DefaultAzureCredential

                credential = owned = DefaultAzureCredential()
            service = BlobServiceClient(self.account_url, credential=credential, **options)
        client = _Client(service, service.get_container_client(self.container_name), owned)
        if not self._container_ready:
            try:
                await client.container.create_container()
            except ResourceExistsError:
                pass
            except BaseException:
                await self._close_client(client)
                raise
            self._container_ready = True
        return client

    async def _close_client(self, client: _Client) -> None:
        try:
            await client.container.close()
            await client.service.close()
        finally:
            if client.credential is not None:
                await client.credential.close()

    # -- requests ----------------------------------------------------------------------------
    async def _read(self, client: _Client, name: str) -> Stored[bytes] | None:
        try:
            downloader = await client.container.download_blob(name)
            data = await downloader.readall()
        except ResourceNotFoundError:
            return None
        return Stored(data, downloader.properties.etag)

    async def _write(
        self, client: _Client, name: str, data: bytes, expires_at: float | None, match: Match = None
    ) -> None:
        metadata = None
        if expires_at is not None:
            when = datetime.datetime.fromtimestamp(expires_at, datetime.timezone.utc)
            metadata = {"expires_at": when.isoformat()}
        conditions: dict[str, Any] = {"overwrite": match != ABSENT}
        if match is not None and match != ABSENT:
            conditions.update(etag=match, match_condition=MatchConditions.IfNotModified)
        try:
            await client.container.upload_blob(
                name, data, metadata=metadata, max_concurrency=1, **conditions
            )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as exc:
            if match is None:
                raise
            raise VersionConflict(name) from exc

    async def _remove(self, client: _Client, name: str, *, if_version: str | None = None) -> None:
        conditions: dict[str, Any] = {}
        if if_version is not None:
            conditions.update(etag=if_version, match_condition=MatchConditions.IfNotModified)
        try:
            await client.container.delete_blob(name, **conditions)
        except ResourceNotFoundError:
            return
        except ResourceModifiedError as exc:
            raise VersionConflict(name) from exc

    async def _list_names(self, client: _Client, prefix: str) -> AsyncIterator[list[str]]:
        async for page in client.container.list_blob_names(name_starts_with=prefix).by_page():
            names = [name async for name in page]
            if names:
                yield names

    async def _probe(self, client: _Client) -> None:
        await client.container.get_container_properties()


class AzureBlobCache(ObjectStoreCache[_Client]):
    """A cache of one blob per key in ``azure_blob_container``, named ``azure_path`` + key.

    Connect with ``azure_account_url`` (credentials from ``DefaultAzureCredential``, or an
    explicit ``azure_credential``), or with ``azure_connection_string``. The container is created
    on first use if it does not exist.

    Entries expire on read (their expiry travels inside the blob) and carry it as the blob's
    ``expires_at`` metadata. Writes overwrite. Counters use ETag conditions (``If-Match`` /
    ``If-None-Match: *``) and retry on conflict.
    """

    backend_name = "azure-blob"
    store: AzureBlobStore

    @property
    def container_name(self) -> str:
        """The container the entries live in (``azure_blob_container``)."""
        return self.store.container_name

    def __init__(
        self,
        azure_account_url: str | None = None,
        azure_blob_container: str = "aiocache-llm",
        *,
        azure_connection_string: str | None = None,
        azure_credential: Any = None,
        azure_path: str | None = None,
        default_ttl: float | None = None,
        timeout: float = 10.0,
        max_concurrency: int = 32,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
        max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE,
    ) -> None:
        store = AzureBlobStore(
            azure_account_url,
            azure_blob_container,
            azure_connection_string,
            azure_credential,
            timeout=timeout,
            max_concurrency=max_concurrency,
        )
        super().__init__(
            store,
            prefix=azure_path,
            default_ttl=default_ttl,
            compress_threshold=compress_threshold,
            max_entry_size=max_entry_size,
        )
