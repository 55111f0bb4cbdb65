"""The settings every adapter class shares, declared once.

Four adapter bases (LangChain and LlamaIndex, chat and embeddings) expose the same flat fields.
They inherit them from these pydantic models, so a field, its range check, its environment
default and its docstring exist in one place. Framework conventions that differ stay in the
adapters: LangChain's ``model_name`` / ``stop_sequences`` aliases, its ``model_kwargs`` and
``http_async_client``; LlamaIndex's ``additional_kwargs`` and ``async_http_client``.

Bad values fail when the model is built, with a message that says what to write instead.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from orbit_local.facts.environment import with_environment
from orbit_local.facts.providers import GENERIC, OPENAI_OPTIONAL_PARAMS, get_provider, is_auto
from orbit_local.facts.redact import redact_url
from orbit_local.facts.urls import DEFAULT_API_PREFIX, check_base_url, normalise_base_url
from orbit_local.net.retry import DEFAULT_MAX_RETRIES, DEFAULT_STARTUP_TIMEOUT, DEFAULT_TIMEOUT, DEFAULT_WARMUP_TIMEOUT

MASKED_KEY = "**********"


def settings_with_environment(values: dict[str, Any], default_provider: str) -> dict[str, Any]:
    """An adapter's keywords with unset ``base_url``, ``api_key`` and ``model`` read from the
    server's environment variables (:mod:`orbit_local.facts.environment`); ``provider="auto"`` reads
    ``ORBIT_LOCAL_*``. A masked key (a dump read back) counts as unset."""
    if values.get("api_key") == MASKED_KEY:
        values = {k: v for k, v in values.items() if k != "api_key"}
    provider = values.get("provider") or default_provider
    with suppress(ValueError):  # an unknown provider is refused by its own validator
        profile = get_provider(GENERIC if is_auto(provider) else provider)
        return with_environment(profile.env_prefix, values, ("model", "model_name"))
    return values


class ConnectionSettings(BaseModel):
    """Where the server is and how to talk to it: every adapter class has these."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    def __repr_args__(self) -> Any:
        """As pydantic's, with credentials in ``base_url`` masked: ``repr()`` and ``str()`` of a
        model end up in logs and tracebacks, as an error's message does (the API key is a
        ``SecretStr`` already)."""
        for name, value in super().__repr_args__():
            yield name, (redact_url(value) if name == "base_url" and isinstance(value, str) else value)

    provider: str = "openai-compatible"
    """Provider profile name (see ``orbit_local.list_providers()``), or ``"auto"``."""
    model: str | None = None
    """Model id; when unset, ``<PREFIX>MODEL``, else the server's loaded (else first) model."""
    base_url: str | None = None
    """Base URL including the API prefix, e.g. ``http://localhost:1234/v1``."""
    api_key: SecretStr | None = None
    """Sent as ``Authorization: Bearer`` only when set; ``OPENAI_API_KEY`` is never read."""
    timeout: float | None = Field(default=DEFAULT_TIMEOUT, gt=0)
    """Read timeout in seconds for one request (``None``: wait forever)."""
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0)
    """How many times a retryable failure (``is_retryable``: refused or dropped connection,
    timeout, 503 busy/loading, 429) is retried, with back-off, before the error is raised; 0
    turns retrying off. Never after a stream yielded."""
    warmup_timeout: float = Field(default=DEFAULT_WARMUP_TIMEOUT, ge=0)
    """Seconds, from the first attempt, that a server answering "busy" or "loading model" (503)
    is waited for (30 s). A 429 is waited out for at most 5 s of it."""
    startup_timeout: float = Field(default=DEFAULT_STARTUP_TIMEOUT, ge=0)
    """Seconds, from the first attempt, that a refused or dropped connection (or a timeout) is
    retried (2 s: a server restarting). Raise it to wait for a server you are starting right
    now (KoboldCpp listens only once its model is loaded); nothing listening is otherwise
    reported within about 2 s."""
    auto_load: bool = False
    """Where the server can load models over its API (LM Studio 0.4+, Lemonade, Ollama,
    llama.cpp's router): a "model not loaded" answer loads the model (progress in the
    ``orbit_local`` log) and the request is sent once more. Off by default: a load can take
    minutes and evict another model."""
    default_headers: dict[str, str] | None = None
    """Headers sent with every request."""
    http_client: Any = Field(default=None, exclude=True)
    """Optional ``httpx.Client`` to send requests with."""

    @model_validator(mode="before")
    @classmethod
    def _read_environment(cls, values: Any) -> Any:
        """Unset ``base_url``, ``api_key`` and ``model`` from the server's environment
        variables (:mod:`orbit_local.facts.environment`); ``provider="auto"`` reads ``ORBIT_LOCAL_*``."""
        if not isinstance(values, dict):
            return values
        return settings_with_environment(values, cls.model_fields["provider"].default)

    @field_serializer("api_key")
    def _mask_api_key(self, value: SecretStr | None) -> str | None:
        """Dumps (LlamaIndex ``to_dict``/``to_json``) show the key masked, never in clear."""
        return MASKED_KEY if value is not None else None

    @field_validator("base_url")
    @classmethod
    def _base_url_is_a_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Checked and normalised once, here (:mod:`orbit_local.facts.urls`): what the field holds
        is what requests are sent to."""
        provider = info.data.get("provider")
        prefix = DEFAULT_API_PREFIX
        if isinstance(provider, str) and not is_auto(provider):
            with suppress(ValueError):
                prefix = get_provider(provider).api_prefix
        return normalise_base_url(value, prefix)

    @field_validator("provider")
    @classmethod
    def _provider_is_known(cls, value: str) -> str:
        if not is_auto(value):
            get_provider(value)  # ValueError lists the known names
        return value


class ChatSettings(ConnectionSettings):
    """Generation settings of the chat classes; per-call keywords override each of them."""

    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    """Always sent as ``max_tokens`` (never ``max_completion_tokens``)."""
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1)
    """Answers per request; every one comes back (LangChain generations, LlamaIndex ``raw``)."""
    logprobs: bool | None = None
    """Ask for token log-probabilities (LangChain ``response_metadata["logprobs"]``,
    LlamaIndex ``ChatResponse.logprobs``)."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | str | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    top_k: int | None = Field(default=None, ge=0)
    """Sample from the k most likely tokens (0: all). This and the samplers below are sent
    where the server honours them, under its own name for each, and warned about elsewhere."""
    min_p: float | None = Field(default=None, ge=0, le=1)
    """Drop tokens less likely than ``min_p`` times the most likely one."""
    repeat_penalty: float | None = Field(default=None, ge=0)
    """Penalise repeated tokens (1: off); vLLM's ``repetition_penalty``, KoboldAI's ``rep_pen``."""
    grammar: str | None = None
    """A GBNF grammar the answer must follow (llama.cpp, llama-cpp-python, LocalAI, KoboldCpp)."""
    json_schema: dict[str, Any] | None = None
    """A JSON schema llama-server turns into a grammar for the whole answer (its ``json_schema``
    field; ``with_structured_output`` / ``response_format`` are the portable way)."""
    cache_prompt: bool | None = None
    """Reuse the KV cache of the common prompt prefix across requests (llama-server)."""
    reasoning_budget: int | None = Field(default=None, ge=-1)
    """Most tokens a thinking model may spend reasoning (-1: unlimited, 0: no thinking)."""
    stream_usage: bool | None = None
    """Ask for usage in streams (``stream_options.include_usage``) where the server honours it;
    ``None`` asks wherever it can, ``False`` never asks."""
    extra_body: dict[str, Any] | None = None
    """Server-specific fields merged into every request body (``top_k``, ``repeat_penalty``...)."""
    chat_template: str | None = None
    """For servers whose API takes a raw prompt (KoboldAI): "chatml" (default), "llama3",
    "mistral", "alpaca" or "vicuna". Ignored by chat-completions servers."""
    recover_tool_calls: bool = False
    """Move a tool call the model wrote as text into tool calls (non-streamed answers only)."""

    def optional_params(self) -> dict[str, Any]:
        """The OpenAI optional parameters that are set, by name."""
        return {name: getattr(self, name) for name in OPENAI_OPTIONAL_PARAMS if getattr(self, name) is not None}


