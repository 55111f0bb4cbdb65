"""An in-memory OpenAI-style server for unit tests (httpx.MockTransport).

It answers like a well-behaved local server and can be told to misbehave (503s, cut
streams, error frames) so transport behaviour is testable without a network. Real server
behaviour is tested from recorded cassettes in tests/replay/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MODEL = "fake-model"


def sse(*frames: Any, done: bool = True, trailing_blank: bool = True) -> bytes:
    """Frame objects as an SSE body."""
    out = "".join(f"data: {json.dumps(f) if not isinstance(f, str) else f}\n\n" for f in frames)
    if done:
        out += "data: [DONE]" + ("\n\n" if trailing_blank else "")
    return out.encode()


def chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    body = dict(delta)
    if content is not None:
        body["content"] = content
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [{"index": 0, "delta": body, "finish_reason": finish}],
    }


def completion(text: str = "Hello there.", finish: str = "stop", usage: bool = True, **message: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text, **message}, "finish_reason": finish}
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    return body


def default_stream() -> bytes:
    return sse(
        chunk(role="assistant", content=""),
        chunk("Hel"),
        chunk("lo"),
        chunk(finish="stop"),
        {
            "id": "chatcmpl-1",
            "model": MODEL,
            "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        },
    )


@dataclass
class FakeServer:
    """Records requests; answers from ``routes`` (path suffix -> callable or list of responses)."""

    models: list[dict[str, Any]] = field(
        default_factory=lambda: [{"id": MODEL, "object": "model", "context_length": 8192}]
    )
    chat: Callable[[dict[str, Any]], httpx.Response] | None = None
    queue: list[httpx.Response | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.content]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.queue:
            item = self.queue.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        path = request.url.path
        if path.endswith("/models"):  # also LM Studio's /api/v0/models
            return httpx.Response(200, json={"object": "list", "data": self.models})
        if path == "/props":
            return httpx.Response(200, json={"default_generation_settings": {"n_ctx": 8192}})
        if path == "/api/v1/token_check":  # FastChat
            return httpx.Response(200, json={"prompts": [{"fits": True, "tokenCount": 0, "contextLength": 8192}]})
        if path.startswith("/api/"):
            return self.kobold(path, json.loads(request.content) if request.content else {})
        if path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": self.models})
        body = json.loads(request.content)
        if self.chat is not None:
            return self.chat(body)
        if body.get("stream"):
            return httpx.Response(200, content=default_stream(), headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=completion())

    kobold_united: bool = False  # True: a KoboldAI United server, without /api/extra

    def kobold(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """KoboldAI's own API, as KoboldCpp 1.76 answers it."""
        if path.startswith("/api/extra/") and self.kobold_united:
            return httpx.Response(404, text="")
        if path == "/api/extra/version":
            return httpx.Response(200, json={"result": "KoboldCpp", "version": "1.76"})
        if path == "/api/v1/model":
            return httpx.Response(200, json={"result": MODEL})
        if path in ("/api/extra/true_max_context_length", "/api/v1/config/max_context_length"):
            return httpx.Response(200, json={"value": 2048})
        if path == "/api/extra/tokencount":
            prompt = body.get("prompt", "")
            return httpx.Response(200, json={"value": 7 if "<|im_start|>" in prompt else len(prompt.split()) + 1})
        if path == "/api/v1/generate":
            result: dict[str, Any] = {"text": "Hello there."}
            if not self.kobold_united:
                result["finish_reason"] = "stop"
            return httpx.Response(200, json={"results": [result]})
        if path == "/api/extra/generate/stream":
            frames = [("Hel", "null"), ("lo", "null"), ("", "stop")]
            raw = "".join(
                f"event: message\ndata: {json.dumps({'token': t, 'finish_reason': f})}\n\n" for t, f in frames
            )
            return httpx.Response(200, content=raw.encode(), headers={"content-type": "text/event-stream"})
        if path == "/api/extra/abort":
            return httpx.Response(200, json={"success": "true", "done": "true"})
        return httpx.Response(404, text="")

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def install_fake_clock(monkeypatch: Any) -> list[float]:
    """A fake monotonic clock that only sleeping moves (``time.sleep`` and ``asyncio.sleep``);
    ``state[0]`` is the time, the sleeps are recorded after it. For the transport's retry waits."""
    state = [1000.0]

    def sleep(delay: float) -> None:
        state.append(delay)
        state[0] += delay

    async def async_sleep(delay: float) -> None:
        sleep(delay)

    monkeypatch.setattr("orbit_local.net.transport.time.monotonic", lambda: state[0])
    monkeypatch.setattr("orbit_local.net.transport.time.sleep", sleep)
    monkeypatch.setattr("asyncio.sleep", async_sleep)
    return state


def answering(*answers: Any, seen: list[Any] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    """A MockTransport handler that answers from a queue (responses, or exceptions to raise);
    the last answer repeats. ``seen`` collects the requests."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    return handle


FAKE_BASE = "http://127.0.0.1:5999/v1"
"""The base URL the in-memory server's adapter tests build their models with."""


def chat_bodies(server: FakeServer) -> list[dict[str, Any]]:
    """The JSON bodies of the chat requests ``server`` saw (OpenAI chat or KoboldAI generate)."""
    paths = ("/chat/completions", "/generate", "/generate/stream")
    return [json.loads(r.content) for r in server.requests if r.url.path.endswith(paths)]


def langchain_on(cls: type[Any], server: FakeServer, **kwargs: Any) -> Any:
    """A LangChain chat class talking to ``server`` (sync and async)."""
    clients = {"http_client": server.client(), "http_async_client": server.async_client()}
    return cls(base_url=FAKE_BASE, model="m", **clients, **kwargs)


def llamaindex_on(cls: type[Any], server: FakeServer, **kwargs: Any) -> Any:
    """A LlamaIndex LLM class talking to ``server`` (sync and async)."""
    clients = {"http_client": server.client(), "async_http_client": server.async_client()}
    return cls(base_url=FAKE_BASE, model="m", **clients, **kwargs)
