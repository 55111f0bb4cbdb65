"""A well-behaved OpenAI-style server on 127.0.0.1 that keeps connections alive.

The fault server (tests/faults/server.py) closes every connection after one answer; the
defects of pools shared across threads and event loops only show when a connection is reused,
so this one speaks HTTP/1.1 keep-alive (SSE in chunked encoding). Standard library only: a
fresh interpreter can run it without importing httpx (tests/unit/test_concurrency.py).

``/v1/rerank`` scores each document by its length. ``/hold/v1/chat/completions`` (streamed) sends one event and then waits for the client to go
away; ``LoopbackServer.disconnected`` is set when it has.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "loopback-model"


def _chunk(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    frame = {"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + json.dumps(frame).encode() + b"\n\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if self.path.endswith("/models"):
            self._json({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            self._json({"detail": "Not Found"}, 404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        if self.path.endswith("/rerank"):  # Jina/Cohere shape; the longer document scores higher
            scores = [{"index": i, "relevance_score": float(len(d))} for i, d in enumerate(body["documents"])]
            self._json({"model": MODEL, "results": scores})
            return
        if not self.path.endswith("/chat/completions"):
            self._json({"detail": "Not Found"}, 404)
            return
        text = str(body["messages"][-1]["content"])
        if not body.get("stream"):
            self._json({"id": "c1", "object": "chat.completion", "model": MODEL,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.path.startswith("/hold/"):
            self._piece(_chunk("Hel"))
            self._wait_for_disconnect()
            return
        for word in text.split():  # the prompt back, one word an event
            self._piece(_chunk(word + " "))
        self._piece(_chunk(None, "stop") + b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _json(self, payload: object, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _piece(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _wait_for_disconnect(self) -> None:
        self.connection.settimeout(30)
        with suppress(OSError):
            while self.connection.recv(1024):
                pass
            self.server.disconnected.set()  # recv() gave b"": the client closed its end
        self.close_connection = True


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.disconnected = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def hold_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hold/v1"


@contextmanager
def loopback_server() -> Iterator[LoopbackServer]:
    """The server, serving on a thread until the block ends."""
    server = LoopbackServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
