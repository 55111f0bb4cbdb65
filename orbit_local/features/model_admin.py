"""List, load, unload and download models over a server's own API, sync and async.

:class:`ModelManager` and :class:`AsyncModelManager` are I/O twins over a
:class:`~orbit_local.backends.client.ChatClient` (its detection, transport, retries and typed errors):
what to send next and what an answer means is decided by the pure sessions of
:mod:`orbit_local.protocols.admin`, and what differs per server is the profile's
:class:`~orbit_local.facts.providers.ModelAdmin`. An operation a server cannot do is refused with an
``UnsupportedFeatureError`` before anything is sent — never a silent no-op.

Example::

    with ModelManager("llamacpp", base_url="http://127.0.0.1:8080/v1") as models:
        for info in models.list_models():
            print(info.id, info.state, info.context_length, info.size)
        models.load("SmolLM2-135M-Instruct", progress=print)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, closing
from typing import TYPE_CHECKING, Any

from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import (
    AuthenticationError,
    EndpointNotFoundError,
    OrbitLocalError,
    ProtocolError,
    RequestTimeoutError,
    StreamInterruptedError,
)
from orbit_local.facts.log import logger
from orbit_local.facts.providers import ModelOperation, ProviderProfile
from orbit_local.facts.types import HttpRequest, ModelInfo, ModelProgress
from orbit_local.net.transport import DEFAULT_TIMEOUT
from orbit_local.protocols.admin import (
    JOB_POLL_INTERVAL,
    LoadSession,
    PullSession,
    Waiting,
    list_requests,
    parse_list,
    unload_requests,
    unloaded,
    with_admin_hint,
)

if TYPE_CHECKING:
    import httpx

Progress = Callable[[ModelProgress], None]
"""Called with every step of a load (a router's "loading" polls, then "loaded")."""

DEFAULT_LOAD_WAIT = 600.0
"""Seconds a load (or unload) that answers before it is done (llama.cpp's router) is waited for."""


class _ManagerBase:
    """What both twins share: the client, the profile, and everything that is not I/O."""

    client: ChatClient | AsyncChatClient

    def __init__(self, client: ChatClient | AsyncChatClient, owns: bool, load_wait: float) -> None:
        self.client = client
        self._owns = owns
        self.load_wait = load_wait

    @property
    def profile(self) -> ProviderProfile:
        return self.client.profile

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def _fallback_list(self) -> HttpRequest:
        return self.client.protocol.models_request()

    def _failed(
        self, error: OrbitLocalError, request: HttpRequest, operation: ModelOperation | None
    ) -> OrbitLocalError:
        self.client.transport.annotate(error, request)
        return with_admin_hint(self.profile, error, operation)

    def _loaded_list_missing(self, error: OrbitLocalError) -> None:
        """A loaded-models list the server refuses (LocalAI's admin-only ``/system``) leaves
        the state unknown; anything else is the caller's to see."""
        if not isinstance(error, (EndpointNotFoundError, AuthenticationError)):
            raise error
        logger.info("%s at %s: no loaded-model list (%s); states are unknown", self.profile.display_name,
                    self.base_url, error.message)  # fmt: skip

    def _report(self, step: ModelProgress, progress: Progress | None) -> None:
        logger.info("%s at %s: %s %s: %s", self.profile.display_name, self.base_url, step.operation, step.model,
                    step.status)  # fmt: skip
        if progress is not None:
            progress(step)

    def _wait_timeout(self, waiting: Waiting, started: float) -> RequestTimeoutError | None:
        if time.monotonic() - started <= self.load_wait:
            return None
        return RequestTimeoutError(
            f"{waiting.model!r} was still not {waiting.operation}ed after {self.load_wait:g} s",
            provider=self.profile.display_name,
            base_url=self.base_url,
            hint="a large model loads slowly: raise load_wait, or check the server's log",
        )

    def _line(self, session: PullSession, data: str) -> ModelProgress:
        try:
            payload = json.loads(data)
        except ValueError:
            raise ProtocolError(
                "a download progress line is not JSON",
                provider=self.profile.display_name,
                base_url=self.base_url,
                body=data[:2000],
            ) from None
        return session.feed(payload)

    def _cut(self, model: str) -> StreamInterruptedError:
        return StreamInterruptedError(
            f"the download progress of {model!r} ended before the server said it was complete",
            provider=self.profile.display_name,
            base_url=self.base_url,
            hint="the server may still be downloading; list the models, or pull again",
        )


class ModelManager(_ManagerBase):
    """Model management for one server (synchronous).

    Args:
        provider: a profile name, or ``"auto"`` to fingerprint the server.
        base_url, api_key, timeout: as for :class:`~orbit_local.backends.client.ChatClient`.
        client: an existing client to share (its connections stay open on :meth:`close`).
        load_wait: seconds a load or unload that the server finishes in the background is waited for.
    """

    client: ChatClient

    def __init__(
        self,
        provider: str | ProviderProfile = "auto",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        client: ChatClient | None = None,
        http_client: httpx.Client | None = None,
        load_wait: float = DEFAULT_LOAD_WAIT,
    ) -> None:
        owns = client is None
        if client is None:
            client = ChatClient(provider, base_url=base_url, api_key=api_key, timeout=timeout, http_client=http_client)
        super().__init__(client, owns, load_wait)

    def close(self) -> None:
        if self._owns:
            self.client.close()

    def __enter__(self) -> ModelManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, request: HttpRequest, operation: ModelOperation | None = None) -> Any:
        try:
            return self.client.transport.request_json(request)
        except OrbitLocalError as error:
            raise self._failed(error, request, operation) from error.__cause__

    def list_models(self) -> list[ModelInfo]:
        """The server's models with their state, context length and size where it tells them."""
        self.client.detect()
        listing, loaded = list_requests(self.profile, self._fallback_list())
        payload = self._send(listing)
        loaded_payload = None
        if loaded is not None:
            try:
                loaded_payload = self._send(loaded)
            except OrbitLocalError as error:
                self._loaded_list_missing(error)
        return parse_list(self.profile, self.base_url, payload, loaded_payload)

    def load(self, model: str, *, context_length: int | None = None, progress: Progress | None = None) -> ModelProgress:
        """Load ``model`` (with ``context_length`` where the server takes one); returns the
        last step once the model is loaded. ``progress`` sees every step."""
        self.client.detect()
        session = LoadSession(self.profile, self.base_url, model, context_length)
        return self._settle(session.answered(self._send(session.first_request(), "load")), session.waiting(), progress)

    def _settle(self, step: ModelProgress, waiting: Waiting, progress: Progress | None) -> ModelProgress:
        """Report ``step``; until one is done, ask the model list again (the one polling loop)."""
        started = time.monotonic()
        while True:
            self._report(step, progress)
            if step.done:
                return step
            timed_out = self._wait_timeout(waiting, started)
            if timed_out is not None:
                raise timed_out
            time.sleep(JOB_POLL_INTERVAL)
            step = waiting.polled(self._send(waiting.request(self._fallback_list())))

    def unload(self, model: str, *, progress: Progress | None = None) -> ModelProgress:
        """Unload ``model`` (every loaded instance of it, where the server loads instances);
        returns the last step once the server says it is unloaded."""
        self.client.detect()
        admin = self.profile.model_admin
        listed = self.list_models() if admin is not None and admin.unload_instances else None
        steps = [
            unloaded(self.profile, self.base_url, model, self._send(request, "unload"))
            for request in unload_requests(self.profile, self.base_url, model, listed)
        ]
        return self._settle(steps[-1], Waiting(self.profile, self.base_url, model, "unload"), progress)

    def pull(self, model: str) -> Iterator[ModelProgress]:
        """Download ``model``: its progress steps as they come, the last one ``done``."""
        self.client.detect()
        session = PullSession(self.profile, self.base_url, model)
        request: HttpRequest | None = session.first_request()
        if session.streams:
            assert request is not None
            events = self.client.transport.stream_events(request)
            try:
                with closing(events):
                    for event in events:
                        step = self._line(session, event.data)
                        yield step
                        if step.done:
                            return
            except OrbitLocalError as error:
                raise self._failed(error, request, "pull") from error.__cause__
            raise self._cut(model)
        while request is not None:
            yield session.feed(self._send(request, "pull"))
            request = session.next_request()
            if request is not None:
                time.sleep(JOB_POLL_INTERVAL)


