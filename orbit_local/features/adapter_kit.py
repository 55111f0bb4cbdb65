"""The adapter kit: what every LangChain and LlamaIndex class of orbit-local is built from.

The classes expose the same flat fields (:mod:`orbit_local.features.settings`). This kit turns those
fields into a client (:class:`LazyClients`), a call's neutral request (:func:`chat_request`),
and a class from an ``inference.yaml`` block
(:class:`FromConfig`), so both frameworks resolve settings identically. It holds no fields
and no settings of its own.
"""

from __future__ import annotations

import difflib
import operator
import os
import threading
from contextlib import suppress
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import PrivateAttr

from orbit_local.backends.client import AsyncChatBackend, AsyncChatClient, ChatBackend, ChatClient
from orbit_local.facts.environment import pick
from orbit_local.facts.errors import OrbitLocalError
from orbit_local.facts.log import warn
from orbit_local.facts.providers import (
    GENERIC,
    OPENAI_OPTIONAL_PARAMS,
    PROFILES,
    SAMPLER_PARAMS,
    ProviderProfile,
    get_provider,
    is_auto,
)
from orbit_local.facts.types import ChatRequest, GenerationParams, Message
from orbit_local.features.config_file import ServerBlock, load_config
from orbit_local.features.settings import ChatSettings, ConnectionSettings
from orbit_local.net.discovery import cached
from orbit_local.protocols.common import tool_spec_from_openai

if TYPE_CHECKING:
    from typing_extensions import Self

PER_CALL_PARAMS = ("temperature", "max_tokens", "top_p", "seed")
HANDLED_CALL_KEYWORDS = frozenset(
    {
        *PER_CALL_PARAMS,
        *OPENAI_OPTIONAL_PARAMS,
        *SAMPLER_PARAMS,
        "tools",
        "tool_choice",
        "response_format",
        "model",
        "stop",
        "extra_body",
        "extra_headers",
        "stream_usage",
        "raw_prompt",
        "ls_structured_output_format",
    }
)
"""Per-call keywords the adapters turn into request fields; every other keyword is sent to the
server as a body field, as langchain-openai and llama-index-llms-openai do."""


def client_options(settings: ConnectionSettings) -> dict[str, Any]:
    """Keyword arguments for :class:`~orbit_local.backends.client.ChatClient` from an adapter's fields."""
    return {
        "base_url": settings.base_url,
        "api_key": settings.api_key.get_secret_value() if settings.api_key is not None else None,
        "model": settings.model,
        "timeout": settings.timeout,
        "max_retries": settings.max_retries,
        "warmup_timeout": settings.warmup_timeout,
        "startup_timeout": settings.startup_timeout,
        "headers": settings.default_headers,
        "auto_load": settings.auto_load,
    }


_OPTIONAL_OF = operator.itemgetter(*OPENAI_OPTIONAL_PARAMS)
_SAMPLERS_OF = operator.itemgetter(*SAMPLER_PARAMS)
_SCALARS_OF = operator.itemgetter("temperature", "max_tokens", "top_p", "seed", "stop", "stream_usage")