KOBOLD_SAMPLERS = ("rep_pen", "rep_pen_range", "typical", "tfs", "top_a")


class KoboldSamplers(BaseModel):
    """KoboldAI's own samplers as fields (the KoboldAI classes of both frameworks); ``top_k``,
    ``min_p`` and ``repeat_penalty`` (its ``rep_pen``) are the common fields of every chat class."""

    rep_pen: float | None = Field(default=None, ge=0)
    rep_pen_range: int | None = Field(default=None, ge=0)
    typical: float | None = Field(default=None, ge=0, le=1)
    tfs: float | None = Field(default=None, ge=0, le=1)
    top_a: float | None = Field(default=None, ge=0)

    def sampler_body(self) -> dict[str, Any]:
        """The KoboldAI samplers that are set, as generate-request keys."""
        return {name: getattr(self, name) for name in KOBOLD_SAMPLERS if getattr(self, name) is not None}

    @model_validator(mode="after")
    def _samplers_into_body(self) -> Any:
        samplers = self.sampler_body()
        if samplers:
            setattr(self, "extra_body", {**samplers, **(getattr(self, "extra_body", None) or {})})  # noqa: B010
        return self


class GPT4AllDirectSettings(BaseModel):
    """GPT4All in-process mode (the GPT4All classes of both frameworks)."""

    model_path: str | None = None
    """A local .gguf file: run it in-process instead of talking to the desktop app."""
    n_ctx: int = Field(default=2048, gt=0)
    """Context size for in-process mode."""
    n_threads: int | None = Field(default=None, gt=0)
    """CPU threads for in-process mode (default: gpt4all's choice)."""
    device: str | None = "cpu"
    """Device for in-process mode ("cpu", "gpu", ...)."""


__all__ = [
    "KOBOLD_SAMPLERS",
    "OPENAI_OPTIONAL_PARAMS",
    "ChatSettings",
    "ConnectionSettings",
    "GPT4AllDirectSettings",
    "KoboldSamplers",
    "check_base_url",
    "settings_with_environment",
]