class AsyncModelManager(_ManagerBase):
    """Asynchronous twin of :class:`ModelManager`; never blocks the event loop."""

    client: AsyncChatClient

    def __init__(
        self,
        provider: str | ProviderProfile = "auto",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        client: AsyncChatClient | None = None,
        http_client: httpx.AsyncClient | None = None,
        load_wait: float = DEFAULT_LOAD_WAIT,
    ) -> None:
        owns = client is None
        if client is None:
            client = AsyncChatClient(
                provider, base_url=base_url, api_key=api_key, timeout=timeout, http_client=http_client
            )
        super().__init__(client, owns, load_wait)

    async def aclose(self) -> None:
        if self._owns:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncModelManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _send(self, request: HttpRequest, operation: ModelOperation | None = None) -> Any:
        try:
            return await self.client.transport.request_json(request)
        except OrbitLocalError as error:
            raise self._failed(error, request, operation) from error.__cause__

    async def list_models(self) -> list[ModelInfo]:
        await self.client.detect()
        listing, loaded = list_requests(self.profile, self._fallback_list())
        payload = await self._send(listing)
        loaded_payload = None
        if loaded is not None:
            try:
                loaded_payload = await self._send(loaded)
            except OrbitLocalError as error:
                self._loaded_list_missing(error)
        return parse_list(self.profile, self.base_url, payload, loaded_payload)

    async def load(
        self, model: str, *, context_length: int | None = None, progress: Progress | None = None
    ) -> ModelProgress:
        await self.client.detect()
        session = LoadSession(self.profile, self.base_url, model, context_length)
        step = session.answered(await self._send(session.first_request(), "load"))
        return await self._settle(step, session.waiting(), progress)

    async def _settle(self, step: ModelProgress, waiting: Waiting, progress: Progress | None) -> ModelProgress:
        started = time.monotonic()
        while True:
            self._report(step, progress)
            if step.done:
                return step
            timed_out = self._wait_timeout(waiting, started)
            if timed_out is not None:
                raise timed_out
            await asyncio.sleep(JOB_POLL_INTERVAL)
            step = waiting.polled(await self._send(waiting.request(self._fallback_list())))

    async def unload(self, model: str, *, progress: Progress | None = None) -> ModelProgress:
        await self.client.detect()
        admin = self.profile.model_admin
        listed = await self.list_models() if admin is not None and admin.unload_instances else None
        steps = [
            unloaded(self.profile, self.base_url, model, await self._send(request, "unload"))
            for request in unload_requests(self.profile, self.base_url, model, listed)
        ]
        return await self._settle(steps[-1], Waiting(self.profile, self.base_url, model, "unload"), progress)

    async def pull(self, model: str) -> AsyncIterator[ModelProgress]:
        await self.client.detect()
        session = PullSession(self.profile, self.base_url, model)
        request: HttpRequest | None = session.first_request()
        if session.streams:
            assert request is not None
            events = self.client.transport.stream_events(request)
            try:
                async with aclosing(events):
                    async for event in events:
                        step = self._line(session, event.data)
                        yield step
                        if step.done:
                            return
            except OrbitLocalError as error:
                raise self._failed(error, request, "pull") from error.__cause__
            raise self._cut(model)
        while request is not None:
            yield session.feed(await self._send(request, "pull"))
            request = session.next_request()
            if request is not None:
                await asyncio.sleep(JOB_POLL_INTERVAL)