def _set_ones(names: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    """The named values that are set, in ``names``' order; none set (the usual case) is
    found by one count."""
    if values.count(None) == len(values):
        return {}
    return {name: value for name, value in zip(names, values, strict=True) if value is not None}


def chat_request(
    settings: ChatSettings,
    model: str,
    messages: list[Message],
    kwargs: dict[str, Any],
    instance_kwargs: dict[str, Any],
    *,
    stop: list[str] | None = None,
) -> ChatRequest:
    """A call's neutral request: the adapter's settings, a per-call keyword winning over the
    instance's field (``invoke(..., temperature=0)``). Both frameworks build theirs here.

    The body beyond the known fields, later sources winning: the instance's ``extra_body``,
    the framework's instance keywords (``model_kwargs`` / ``additional_kwargs``:
    ``instance_kwargs``), a per-call ``extra_body``, and per-call keywords nothing else
    handles. It runs on every call and looks at about thirty settings, so they are read from
    the fields' own dict by item getters, not one by one.
    """
    fields = settings.__dict__
    values = {**fields, **kwargs} if kwargs else fields  # a per-call keyword wins
    temperature, max_tokens, top_p, seed, stops, stream_usage = _SCALARS_OF(values)
    if stop is not None:
        stops = stop
    params = GenerationParams(
        temperature=temperature,
        max_tokens=max_tokens,
        top_p=top_p,
        stop=list(stops) if stops else None,
        seed=seed,
        options=_set_ones(OPENAI_OPTIONAL_PARAMS, _OPTIONAL_OF(values)),
        samplers=_set_ones(SAMPLER_PARAMS, _SAMPLERS_OF(values)),
    )
    body = {**(fields["extra_body"] or {}), **instance_kwargs}
    if kwargs:
        body.update(kwargs.get("extra_body") or {})
        body.update((key, value) for key, value in kwargs.items() if key not in HANDLED_CALL_KEYWORDS)
    tools = kwargs.get("tools")
    return ChatRequest(
        model=model,
        messages=messages,
        params=params,
        tools=[tool_spec_from_openai(tool) for tool in tools] if tools else [],
        tool_choice=kwargs.get("tool_choice"),
        response_format=kwargs.get("response_format"),
        extra_body=body,
        chat_template=fields["chat_template"],
        raw_prompt=kwargs.get("raw_prompt"),  # a completion prompt, sent as is by prompt-only APIs
        recover_tool_calls=fields["recover_tool_calls"],
        extra_headers=kwargs.get("extra_headers"),
        stream_usage=stream_usage,
    )


def field_names(model: Any) -> set[str]:
    """A pydantic model class's field names and their aliases: the keywords it takes."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                names.add(alias)
    return names


def unknown_keywords_to_kwargs(values: dict[str, Any], fields: set[str], into: str, owner: str) -> dict[str, Any]:
    """Constructor keywords that are no field go into ``values[into]`` (``model_kwargs``), with
    a warning that names the closest field; fields given inside it are moved back out."""
    extra = dict(values.get(into) or {})
    for key in [k for k in values if k not in fields]:
        close = difflib.get_close_matches(key, sorted(fields), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        warn(
            f"{key!r} is not a parameter of {owner}; it is sent to the server as {into}[{key!r}].{hint}",
            UserWarning,
        )
        extra[key] = values.pop(key)
    for key in [k for k in extra if k in fields]:
        warn(f"{key!r} is a parameter of {owner}: pass it directly, not in {into}", UserWarning)
        values.setdefault(key, extra.pop(key))
    values[into] = extra
    return values


class FromConfig:
    """``<Class>.from_config(path, name=None, **overrides)`` for every adapter class.

    The block is the named one, else the first enabled block for the class's server (a
    generic class takes the first enabled block of any server). Arguments win over
    environment variables, which win over the file (see :mod:`orbit_local.features.config_file`).
    """

    config_model_key: ClassVar[str] = "model"
    """Which block key fills ``model``: embeddings classes read ``embedding_model``."""

    if TYPE_CHECKING:
        model_fields: ClassVar[dict[str, Any]]

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], name: str | None = None, **overrides: Any) -> Any:
        default = cls.model_fields["provider"].default
        fixed = None if is_auto(default) or default == GENERIC else default
        block = load_config(path).block(name, provider=fixed)
        return cls(**config_settings(cls, block, overrides))


def config_settings(cls: Any, block: ServerBlock, overrides: dict[str, Any]) -> dict[str, Any]:
    """The block's settings that ``cls`` has fields for, with ``overrides`` on top.

    A setting the class has no field for is reported, not dropped in silence. LangChain keeps
    the context window in ``profile["max_input_tokens"]``, its own convention.
    """
    values = block.settings()
    model_key = getattr(cls, "config_model_key", "model")
    if model_key != "model":
        values.pop("model", None)
        chosen = getattr(block, model_key, None)
        if chosen and pick(block.profile.env_prefix, "model") is None:  # the environment wins
            values["model"] = chosen
    fields = set(cls.model_fields)
    if "context_window" in values and "context_window" not in fields and "profile" in fields:
        values["profile"] = {"max_input_tokens": values.pop("context_window")}
    unused = sorted(key for key in values if key not in fields)
    if unused:
        warn(
            f"{block.name}: {', '.join(unused)} not used by {cls.__name__}",
            UserWarning,
        )
    return {**{k: v for k, v in values.items() if k in fields}, **overrides}


def class_for_provider(base: type[Any], provider: str, generic: type[Any]) -> type[Any]:
    """The subclass of ``base`` named for a server (its ``provider`` default), else ``generic``:
    how both frameworks' factories pick ``ChatLMStudio`` / ``LMStudio`` for an lm_studio block."""
    name = get_provider(provider).name
    pending = list(base.__subclasses__())
    while pending:
        cls = pending.pop(0)
        if cls.model_fields["provider"].default == name:
            return cls
        pending.extend(cls.__subclasses__())
    return generic


_CLIENTS_LOCK = threading.RLock()
"""Guards building an adapter's clients: two threads' first calls must not both build one
(the loser's pool would leak). One lock for all instances, because building a client does no
I/O and an instance-held lock would break ``model_copy(deep=True)`` of the pydantic models;
reentrant, so a ``_new_client`` that reads another property cannot deadlock."""


