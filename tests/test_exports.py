"""The public surface: what ``aiocache_llm`` exports is exactly what it lists."""

from __future__ import annotations

import aiocache_llm
import aiocache_llm.errors


def test_every_listed_name_is_exported() -> None:
    for name in aiocache_llm.__all__:
        assert hasattr(aiocache_llm, name), name


def test_every_error_is_exported_at_the_top_level_and_derives_from_cache_error() -> None:
    for name in aiocache_llm.errors.__all__:
        error = getattr(aiocache_llm.errors, name)
        assert getattr(aiocache_llm, name) is error
        assert issubclass(error, aiocache_llm.CacheError)


def test_an_optional_backend_is_reachable_or_names_its_extra() -> None:
    import aiocache_llm.backends as backends

    for name, (_, extra) in backends.OPTIONAL_BACKENDS.items():
        try:
            getattr(backends, name)
        except aiocache_llm.MissingDependencyError as exc:
            assert extra in str(exc)
        except AttributeError:
            pass  # not built in this version
