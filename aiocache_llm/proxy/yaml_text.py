"""YAML read with limits: nesting depth, the size aliases expand to, and number bounds.

PyYAML's safe loader recurses once per nesting level (deep input ends in ``RecursionError``)
and lets a few aliases stand for exponentially many nodes (the "billion laughs"). Here the
nesting depth and the expanded node count are checked on the composed node graph, before any
Python object is built, and every number must be finite and of a sane size.
"""

from __future__ import annotations

import math
from typing import Any, Final

import yaml

from ..errors import ConfigurationError

__all__ = ["MAX_DEPTH", "MAX_NODES", "load_yaml"]

MAX_DEPTH: Final = 64
MAX_NODES: Final = 200_000
#: The largest magnitude a number in the config may have (larger is surely a mistake, and
#: would overflow a float).
MAX_NUMBER: Final = 1e15


class _LimitedLoader(yaml.SafeLoader):
    """A safe loader whose composer refuses nesting deeper than :data:`MAX_DEPTH`."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ConfigurationError(
                    f"the YAML nests deeper than {MAX_DEPTH} levels (line {mark.line + 1})"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (memoized per node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = MAX_NODES + 1  # a cycle counts as too big
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, sizes)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            total += _expanded_size(key, sizes) + _expanded_size(value, sizes)
    sizes[id(node)] = min(total, MAX_NODES + 1)
    return sizes[id(node)]


def _check_numbers(value: Any, where: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigurationError(f"{where or 'config'}: a number must be finite, not {value}")
        if abs(value) > MAX_NUMBER:
            raise ConfigurationError(
                f"{where or 'config'}: the number is out of range (at most {MAX_NUMBER:g})"
            )
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_numbers(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_numbers(v, f"{where}[{i}]")


def load_yaml(text: str) -> Any:
    """The YAML document in ``text``, within the limits (else :class:`ConfigurationError`)."""
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_NODES:
            raise ConfigurationError(
                f"the YAML expands to more than {MAX_NODES} values (aliases repeating aliases?)"
            )
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    _check_numbers(data, "")
    return data
