"""An instant OpenAI-compatible server on loopback, for the benchmark only.

Run in its own process (``python -m bench.server PORT``) so that its work never shares the
client's interpreter. Every answer is prepared before the first request: a chat completion,
and SSE streams of 200 and 2000 tokens in llama.cpp's chunk shape (the ``max_tokens`` of the
request picks the length), each ending with a usage chunk and ``[DONE]``. HTTP/1.1 keep-alive,
``Content-Length`` framing; nothing is computed per request but the choice of answer.
"""

from __future__ import annotations

import asyncio
import json
import sys

MODEL = "bench-model"


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    body = {
        "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
        "created": 1795604961,
        "id": "chatcmpl-jf0gxUu1rNZ8dJ6Zb0nS3k2b1C9a8Q7x",
        "model": MODEL,
        "system_fingerprint": "b0-bench",
        "object": "chat.completion.chunk",
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def sse_body(tokens: int) -> bytes:
    frames = [_chunk({"role": "assistant", "content": None})]
    frames += [_chunk({"content": f" tok{i}"}) for i in range(tokens)]
    frames.append(_chunk({}, finish="stop"))
    usage = {
        "choices": [],
        "id": "chatcmpl-jf0gxUu1rNZ8dJ6Zb0nS3k2b1C9a8Q7x",
        "model": MODEL,
        "object": "chat.completion.chunk",
        "usage": {"prompt_tokens": 9, "completion_tokens": tokens, "total_tokens": tokens + 9},
    }
    frames.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return b"".join(frames)


COMPLETION = json.dumps(
    {
        "choices": [{"finish_reason": "stop", "index": 0, "message": {"role": "assistant", "content": "Hello there."}}],
        "created": 1795604961,
        "id": "chatcmpl-jf0gxUu1rNZ8dJ6Zb0nS3k2b1C9a8Q7x",
        "model": MODEL,
        "object": "chat.completion",
        "system_fingerprint": "b0-bench",
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}).encode()


def _response(body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


ANSWERS = {
    "json": _response(COMPLETION, "application/json"),
    "models": _response(MODELS, "application/json"),
    200: _response(sse_body(200), "text/event-stream"),
    2000: _response(sse_body(2000), "text/event-stream"),
}


def answer(path: str, body: bytes) -> bytes:
    if path.endswith("/models"):
        return ANSWERS["models"]
    request = json.loads(body) if body else {}
    if request.get("stream"):
        tokens = request.get("max_tokens") or request.get("max_completion_tokens") or 200
        return ANSWERS[2000 if tokens >= 2000 else 200]
    return ANSWERS["json"]


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            length = 0
            while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            writer.write(answer(line.split(b" ")[1].decode(), body))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=512)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