class LazyClients(ConnectionSettings):
    """The connection fields plus the ``client`` / ``async_client`` built from them: the base
    of every adapter class.

    Each client is built on first use from the adapter's fields, so an async-only user never
    builds a sync client. The optional injected httpx clients are ``http_client`` and
    ``http_async_client`` (LangChain's name) or ``async_http_client`` (LlamaIndex's). A class
    that runs elsewhere (GPT4All in-process) overrides ``_new_client`` / ``_new_async_client``.
    """

    _client: ChatBackend | None = PrivateAttr(default=None)
    _async_client: AsyncChatBackend | None = PrivateAttr(default=None)

    def _private_value(self, name: str) -> Any:
        """A private attribute read from pydantic's private storage directly: its own lookup
        costs about 2 µs a read, and the adapters read several on every call."""
        # pydantic fills it for every model with private attributes: never None here.
        return self.__pydantic_private__[name]  # type: ignore[index]

    def built_clients(self) -> tuple[ChatBackend | None, AsyncChatBackend | None]:
        """The clients built so far (no I/O, nothing built)."""
        return self._private_value("_client"), self._private_value("_async_client")

    def _new_client(self) -> ChatBackend:
        return ChatClient(self.provider, http_client=self.http_client, **client_options(self))

    def _new_async_client(self) -> AsyncChatBackend:
        injected = getattr(self, "http_async_client", None) or getattr(self, "async_http_client", None)
        return AsyncChatClient(self.provider, http_client=injected, **client_options(self))

    @property
    def provider_profile(self) -> ProviderProfile:
        """The profile in use. With ``provider="auto"`` it is the one detection found (once a
        request or :meth:`detect_provider` ran), and the generic profile until then; no I/O."""
        # A named profile is found in one lookup: this is read several times on every call.
        return PROFILES.get(self.provider) or self._known_profile() or get_provider(GENERIC)

    @property
    def provider_label(self) -> str:
        """What tracing may say the server is: its profile's name once known (named, or found by
        detection), ``"auto"`` before an auto-detecting model has detected — never a guess."""
        known = self._known_profile()
        return known.name if known is not None else "auto"

    def _known_profile(self) -> ProviderProfile | None:
        provider = self.provider
        named = PROFILES.get(provider)  # a profile's name as registered: asked several times a call
        if named is not None:
            return named
        if not is_auto(provider):
            return get_provider(provider)
        for client in self.built_clients():
            if client is not None and not client.auto:
                return client.profile
        found = cached(self.base_url) if self.base_url else None
        return found.profile if found is not None else None

    def detect_provider(self) -> ProviderProfile:
        """With ``provider="auto"``, fingerprint the server now (blocking, once) and return the
        profile; where nothing answers yet, the generic profile. Other providers: their own."""
        if is_auto(self.provider) and self.provider_profile.name == GENERIC:
            with suppress(OrbitLocalError):  # nothing answers yet: the request itself will say so
                self.client.detect()
        return self.provider_profile

    async def adetect_provider(self) -> ProviderProfile:
        """Async twin of :meth:`detect_provider`; never blocks the event loop."""
        if is_auto(self.provider) and self.provider_profile.name == GENERIC:
            with suppress(OrbitLocalError):
                await self.async_client.detect()
        return self.provider_profile

    @property
    def client(self) -> ChatBackend:
        """The synchronous client (built once per instance, also when threads ask at once)."""
        client: ChatBackend | None = self._private_value("_client")
        if client is None:
            with _CLIENTS_LOCK:
                client = self._client
                if client is None:
                    client = self._client = self._new_client()
        return client

    @property
    def async_client(self) -> AsyncChatBackend:
        """The asynchronous client (built once per instance; usable on any event loop)."""
        client: AsyncChatBackend | None = self._private_value("_async_client")
        if client is None:
            with _CLIENTS_LOCK:
                client = self._async_client
                if client is None:
                    client = self._async_client = self._new_async_client()
        return client

    # ------------------------------------------------------------- lifetime
    # ``with model:`` / ``async with model:`` close the connections the model opened; an
    # httpx client passed in is its owner's to close. A closed model builds new clients if it
    # is used again. A model dropped without closing closes its pools when it is collected
    # (see orbit_local.net.transport).
    def close(self) -> None:
        """Close the synchronous client's connections."""
        with _CLIENTS_LOCK:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the asynchronous client's connections, and the synchronous one's."""
        with _CLIENTS_LOCK:
            client, self._async_client = self._async_client, None
        if client is not None:
            await client.aclose()
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
