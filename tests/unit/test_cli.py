"""The ``orbit-local`` command: discover, doctor and chat.

``chat`` runs for real in a pseudo-terminal with the embedded SmolLM2 (GPT4All in-process), so
Ctrl-C travels as a terminal interrupt exactly as it does for a user. The other tests drive the
functions over in-memory servers whose answers are server facts.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Generator
from pathlib import Path

import httpx
import pytest

from orbit_local.backends.chat_stream import ChatStream
from orbit_local.backends.client import ChatClient
from orbit_local.cli import _stream_answer, chat_loop, main, target_settings
from orbit_local.facts.types import ChatDelta
from orbit_local.features.doctor import run_checks
from tests.fakes import FakeServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_targets_are_names_urls_or_nothing() -> None:
    assert target_settings(None) == ("auto", None)
    assert target_settings("lm-studio") == ("lmstudio", None)
    assert target_settings("127.0.0.1:8000") == ("auto", "http://127.0.0.1:8000")
    assert target_settings("http://box:5001/v1") == ("auto", "http://box:5001/v1")
    with pytest.raises(ValueError, match="Unknown provider"):
        target_settings("lmstuido")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.enable_socket
def test_discover_and_doctor_say_nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    for profile in ("LMSTUDIO_", "LOCALAI_", "FASTCHAT_", "GPT4ALL_", "KOBOLDAI_", "KOBOLDCPP_", "LEMONADE_",
                    "LLAMACPP_", "LLAMA_CPP_PYTHON_", "VLLM_", "SHIMMY_", "OLLAMA_"):  # fmt: skip
        monkeypatch.setenv(f"{profile}BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    out = io.StringIO()
    assert main(["discover", "--json"], out=out) == 0
    assert json.loads(out.getvalue()) == []
    out = io.StringIO()
    assert main(["discover"], out=out) == 0
    assert "No local server answered" in out.getvalue() and "lms server start" in out.getvalue()
    out = io.StringIO()
    assert main(["doctor", "--json"], out=out) == 1
    (only,) = json.loads(out.getvalue())
    assert only["name"] == "reachable" and only["status"] == "fail" and "discover" in only["fix"]


def test_doctor_marks_what_the_server_cannot_do_without_asking() -> None:
    """KoboldAI's native API has no tools, JSON mode or embeddings (providers/koboldcpp.md)."""
    server = FakeServer()
    client = ChatClient("koboldai", base_url="http://127.0.0.1:5001/v1", http_client=server.client())
    checks = {c.name: c for c in run_checks(client)}
    assert [c.status for c in checks.values()].count("fail") == 0
    assert (checks["tools"].status, checks["json_schema"].status, checks["embeddings"].status) == ("n/a",) * 3
    assert checks["context window"].detail == "2048 tokens"
    assert not [r for r in server.requests if r.url.path.endswith(("/embeddings", "/chat/completions"))]


def test_doctor_reads_a_block_of_an_inference_file_with_its_embedding_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``doctor --config FILE [block]``: the block's server, key and embedding_model are used;
    with no embedding model listed or named, embeddings are not tested (not failed)."""
    from orbit_local import cli

    monkeypatch.delenv("LMSTUDIO_BASE_URL", raising=False)
    monkeypatch.delenv("LMSTUDIO_API_KEY", raising=False)
    monkeypatch.setenv("BOX_KEY", "sk-box")
    server = FakeServer()
    built: list[ChatClient] = []

    def in_memory(*args: object, **kwargs: object) -> ChatClient:
        client = ChatClient(*args, **kwargs, http_client=server.client())  # type: ignore[arg-type]
        built.append(client)
        return client

    monkeypatch.setattr(cli, "ChatClient", in_memory)
    path = tmp_path / "inference.yaml"
    path.write_text(
        "lm_studio:\n  base_url: http://box:1234\n  api_key: ${BOX_KEY}\n  embedding_model: e5-small\n"
        "llama_cpp:\n  enabled: true\n  base_url: http://gpu:8080/v1\n"
    )
    out = io.StringIO()
    assert main(["doctor", "--config", str(path), "lm_studio", "--json"], out=out) in (0, 1)
    (client,) = built
    assert (client.profile.name, client.base_url, client.api_key) == ("lmstudio", "http://box:1234/v1", "sk-box")
    embeds = [json.loads(r.content) for r in server.requests if r.url.path.endswith("/embeddings")]
    assert [b["model"] for b in embeds] == ["e5-small"]
    out = io.StringIO()
    main(["doctor", "--config", str(path), "--json"], out=out)  # the enabled block: llama.cpp
    assert built[-1].base_url == "http://gpu:8080/v1"
    embeddings = next(c for c in json.loads(out.getvalue()) if c["name"] == "embeddings")
    assert embeddings["status"] == "untested" and embeddings["detail"].startswith("not tested (no embedding model)")
    assert main(["doctor", "--config", str(path), "nope"]) == 2  # a ConfigError, as every other command's error


def test_doctor_failure_lines_carry_the_fix() -> None:
    server = FakeServer(chat=lambda body: httpx.Response(500, json={"error": {"message": "embedding=True needed"}}))
    client = ChatClient("llamacpp", base_url="http://127.0.0.1:8080/v1", http_client=server.client(), max_retries=0)
    lines = [c.line for c in run_checks(client)]
    chat_line = next(line for line in lines if line.startswith("✗ chat"))
    assert "HTTP 500" in chat_line and "fix:" in chat_line


class _Stream:
    """A stream whose consumer is interrupted after two tokens; records whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    def deltas(self) -> Generator[ChatDelta, None, None]:
        try:
            yield ChatDelta(text="Once ")
            yield ChatDelta(text="upon ")
            raise KeyboardInterrupt  # what the terminal's Ctrl-C does mid-read
        finally:
            self.closed = True


