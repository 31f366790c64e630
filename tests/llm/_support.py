"""Small helpers shared by the LLM-layer tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
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


def chat_answer(content: str, **message: Any) -> dict[str, Any]:
    """A chat completion (as plain data) answering ``content``; ``message`` adds fields."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, **message},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class WordsEmbedder:
    """A deterministic embedder: texts with the same words (any case or punctuation) get the
    same vector; different words get unrelated ones."""

    name = "words-v1"
    dimension: int | None = 16

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            words = " ".join(re.findall(r"[a-z0-9]+", text.lower()))
            seed = hashlib.sha256(words.encode()).digest()
            vectors.append([(b - 127.5) / 127.5 for b in seed[:16]])
        return vectors
