"""The core every layer stands on: the stored-entry codec, the worker pools, event-loop
helpers and failure descriptions. It imports nothing of the package but
:mod:`aiocache_llm.errors`."""
