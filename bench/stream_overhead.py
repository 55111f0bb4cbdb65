"""How much a streamed token costs in orbit-local compared with decoding its JSON yourself.

A 200-token SSE body (llama.cpp's chunk shape) is served from memory (httpx.MockTransport), so
the numbers measure client work only, not a model:

- raw: httpx stream + split ``data:`` lines + ``json.loads`` each chunk (the floor);
- orbit_local: ``ChatClient.stream`` (SSE decoder, parser, deltas);
- langchain: ``ChatOrbitLocal.stream`` (plus AIMessageChunk and callbacks);
- llamaindex: ``OrbitLocal.stream_chat``.

Run: ``.venv/bin/python -m bench.stream_overhead``. Step 7 turns this into the benchmark suite
against ChatOpenAI and OpenAILike; these figures are a design check, not a unit test.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import httpx

from langchain_orbit_local import ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from orbit_local.client import ChatClient
from orbit_local.types import ChatRequest, Message

TOKENS = 200
URL = "http://127.0.0.1:8080/v1"


def body() -> bytes:
    frames = []
    for i in range(TOKENS):
        chunk = {
            "choices": [{"finish_reason": None, "index": 0, "delta": {"content": f" tok{i}"}}],
            "created": 1795604961,
            "id": "chatcmpl-jf0gxUu1rNZ8dJ6Zb0nS3k2b1C9a8Q7x",
            "model": "smollm2",
            "system_fingerprint": "b0-unknown",
            "object": "chat.completion.chunk",
        }
        frames.append(f"data: {json.dumps(chunk)}\n\n")
    final = {
        "choices": [{"finish_reason": "stop", "index": 0, "delta": {}}],
        "model": "smollm2",
        "object": "chat.completion.chunk",
    }
    frames.append(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n")
    return "".join(frames).encode()


BODY = body()


def handler(request: httpx.Request) -> httpx.Response:
    # Served in 512-byte pieces, like a socket would deliver it.
    pieces = [BODY[i : i + 512] for i in range(0, len(BODY), 512)]
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=httpx.ByteStream(b"".join(pieces)))


def raw(client: httpx.Client) -> int:
    count = 0
    with client.stream("POST", URL + "/chat/completions", json={"stream": True}) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                json.loads(line[6:])
                count += 1
    return count


def timed(run: Callable[[], object], repeat: int = 30) -> float:
    run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    transport = httpx.MockTransport(handler)
    http = httpx.Client(transport=transport)
    client = ChatClient("llamacpp", base_url=URL, http_client=http, model="smollm2")
    request = ChatRequest(model="smollm2", messages=[Message(role="user", content="hi")])
    chat = ChatOrbitLocal(provider="llamacpp", base_url=URL, model="smollm2", http_client=http)
    llm = OrbitLocal(provider="llamacpp", base_url=URL, model="smollm2", http_client=http)
    results = {
        "raw httpx + json.loads": timed(lambda: raw(http)),
        "orbit_local ChatClient.stream": timed(lambda: list(client.stream(request))),
        "LangChain ChatOrbitLocal.stream": timed(lambda: list(chat.stream("hi"))),
        "LlamaIndex OrbitLocal.stream_chat": timed(lambda: list(llm.stream_chat([]))),
    }
    floor = results["raw httpx + json.loads"]
    print(f"{TOKENS}-token stream, median of 30 runs")
    for name, seconds in results.items():
        print(f"  {name:<36} {seconds * 1000:8.2f} ms  {seconds / floor:5.2f}x raw")


if __name__ == "__main__":
    main()
