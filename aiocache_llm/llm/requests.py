"""What a request asks, and what must match exactly: the LLM layer's side of semantic caching.

:func:`semantic_query` turns a call's keyword arguments into the
:class:`~aiocache_llm.semantic.query.SemanticQuery` the semantic layer matches. One rule per
call shape:

* **Chat completions** (``messages``): the question is the text of the last ``user`` message
  (list / multimodal ``content`` text parts joined, images left out); the context is the text
  of every earlier ``user`` and ``assistant`` message, compared by meaning (how many turns
  there were too: the rule is :func:`~aiocache_llm.semantic.conversation.conversation_differs`).
  Exact: the model, every ``system`` / ``developer`` message, tools, response format, the
  other key parameters, whether there are earlier turns, assistant ``tool_calls``, ``tool``
  messages and non-text parts (and their places among the turns).
* **Responses** (``input``): a string ``input`` is the question, with no context; a list of
  input items is read as chat ``messages`` (``input_text`` / ``output_text`` parts are text).
  ``instructions`` and ``previous_response_id`` are exact.
* **Anthropic Messages** (``messages`` with a top-level ``system``): as chat; ``system`` (a
  string or text blocks) is exact, and so are ``tool_use`` / ``tool_result`` blocks.
* **Text completions** (``prompt``): a string prompt is the question, with no context.

:func:`split_question` (the question and the rest) and :func:`query_text` (the default
:data:`QueryExtractor`) are kept for callers that read a request themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from ..semantic.query import SemanticQuery, Turn
from .keys import call_family, digest, make_key, relevant_arguments

__all__ = ["QueryExtractor", "query_text", "semantic_query", "split_question"]

#: ``(call_type, request) -> text to embed`` (``None``: the request has no question).
QueryExtractor: TypeAlias = Callable[[str, Mapping[str, Any]], "str | None"]

_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
_CONTEXT_ROLES = frozenset({"user", "assistant"})


def _content_text(content: Any) -> tuple[str | None, Any]:
    """(text of a message ``content``, the non-text parts that remain)."""
    if content is None:
        return None, None
    if isinstance(content, str):
        return content, None
    if isinstance(content, Sequence):
        texts: list[str] = []
        rest: list[Any] = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") in _TEXT_PARTS:
                texts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                texts.append(part)
            else:
                rest.append(part)  # images, audio, files: part of the exact-match filter
        return ("\n".join(texts) if texts else None), (rest or None)
    return None, content


def _as_dict(message: Any) -> Mapping[str, Any] | None:
    if isinstance(message, Mapping):
        return message
    dump = getattr(message, "model_dump", None)
    return dump(exclude_none=True) if dump is not None else None


def _last_user_turn(messages: Any) -> tuple[int, str | None, Any]:
    """(index, text, non-text parts) of the last user message, index -1 when there is none."""
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        return -1, None, None
    for index in range(len(messages) - 1, -1, -1):
        message = _as_dict(messages[index])
        if message is not None and message.get("role") == "user":
            text, rest = _content_text(message.get("content"))
            return index, text, rest
    return -1, None, None


def split_question(request: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Split ``request`` into the question text and everything else.

    The question is the last user turn of ``messages`` (or of a message-list ``input``), else
    a string ``prompt`` or ``input``. Everything else keeps the question turn's role and its
    non-text parts, so an image attached to the question is still matched exactly.
    """
    rest = dict(request)
    for field in ("messages", "input"):
        value = request.get(field)
        if isinstance(value, str):
            if field == "input":
                rest.pop(field)
                return value, rest
            continue
        index, text, parts = _last_user_turn(value)
        if index >= 0 and value is not None:
            messages = [_as_dict(m) or m for m in value]
            question = {"role": "user"} if parts is None else {"role": "user", "content": parts}
            messages[index] = question
            rest[field] = messages
            return text, rest
    prompt = request.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str):
        rest.pop("prompt")
        return prompt, rest
    return None, rest


def query_text(call_type: str, request: Mapping[str, Any]) -> str | None:
    """The default :data:`QueryExtractor`: the question text of :func:`split_question`."""
    return split_question(request)[0]


#: What stands in the exact part for a run of earlier text-only turns (compared by meaning).
_TURNS = {"role": "turns"}


def _split_context(messages: list[Any], index: int) -> tuple[list[Any], tuple[Turn, ...]]:
    """The messages before ``index`` with the text of user and assistant turns taken out, and
    those texts as context turns. A turn with nothing left (no non-text parts, no tool calls,
    no name) is dropped, a run of them replaced by one :data:`_TURNS` marker: how many turns
    a conversation took is compared by meaning, not exactly; that it had some is exact."""
    turns: list[Turn] = []
    out: list[Any] = []
    for i, original in enumerate(messages):
        message = _as_dict(original)
        if i >= index or message is None or message.get("role") not in _CONTEXT_ROLES:
            out.append(original)
            continue
        text, parts = _content_text(message.get("content"))
        if text is None:
            out.append(original)
            continue
        turns.append(Turn(str(message["role"]), text))
        rest = {k: v for k, v in message.items() if k != "content"}
        if parts is not None:
            rest["content"] = parts
        if set(rest) != {"role"}:
            out.append(rest)
        elif not out or out[-1] != _TURNS:
            out.append(dict(_TURNS))
    return out, tuple(turns)


def semantic_query(
    call_type: str,
    request: Mapping[str, Any],
    scope: Mapping[str, str],
    extractor: QueryExtractor | None = None,
) -> SemanticQuery | None:
    """What the semantic layer matches of ``request`` (see the module doc), or ``None`` when
    it has no question. ``extractor``, when given, chooses the question text instead (the
    whole conversation then stays exact, as before the context was compared by meaning)."""
    question, rest = split_question(request)
    context: tuple[Turn, ...] = ()
    if extractor is not None and extractor is not query_text:
        question = extractor(call_type, request)
    else:
        for field in ("messages", "input"):
            value = rest.get(field)
            if isinstance(value, list):
                index = max(
                    (i for i, m in enumerate(value) if (_as_dict(m) or {}).get("role") == "user"),
                    default=-1,
                )
                if index > 0:
                    rest[field], context = _split_context(value, index)
                break
    if not question:
        return None
    exact = digest({"call": call_family(call_type), "args": relevant_arguments(call_type, rest)})
    key = make_key(
        call_type, request, namespace=scope.get("namespace"), identity=scope.get("identity")
    )
    return SemanticQuery(question=question, context=context, exact=exact, key=key)
