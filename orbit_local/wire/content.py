"""Message content beyond plain text: images, audio, files, in order, never dropped in silence.

Both adapters turn their framework's content blocks into :class:`~orbit_local.facts.types.ContentPart`
values; the protocols turn parts into the server's wire format. Here is what both sides share:
which kinds a server takes (``ProviderProfile.content_kinds``), the refusal before anything is
sent, and the OpenAI content-part shapes::

    text   {"type": "text", "text": ...}
    image  {"type": "image_url", "image_url": {"url": <http(s) or data URL>, "detail": ...}}
    audio  {"type": "input_audio", "input_audio": {"data": <base64>, "format": "wav" | "mp3"}}
    file   {"type": "file", "file": {"filename": ..., "file_data": <data URL>} | {"file_id": ...}}
"""

from __future__ import annotations

from typing import Any

from orbit_local.facts.errors import UnsupportedFeatureError
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.types import ContentPart, Message

TEXT_SEPARATOR = "\n"
"""Between text parts a server must receive as one string: kept apart, never glued."""

_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}


def text_of(parts: list[ContentPart]) -> str:
    """The text parts of a content list as one string, each kept on its own line."""
    return TEXT_SEPARATOR.join(part.text for part in parts if part.kind == "text")


def audio_format(part: ContentPart) -> str:
    """``wav`` or ``mp3``, from the part's format or MIME type (what ``input_audio`` takes)."""
    if part.format:
        return part.format
    mime = (part.mime_type or "").lower()
    if mime in _AUDIO_FORMATS:
        return _AUDIO_FORMATS[mime]
    raise UnsupportedFeatureError(
        f"an audio block of type {part.mime_type or 'unknown'!r}",
        hint="send WAV or MP3 audio (mime_type audio/wav or audio/mpeg), base64-encoded",
    )


def check_content(message: Message, profile: ProviderProfile, base_url: str | None = None) -> None:
    """Refuse, before anything is sent, a part this server cannot take in this message."""
    for part in message.parts:
        if part.kind == "text":
            continue
        label = part.label or part.kind
        where = f"a {message.role} message"
        if part.kind == "unsupported":
            raise UnsupportedFeatureError(
                f"{where} holds a {label!r} content block, which orbit-local cannot send to any server",
                provider=profile.display_name,
                base_url=base_url,
                hint="remove the block or turn it into text, an image, audio or a file",
            )
        if message.role == "tool":
            raise UnsupportedFeatureError(
                f"a tool result holds a {label!r} block; tool results carry text only",
                provider=profile.display_name,
                base_url=base_url,
                hint="return text from the tool, and send the image or file in a user message",
            )
        if message.role in ("system", "assistant"):
            raise UnsupportedFeatureError(
                f"{where} holds a {label!r} block; only user messages carry media",
                provider=profile.display_name,
                base_url=base_url,
                hint="move the block into a user message",
            )
        if part.kind != "raw" and part.kind not in profile.content_kinds:
            takes = ", ".join(sorted(profile.content_kinds))
            raise UnsupportedFeatureError(
                f"{where} holds a {label!r} block; this server takes only {takes}",
                provider=profile.display_name,
                base_url=base_url,
                hint=f"remove the {label} block, or use a server that takes it (see docs/content.md)",
            )
        if part.kind == "audio":
            audio_format(part)  # refuse an unusable audio type before sending


def openai_part(part: ContentPart) -> dict[str, Any]:
    """One part in the OpenAI chat-completions shape."""
    if part.kind == "text":
        return {"type": "text", "text": part.text}
    if part.kind == "image":
        image: dict[str, Any] = {"url": part.url or f"data:{part.mime_type or 'image/png'};base64,{part.data}"}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if part.kind == "audio":
        return {"type": "input_audio", "input_audio": {"data": part.data or "", "format": audio_format(part)}}
    if part.kind == "file":
        if part.file_id:
            return {"type": "file", "file": {"file_id": part.file_id}}
        file: dict[str, Any] = {
            "file_data": part.url or f"data:{part.mime_type or 'application/octet-stream'};base64,{part.data}"
        }
        if part.filename:
            file["filename"] = part.filename
        return {"type": "file", "file": file}
    if part.kind == "raw" and part.raw is not None:
        return dict(part.raw)
    raise UnsupportedFeatureError(f"a {part.label or part.kind!r} content block cannot be sent")


def openai_content(message: Message, profile: ProviderProfile) -> str | list[dict[str, Any]]:
    """The ``content`` field: a part list where order or media matter, else one string.

    Only user messages carry lists (several servers validate system, assistant and tool
    content as strings); a server that takes only strings gets the text parts on their own
    lines.
    """
    if not message.parts:
        return message.content or ""  # "" not null: llama-cpp-python 500s and FastChat 400s on null
    only_text = all(part.kind == "text" for part in message.parts)
    if message.role != "user" or (only_text and (len(message.parts) == 1 or profile.string_content)):
        return text_of(message.parts)
    return [openai_part(part) for part in message.parts]
