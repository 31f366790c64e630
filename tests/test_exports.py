"""The public surface: what ``aiocache_llm`` exports is exactly what it lists."""

from __future__ import annotations

import inspect
from pathlib import Path

import aiocache_llm
import aiocache_llm.errors

#: the package's folders, top to bottom (the layers contract in pyproject.toml)
LAYERS = (
    "proxy",
    "integrations",
    "facade",
    "llm",
    "semantic",
    "middleware",
    "storage",
    "core",
)


def test_every_listed_name_is_exported() -> None:
    for name in aiocache_llm.__all__:
        assert hasattr(aiocache_llm, name), name


def test_every_error_is_exported_at_the_top_level_and_derives_from_cache_error() -> None:
    for name in aiocache_llm.errors.__all__:
        error = getattr(aiocache_llm.errors, name)
        assert getattr(aiocache_llm, name) is error
        assert issubclass(error, aiocache_llm.CacheError)


def test_an_optional_backend_is_reachable_or_names_its_extra() -> None:
    import aiocache_llm.storage as backends

    for name, (_, extra) in backends.OPTIONAL_BACKENDS.items():
        try:
            getattr(backends, name)
        except aiocache_llm.MissingDependencyError as exc:
            assert extra in str(exc)
        except AttributeError:
            pass  # not built in this version


def test_the_top_level_names_are_the_facades_own_objects() -> None:
    import aiocache_llm.facade

    for name in ("Cache", "cached", "wrap_openai", "enable_cache", "update_cache"):
        assert getattr(aiocache_llm, name) is getattr(aiocache_llm.facade, name), name


def test_every_public_name_at_the_top_level_is_listed() -> None:
    public = {
        name
        for name, value in vars(aiocache_llm).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public <= set(aiocache_llm.__all__), sorted(public - set(aiocache_llm.__all__))


def test_the_folders_are_the_layers_and_nothing_else_sits_at_the_top() -> None:
    package = Path(aiocache_llm.__file__).parent
    modules = {path.stem for path in package.glob("*.py")}
    assert modules == {"__init__", "__main__", "errors", "_sync", "cli"}
    folders = {path.name for path in package.iterdir() if (path / "__init__.py").exists()}
    assert folders == set(LAYERS)


def test_every_async_method_of_the_facade_has_a_generated_blocking_form() -> None:
    from aiocache_llm.facade import Cache

    async_names = [name for name in dir(Cache) if name.startswith("async_")]
    assert {"async_get_cache", "async_add_cache", "async_health"} <= set(async_names)
    # LiteLLM's own sync calls of get_cache / add_cache go to LiteLLM's sync cache path; every
    # other caller gets the generated form, kept as _blocking_<name>
    dispatching = {"async_get_cache", "async_add_cache"}
    for name in async_names:
        plain = name.removeprefix("async_")
        blocking_form = getattr(Cache, f"_blocking_{plain}" if name in dispatching else plain)
        assert blocking_form.__doc__ == f"Blocking form of :meth:`{name}`.", name


def test_every_backend_class_is_importable_from_the_top_level_by_its_litellm_name() -> None:
    from aiocache_llm.facade.registry import BACKEND_TYPES

    names = {class_name for _, class_name, _ in BACKEND_TYPES.values()}
    assert {"RedisCache", "DualCache", "RedisSemanticCache", "QdrantSemanticCache"} <= names
    for module_name, class_name, _ in BACKEND_TYPES.values():
        try:
            cls = getattr(aiocache_llm, class_name)
        except aiocache_llm.MissingDependencyError:
            continue  # its extra is not installed here
        assert cls.__name__ == class_name and cls.__module__ == module_name
    try:
        aiocache_llm.NoSuchCache  # noqa: B018 - the attribute access is the test
    except AttributeError:
        pass
    else:
        raise AssertionError("an unknown name must be an AttributeError")
