"""The proxy's audio routes: a transcription's multipart form read as call arguments, and the
answers of ``/audio/speech`` (audio bytes with their content type, passed on, never cached).

A form's repeated field (``timestamp_granularities[]=word&timestamp_granularities[]=segment``)
becomes one list argument, so that the key covers every value and the upstream gets them all;
``temperature`` becomes a number, as litellm and the providers read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from starlette.datastructures import FormData, UploadFile

__all__ = [
    "TEXT_FORMATS",
    "AudioAnswer",
    "form_arguments",
    "form_fields",
    "speech_answer",
    "speech_media_type",
]

#: transcription formats answered as plain text (passed through, never stored)
TEXT_FORMATS: Final = frozenset({"text", "srt", "vtt"})
#: speech ``response_format`` -> its media type (OpenAI's formats)
_SPEECH_TYPES: Final = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
_NUMBERS: Final = frozenset({"temperature"})


@dataclass(frozen=True)
class AudioAnswer:
    """Audio an upstream answered (``/audio/speech``): sent on as it is, never stored."""

    content: bytes
    content_type: str


async def form_arguments(form: FormData) -> dict[str, Any] | str:
    """The call arguments of a multipart form (a file is ``(filename, bytes, content type)``),
    or what is wrong with it."""
    body: dict[str, Any] = {}
    lists: set[str] = set()
    for raw_name, value in form.multi_items():
        name = raw_name.removesuffix("[]")
        item: Any
        if isinstance(value, UploadFile):
            item = (value.filename or name, await value.read(), value.content_type)
        else:
            item = _number(value) if name in _NUMBERS else value
        if raw_name != name or name in body:  # a list field, or a repeated one
            if name not in lists:
                body[name] = [body[name]] if name in body else []
                lists.add(name)
            body[name].append(item)
        else:
            body[name] = item
    if not isinstance(body.get("file"), tuple):
        return "'file' must be one uploaded file"
    return body


def form_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """Call arguments as form fields again (a list as the repeated ``name[]``)."""
    return {f"{k}[]" if isinstance(v, list) else k: v for k, v in body.items()}


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value  # the upstream says what is wrong with it


def speech_media_type(upstream: str | None, response_format: Any) -> str:
    """The content type of a speech answer: the upstream's when it names audio, else the one
    of the requested format (mp3 by default)."""
    media = (upstream or "").split(";", 1)[0].strip().lower()
    if media.startswith("audio/"):
        return media
    fmt = response_format if isinstance(response_format, str) else "mp3"
    return _SPEECH_TYPES.get(fmt.lower(), "audio/mpeg")


def speech_answer(answer: Any, response_format: Any) -> AudioAnswer:
    """litellm's speech answer (the OpenAI SDK's binary response) as an :class:`AudioAnswer`."""
    content = answer.content
    response = getattr(answer, "response", None)
    headers = getattr(response, "headers", None)
    upstream = headers.get("content-type") if isinstance(headers, Mapping) else None
    return AudioAnswer(bytes(content), speech_media_type(upstream, response_format))