def test_ctrl_c_closes_the_stream_and_keeps_what_arrived() -> None:
    stream = _Stream()
    out = io.StringIO()
    try:
        answer = _stream_answer(ChatStream(stream.deltas(), "fake-model"), out)
    except KeyboardInterrupt:  # never let it reach pytest, which would stop the whole run
        pytest.fail("Ctrl-C during an answer escaped the chat")
    assert answer == "Once upon "
    assert stream.closed and out.getvalue().endswith("[stopped]\n")


def test_chat_loop_keeps_history_and_resets() -> None:
    server = FakeServer()
    client = ChatClient("lmstudio", base_url="http://127.0.0.1:1234/v1", http_client=server.client())
    lines = iter(["hi", "again", "/reset", "fresh", "/model", "/model other", "/exit"])
    out = io.StringIO()
    assert chat_loop(client, model=None, system="Be brief.", max_tokens=8, read=lambda _: next(lines), out=out) == 0
    chats = [json.loads(r.content) for r in server.requests if r.url.path.endswith("/chat/completions")]
    assert [len(c["messages"]) for c in chats] == [2, 4, 2]  # system+user; +answer+user; reset keeps the system
    assert chats[1]["messages"][2] == {"role": "assistant", "content": "Hello"}  # the streamed "Hel" + "lo"
    assert "(model is now other)" in out.getvalue() and "* fake-model" in out.getvalue()


def _read_until(fd: int, marker: bytes, timeout: float, seen: bytearray) -> bytes:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {marker!r}; screen so far:\n{seen.decode(errors='replace')}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    at = seen.index(marker) + len(marker)
    shown = bytes(seen[:at])
    del seen[:at]
    return shown


def _as_a_terminal_starts_it() -> None:
    """In the child: the pty as its controlling terminal, and Ctrl-C's signal as a shell leaves
    it (default action, unblocked), whatever state the test process's own signals are in."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.default_int_handler)


def test_chat_in_a_pseudo_terminal_with_the_embedded_model() -> None:
    """A real session: an answer, /reset, Ctrl-C in the middle of a long answer, /exit."""
    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "orbit_local", "chat", "--embedded", "--max-tokens", "400", "--temperature", "0"],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        cwd=ROOT,
        start_new_session=True,  # its own session: the pty becomes its controlling terminal
        preexec_fn=_as_a_terminal_starts_it,
    )
    os.close(child_fd)
    seen = bytearray()
    try:
        banner = _read_until(main_fd, b"you> ", 120, seen)
        assert b"Chatting with embedded SmolLM2" in banner
        os.write(main_fd, b"What is the capital of France?\n")
        answer = _read_until(main_fd, b"you> ", 120, seen)
        assert b"Paris" in answer
        os.write(main_fd, b"/reset\n")
        assert b"(conversation forgotten)" in _read_until(main_fd, b"you> ", 10, seen)
        os.write(main_fd, b"Count from 1 to 300.\n")  # at temperature 0: a long, repetitive answer
        _read_until(main_fd, b"bot> ", 30, seen)
        _read_until(main_fd, b" ", 30, seen)  # the answer has started streaming
        os.write(main_fd, b"\x03")  # Ctrl-C at once, through the terminal's line discipline
        stopped = _read_until(main_fd, b"you> ", 60, seen)  # a busy machine generates slowly
        assert b"[stopped]" in stopped, stopped
        assert process.poll() is None  # the program is still running
        os.write(main_fd, b"/exit\n")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)  # reaped: a failure here must not leak into the next test
        os.close(main_fd)
