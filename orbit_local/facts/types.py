"""Framework-neutral data types shared by the protocols, the transport and both adapters.

Plain slotted dataclasses rather than pydantic models: they sit on the streaming hot path
(one :class:`ChatDelta` per token) where construction cost matters, and they carry no
validation logic of their own — validation happens at the framework edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(slots=True)
class ToolCall:
    """A complete tool call as the model asked for it.

    ``id`` is kept exactly as the server sent it (LM Studio numeric strings, LocalAI's completion
    id); only when the server sent none does the parser make a stable one.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""
    parse_error: str | None = None  # set when the arguments were not valid JSON


@dataclass(slots=True)
class ToolCallChunk:
    """One streamed fragment of a tool call, merged by :class:`orbit_local.protocols.accumulate.StreamAccumulator`."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


PartKind = Literal["text", "image", "audio", "file", "raw", "unsupported"]


@dataclass(slots=True)
class ContentPart:
    """One block of a message's content, in the order the user wrote them.

    ``raw`` carries a provider-specific part as it is (LangChain's non-standard blocks);
    ``unsupported`` marks a block no server can take (a video), refused before sending.
    """

    kind: PartKind
    text: str = ""
    url: str | None = None  # an image URL (http(s) or data:), or a file given as a data URL
    data: str | None = None  # base64 payload when there is no URL
    mime_type: str | None = None
    detail: str | None = None  # image detail: "low", "high", "auto"
    filename: str | None = None
    file_id: str | None = None
    format: str | None = None  # audio: "wav" or "mp3"
    label: str | None = None  # the framework's name for the block, for error messages
    raw: dict[str, Any] | None = None


@dataclass(slots=True)
class Message:
    """One chat message in neutral form.

    ``content`` is the message's text (text parts joined by newlines); ``parts`` keeps every
    block in order when the message had more than one string of text.
    """

    role: Role
    content: str = ""
    name: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    parts: list[ContentPart] = field(default_factory=list)
    reasoning: str | None = None
    """An assistant turn's reasoning, as the model wrote it: sent back where the server takes it
    (``ProviderProfile.reasoning_key``), else dropped with a warning."""


@dataclass(slots=True)
class ToolSpec:
    """A function the model may call: OpenAI function schema in neutral form."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


@dataclass(slots=True)
class GenerationParams:
    """Sampling parameters every adapter exposes. ``None`` means "let the server decide"."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """OpenAI optional parameters that are set (``n``, ``logprobs``, ...); the protocol sends
    those the server honours and warns about the rest."""
    samplers: dict[str, Any] = field(default_factory=dict)
    """Local samplers that are set (``top_k``, ``min_p``, ``grammar``, ...), by llama.cpp's names;
    the protocol sends each under the server's key where it honours it, and warns about the rest."""


@dataclass(slots=True)
class ChatRequest:
    """A chat request before it is turned into a server's wire format."""

    model: str
    messages: list[Message]
    params: GenerationParams = field(default_factory=GenerationParams)
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    chat_template: str | None = None  # for prompt-only APIs (KoboldAI); None: the protocol's default
    raw_prompt: str | None = None  # a completion prompt: prompt-only APIs send it as is
    recover_tool_calls: bool = False  # move a tool call written as text into tool_calls
    context_window: int | None = None  # filled by the client where the API takes it (KoboldAI)
    extra_headers: dict[str, str] | None = None  # per-call headers, on top of the client's
    stream_usage: bool | None = None  # False: never ask for usage in streams


@dataclass(slots=True)
class Usage:
    """Token counts as the server reported them. Never invented."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


@dataclass(slots=True)
class ChatResult:
    """A complete, non-streamed answer."""

    text: str
    model: str | None = None
    finish_reason: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    id: str | None = None
    system_fingerprint: str | None = None
    timings: dict[str, Any] | None = None
    logprobs: list[dict[str, Any]] | None = None
    """Per-token log-probabilities as OpenAI shapes them (``token``, ``logprob``, ``bytes``,
    ``top_logprobs``), when asked for and returned."""
    raw: Any = None
    """The server's own response body, as decoded JSON."""
    alternatives: list[ChatResult] = field(default_factory=list)
    """The other choices when ``n > 1`` was sent (the first is this result)."""


@dataclass(slots=True)
class ChatDelta:
    """One streamed increment. Every field is optional; most deltas carry only ``text``."""

    text: str = ""
    reasoning: str = ""
    tool_call_chunks: list[ToolCallChunk] | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None
    system_fingerprint: str | None = None
    timings: dict[str, Any] | None = None
    logprobs: list[dict[str, Any]] | None = None
    raw: Any = None  # the stream frame's decoded JSON


@dataclass(slots=True)
class ModelInfo:
    """One entry of a server's model list."""

    id: str
    loaded: bool | None = None
    context_length: int | None = None
    kind: str | None = None  # "llm", "embeddings", ... where the server says
    owned_by: str | None = None
    size: int | None = None
    """Bytes on disk, where the server says (approximate where it lists GiB: Lemonade)."""
    state: str | None = None
    """The server's own word for the state ("loaded", "loading", "unloaded", "not-loaded",
    "sleeping"), where it has one."""
    instances: list[str] = field(default_factory=list)
    """Ids of the loaded instances, where the server loads a model more than once (LM Studio)."""
    raw: Any = field(default=None, compare=False, repr=False)
    """The server's entry, as decoded JSON."""


@dataclass(slots=True)
class ModelProgress:
    """One step of loading, unloading or downloading a model (``orbit_local.features.model_admin``).

    ``completed`` / ``total`` are bytes for downloads, where the server counts them; ``done``
    is set on the last step, which every operation ends with.
    """

    model: str
    operation: Literal["load", "unload", "pull"]
    status: str
    completed: int | None = None
    total: int | None = None
    done: bool = False
    raw: Any = field(default=None, compare=False, repr=False)

    @property
    def fraction(self) -> float | None:
        """``completed / total`` where both are known, else ``None``."""
        if self.completed is None or not self.total:
            return None
        return min(1.0, self.completed / self.total)


@dataclass(slots=True)
class EmbeddingResult:
    """Vectors in input order, plus usage when the server reports it."""

    vectors: list[list[float]]
    model: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class RankedDocument:
    """One document's place in a reranking: its position in the input and the server's score."""

    index: int
    """Position of the document in the list that was sent."""
    score: float
    """The server's relevance score (higher is more relevant; its scale is the model's own)."""


@dataclass(slots=True)
class RerankResult:
    """Documents ranked by the server's scores, best first (ties keep input order)."""

    ranking: list[RankedDocument]
    model: str | None = None
    usage: Usage | None = None


@dataclass(slots=True)
class HttpRequest:
    """What a protocol wants sent: the transport turns it into bytes on the wire.

    ``path`` is relative to the base URL (``/chat/completions``) unless ``from_root`` is set,
    in which case it is relative to the server's origin (``/api/v1/generate`` on KoboldCpp,
    whose OpenAI base URL ends in ``/v1``).
    """

    method: Literal["GET", "POST"]
    path: str
    json: dict[str, Any] | None = None
    from_root: bool = False
    headers: dict[str, str] | None = None
