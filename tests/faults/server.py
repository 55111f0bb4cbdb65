"""A loopback HTTP server that misbehaves on purpose, byte by byte.

Each request's first path segment names a fault (``/cut_mid_token/v1/chat/completions``); the
server then writes exactly the bytes (and pauses, and disconnects) that fault needs. It runs
in threads on 127.0.0.1 only, serves a bounded number of connections, and stops with its
context manager. Built on ``socketserver`` so nothing between us and the socket tidies up
what the server sends.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

Writer = Callable[["FaultHandler", dict[str, object]], None]


def sse_frame(payload: object) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def chunk(text: str | None = None, finish: str | None = None) -> dict[str, object]:
    delta = {"content": text} if text is not None else {}
    return {"id": "c1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip


@dataclass
class FaultState:
    """What the server saw, shared with the test."""

    hits: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, fault: str) -> int:
        with self.lock:
            self.hits[fault] = self.hits.get(fault, 0) + 1
            return self.hits[fault]


class FaultHandler(socketserver.BaseRequestHandler):
    server: FaultServer

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = self.request.recv(65536)
            if not piece:
                return
            data += piece
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            rest += self.request.recv(65536)
        body = json.loads(rest) if rest else {}
        fault = path.strip("/").split("/", 1)[0]
        self.server.state.hit(fault)
        action = FAULTS.get(fault, _ok)
        with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up first
            action(self, {"method": method, "path": path, "body": body, "fault": fault})

    # ----------------------------------------------------------------- writing
    def send(self, data: bytes) -> None:
        self.request.sendall(data)

    def head(self, status: int, content_type: str = "application/json", length: int | None = None,
             extra: str = "") -> None:  # fmt: skip
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                  422: "Unprocessable Entity", 500: "Internal Server Error", 501: "Not Implemented",
                  502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "X")  # fmt: skip
        size = f"Content-Length: {length}\r\n" if length is not None else ""
        self.send(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{size}{extra}Connection: close\r\n\r\n".encode())

    def whole(self, status: int, body: bytes, content_type: str = "application/json", extra: str = "") -> None:
        self.head(status, content_type, len(body), extra)
        self.send(body)


def _ok(h: FaultHandler, req: dict[str, object]) -> None:
    body = req["body"]
    assert isinstance(body, dict)
    path = str(req["path"])
    if not path.endswith(("/models", "/chat/completions")):
        h.whole(404, b'{"detail":"Not Found"}')  # like any server without that route
        return
    if path.endswith("/models"):
        h.whole(200, json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode())
        return
    text = body["messages"][-1]["content"] if body.get("messages") else "hi"
    if body.get("stream"):
        h.head(200, "text/event-stream")
        for word in str(text).split():  # echo the prompt back, one word an event: cross-talk shows
            h.send(sse_frame(chunk(word + " ")))
        h.send(sse_frame(chunk(finish="stop")) + b"data: [DONE]\n\n")
        return
    answer = {"id": "c1", "object": "chat.completion", "model": "m",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
    h.whole(200, json.dumps(answer).encode())


def _hang(h: FaultHandler, req: dict[str, object]) -> None:
    time.sleep(h.server.pause)  # connected, never answers (until the test is long gone)


def _busy_then_ok(h: FaultHandler, req: dict[str, object]) -> None:
    if h.server.state.hits["busy_then_ok"] <= 2:
        h.whole(503, b'{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}')
    else:
        _ok(h, req)


def _busy_retry_after(h: FaultHandler, req: dict[str, object]) -> None:
    if h.server.state.hits["busy_retry_after"] == 1:
        h.whole(503, b"", extra="Retry-After: 1\r\n")
    else:
        _ok(h, req)


def _slow_first_byte(h: FaultHandler, req: dict[str, object]) -> None:
    time.sleep(0.4)
    _ok(h, req)


def _stall(h: FaultHandler, req: dict[str, object]) -> None:
    h.head(200, "text/event-stream")
    h.send(sse_frame(chunk("Hel")))
    time.sleep(h.server.pause)


def _keepalives(h: FaultHandler, req: dict[str, object]) -> None:
    h.head(200, "text/event-stream")
    h.send(sse_frame(chunk("Hel")))
    for _ in range(40):
        h.send(b": ping\n\n")
        time.sleep(0.05)


def _cut_mid_token(h: FaultHandler, req: dict[str, object]) -> None:
    h.head(200, "text/event-stream")
    frame = sse_frame(chunk("Hello"))
    h.send(frame + sse_frame(chunk(" wor"))[:20])  # then the connection drops


def _cut_without_done(h: FaultHandler, req: dict[str, object]) -> None:
    h.head(200, "text/event-stream")
    h.send(sse_frame(chunk("Hello")) + sse_frame(chunk(" world")))


def _malformed_sse(h: FaultHandler, req: dict[str, object]) -> None:
    h.head(200, "text/event-stream")
    h.send(b"data: {not json at all\n\n")


def _invalid_json(h: FaultHandler, req: dict[str, object]) -> None:
    h.whole(200, b'{"choices": [{"message": {"content": "oops"')


def _html_error(h: FaultHandler, req: dict[str, object]) -> None:
    h.whole(502, b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>", "text/html")


def _wrong_content_type(h: FaultHandler, req: dict[str, object]) -> None:
    h.whole(200, b"I am a teapot, not a chat server", "text/plain")


def _huge_event(h: FaultHandler, req: dict[str, object]) -> None:
    h.head(200, "text/event-stream")
    frame = sse_frame(chunk("x" * 2_000_000))
    for start in range(0, len(frame), 65536):
        h.send(frame[start : start + 65536])
    h.send(sse_frame(chunk(finish="stop")) + b"data: [DONE]\n\n")


def _slow_event(h: FaultHandler, req: dict[str, object]) -> None:
    """One event whose bytes take longer than the timeout in total, each gap shorter."""
    h.head(200, "text/event-stream")
    frame = sse_frame(chunk("y" * 300))
    for start in range(0, len(frame), 30):
        h.send(frame[start : start + 30])
        time.sleep(0.05)
    h.send(sse_frame(chunk(finish="stop")) + b"data: [DONE]\n\n")


def _trickle(h: FaultHandler, req: dict[str, object]) -> None:
    """An event that never ends: a byte every 50 ms and never a blank line, until the pause is over."""
    h.head(200, "text/event-stream")
    h.send(sse_frame(chunk("Hel")) + b"data: ")
    for _ in range(int(h.server.pause / 0.05)):
        h.send(b"x")
        time.sleep(0.05)


def _error_frame(h: FaultHandler, req: dict[str, object]) -> None:
    h.head(200, "text/event-stream")
    h.send(sse_frame(chunk("Hel")) + sse_frame({"error": {"message": "the model crashed", "type": "server_error"}}))


def _status(code: int, body: bytes, content_type: str = "application/json") -> Writer:
    def write(h: FaultHandler, req: dict[str, object]) -> None:
        h.whole(code, body, content_type)

    return write


FAULTS: dict[str, Writer] = {
    "ok": _ok,
    "hang": _hang,
    "busy_then_ok": _busy_then_ok,
    "busy_retry_after": _busy_retry_after,
    "slow_first_byte": _slow_first_byte,
    "stall": _stall,
    "keepalives": _keepalives,
    "cut_mid_token": _cut_mid_token,
    "cut_without_done": _cut_without_done,
    "malformed_sse": _malformed_sse,
    "invalid_json": _invalid_json,
    "html_error": _html_error,
    "wrong_content_type": _wrong_content_type,
    "huge_event": _huge_event,
    "slow_event": _slow_event,
    "trickle": _trickle,
    "error_frame": _error_frame,
}


class FaultServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # the load test opens hundreds of connections at once

    def __init__(self, pause: float = 3.0) -> None:
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.state = FaultState()
        self.pause = pause

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def base_url(self, fault: str) -> str:
        return f"{self.url}/{fault}/v1"


@contextmanager
def fault_server(pause: float = 3.0) -> Iterator[FaultServer]:
    server = FaultServer(pause)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Error answers in each server family's envelope (../shared/providers), for every status the
# suite covers: "s<status>_<shape>".
SHAPES: dict[str, Callable[[int], bytes]] = {
    "openai": lambda code: json.dumps({"error": {"message": f"status {code} from the server", "type": "invalid_request_error" if code < 500 else "server_error", "code": code}}).encode(),
    "lmstudio": lambda code: json.dumps({"error": f"status {code} from the server"}).encode(),
    "fastchat": lambda code: json.dumps({"object": "error", "message": f"status {code} from the server", "code": 50001 if code >= 500 else 40302}).encode(),
    "kobold": lambda code: json.dumps({"detail": {"msg": f"status {code} from the server", "type": "service_error" if code >= 500 else "bad_input"}}).encode(),
    "plain": lambda code: f"status {code} from the server".encode(),
}
STATUSES = (400, 401, 404, 405, 422, 500, 501)
for _code in STATUSES:
    for _shape, _make in SHAPES.items():
        FAULTS[f"s{_code}_{_shape}"] = _status(_code, _make(_code), "text/plain" if _shape == "plain" else "application/json")
