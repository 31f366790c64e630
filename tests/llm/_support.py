"""Small helpers shared by the LLM-layer tests."""

from __future__ import annotations

from typing import Any

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


def ask(text: str = "What is the capital of France?") -> list[dict[str, str]]:
    """A one-message chat."""
    return [{"role": "user", "content": text}]
