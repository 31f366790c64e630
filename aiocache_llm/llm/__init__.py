"""The LLM layer: which calls use the cache and how.

* :mod:`.keys` — cache keys: a hash of exactly the arguments that change an answer, with the
  namespace, identity and key-schema version in one unambiguous encoding.
* :mod:`.requests` — what a request asks (the text a semantic cache compares) and what must
  match exactly (everything else).
* :mod:`.entries` — the one stored-entry format and its version; :mod:`.result_types` — the
  types each call site gets back from an entry.
* :mod:`.singleflight` — identical concurrent misses share one upstream call.
* :mod:`.context` — the state one call carries from decision to report.
* :mod:`.handler` — the one path every cached call takes; :mod:`.answers`, :mod:`.stale`,
  :mod:`.lease`, :mod:`.scoping`, :mod:`.embedding_calls` and :mod:`.report` hold its parts.

Controls (:mod:`aiocache_llm.llm.controls`), events (:mod:`aiocache_llm.llm.events`) and stream
objects (:mod:`aiocache_llm.llm.streaming`) are the layer's vocabulary, shared with the facade.
"""
