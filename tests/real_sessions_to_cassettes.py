"""Turn the shared corpus of public real recordings into project cassettes.

``python -m tests.real_sessions_to_cassettes [../shared/real-sessions]`` writes, for each server
below, ``cassettes/<server>-public/<case-id>.yaml`` (one vcrpy cassette per case, in the format
tests/recorder.py writes), ``cases.json`` (what tests/replay/test_public_recordings.py replays
and checks: the case's ``expect`` copied as it is, its source, and the call that replays it) and
``SOURCES.md`` (where every exchange comes from). Re-running it on the same corpus gives the
same files.

House rules kept here:

* The response body is the case file's ``response.body``, byte for byte, never edited.
  ``content-type`` is the recorded one; where the recording has none it is inferred from the
  body (JSON, SSE) and SOURCES.md says so. No other response header is written.
* Where the case recorded its request, the cassette's request is that request (the replay sends
  the same JSON: what our classes cannot say through typed parameters goes in ``extra_body``).
  Where it did not, the cassette's request is what our client sends for the replay (built by the
  same sans-IO protocol code), and SOURCES.md says so.
* Cases for APIs our classes never send are still converted (the bytes are real); their replay
  is a strict xfail that names the API. Ollama's native API (``/api/chat``, ``/``,
  ``/api/version``) is left out: no class of ours sends those routes.
"""

from __future__ import annotations

import http
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.protocols.openai import OpenAIProtocol

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"
DEFAULT_CORPUS = ROOT.parent / "shared" / "real-sessions"

SERVERS = {"lmstudio": "lmstudio", "localai": "localai", "ollama": "ollama", "vllm": "vllm"}
"""Server in the corpus -> orbit_local profile; the folder is ``cassettes/<server>-public``."""

NOT_RECORDED_PROMPT = "(This exchange's request was not recorded; orbit-local sends this prompt to replay its answer.)"
UNRECORDED_MODEL = "unrecorded-model"

UNSUPPORTED_PATHS = {
    "/v1/responses": "LM Studio's OpenAI Responses API (POST /v1/responses): orbit-local's classes send "
    "/chat/completions only",
    "/v1/messages": "LM Studio's Anthropic Messages API (POST /v1/messages): orbit-local's classes send "
    "/chat/completions only",
    "/v1/completions": "the legacy text-completion API (POST /v1/completions): orbit-local's classes send "
    "/chat/completions only (LlamaIndex complete() goes through chat)",
}
LEFT_OUT_APIS = {
    "ollama-native": "Ollama's native API; ChatOllamaOpenAI and OllamaOpenAI talk to Ollama's OpenAI-compatible /v1 side and "
    "never send this route",
}
TYPED_KEYS = ("model", "messages", "temperature", "max_tokens", "seed", "top_p", "tools", "tool_choice")


def _typed(key: str, value: Any) -> bool:
    """Whether a recorded request value is one our classes send from a typed parameter."""
    if key in ("model", "messages", "tools", "tool_choice"):
        return True
    if key in ("temperature", "top_p"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if key in ("max_tokens", "seed"):
        return isinstance(value, int) and not isinstance(value, bool) and (key == "seed" or value > 0)
    return False


def _route(case: dict[str, Any]) -> tuple[str, str | None]:
    """How the replay reaches the exchange: (route, reason when it is an xfail)."""
    path = case["request"]["path"]
    kind = case["expect"]["kind"]
    for prefix, reason in UNSUPPORTED_PATHS.items():
        if path == prefix:
            return "unsupported", reason
    if kind == "health":
        return "health", None
    if kind == "models":
        return ("context" if path == "/api/v0/models" else "models"), None
    if path.endswith("/chat/completions"):
        return ("stream" if kind == "chat_stream" else "chat"), None
    raise ValueError(f"{case['server']}: no route for {case['request']['method']} {path}")


def _origin(server: str) -> str:
    parts = urlsplit(get_provider(SERVERS[server]).default_base_url)
    return f"{parts.scheme}://{parts.netloc}"


def _base_url(server: str, route: str, path: str) -> str:
    origin = _origin(server)
    if route in ("chat", "stream"):
        return origin + path.removesuffix("/chat/completions")
    if route == "unsupported":
        return origin + path[: path.rindex("/")]  # where the classes would send /chat/completions
    if route == "models":
        return origin + path.removesuffix("/models")
    return origin + "/v1"


def _call(case: dict[str, Any], route: str) -> dict[str, Any]:
    """The arguments the replay passes to the classes, from the recorded request where there is one."""
    recorded = case["request"]["json"]
    if route == "context":
        # the context window of the first chat model the recorded list names
        entries = json.loads(case["response"]["body"])["data"]
        return {"model": next(e["id"] for e in entries if e.get("type") == "llm")}
    if route not in ("chat", "stream", "unsupported"):
        return {}
    if recorded is None or route == "unsupported":
        # a name of our own, so the model the response names is seen to come from the response
        return {
            "model": UNRECORDED_MODEL,
            "messages": [{"role": "user", "content": NOT_RECORDED_PROMPT}],
        }
    call: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in recorded.items():
        (call if _typed(key, value) else extra)[key] = value
    if "model" not in call:
        call["model"] = case["model"] or UNRECORDED_MODEL
    if extra:
        call["extra_body"] = extra
    return call


def _our_body(server: str, call: dict[str, Any], stream: bool) -> dict[str, Any]:
    """What our client sends for ``call`` (only where the exchange's request was not recorded)."""
    profile = get_provider(SERVERS[server])
    request = ChatRequest(model=call["model"], messages=[Message(**m) for m in call["messages"]])
    return OpenAIProtocol(profile, "").chat_body(request, stream=stream)


def _content_type(case: dict[str, Any]) -> tuple[str, bool]:
    """The response's content type, and whether it was inferred (not in the recording)."""
    response = case["response"]
    if response["content_type"]:
        return response["content_type"], False
    body = response["body"]
    if body.lstrip().startswith(("data:", "event:")):
        return "text/event-stream", True
    try:
        json.loads(body)
    except ValueError:
        return "text/plain; charset=utf-8", True
    return "application/json", True


def _request_body(case: dict[str, Any], route: str, call: dict[str, Any]) -> tuple[str | None, str]:
    """The cassette's request body and what it is (for SOURCES.md)."""
    recorded = case["request"]["json"]
    if recorded is not None:
        if route in ("chat", "stream") and "model" not in recorded:
            body = {**recorded, "model": call["model"]}
            extra = ", ".join(sorted(call.get("extra_body") or ())) or "nothing"
            return json.dumps(body, ensure_ascii=False), (
                "recorded, plus `model` (the recorded client named none; ours always names one: the response's); "
                f"sent through `extra_body`: {extra}"
            )
        keys = sorted(call.get("extra_body") or ())
        via = f" (sent through `extra_body`: {', '.join(keys)})" if keys and route in ("chat", "stream") else ""
        return json.dumps(recorded, ensure_ascii=False), "recorded" + via
    if route in ("chat", "stream"):
        return json.dumps(_our_body(case["server"], call, route == "stream"), ensure_ascii=False), (
            "not recorded: what orbit-local sends for the replay"
        )
    if case["request"]["method"] == "GET":
        return None, "GET (no body)"
    return None, "not recorded (no replay sends it: an unsupported API)"


def _cassette(case: dict[str, Any], uri: str, body: str | None) -> str:
    method = case["request"]["method"]
    headers: dict[str, Any] = {"accept": ["application/json"]}
    if body is not None:
        headers["content-type"] = ["application/json"]
    request = Request(method, uri, body, headers)
    response = case["response"]
    content_type, _ = _content_type(case)
    answer = {
        "status": {"code": response["status"], "message": http.HTTPStatus(response["status"]).phrase},
        "headers": {"content-type": [content_type]},
        "body": {"string": response["body"]},
    }
    return str(serialize({"requests": [request], "responses": [answer]}, yamlserializer))


def convert_case(case: dict[str, Any], case_id: str) -> tuple[str, dict[str, Any]] | None:
    """The cassette text and the ``cases.json`` entry for one case; ``None`` when left out."""
    if case["api"] in LEFT_OUT_APIS:
        return None
    route, xfail = _route(case)
    path = case["request"]["path"]
    base_url = _base_url(case["server"], route, path)
    call = _call(case, route)
    body, request_note = _request_body(case, route, call)
    content_type, inferred = _content_type(case)
    entry = {
        "server": case["server"],
        "server_version": case["server_version"],
        "model": case["model"],
        "api": case["api"],
        "source": case["source"],
        "request": {"method": case["request"]["method"], "path": path, "recorded": case["request"]["json"] is not None},
        "request_note": request_note,
        "response": {"status": case["response"]["status"], "content_type": content_type, "inferred": inferred},
        "route": route,
        "xfail": xfail,
        "base_url": base_url,
        "call": call,
        "expect": case["expect"],
    }
    return _cassette(case, _origin(case["server"]) + path, body), entry


def _commit(source: dict[str, Any]) -> str:
    return f"`{source['commit']}`" if source.get("commit") else "n/a"


def _sources_md(server: str, entries: dict[str, dict[str, Any]], left_out: dict[str, str]) -> str:
    profile = get_provider(SERVERS[server])
    lines = [
        f"# {server}-public — {profile.display_name} exchanges from public real recordings",
        "",
        f"Converted by `python -m tests.real_sessions_to_cassettes` from `../shared/real-sessions/{server}/` "
        "(the case files; their own `SOURCES.md` says which recording file each was cut from). One cassette per "
        "case; `cases.json` holds each case's `expect` as it is and the call that replays it "
        "(`tests/replay/test_public_recordings.py`, through LangChain and LlamaIndex).",
        "",
        "The response body of every cassette is the case's `response.body` byte for byte. Request: `recorded` = "
        "the recorded request (the replay sends the same JSON); `not recorded` = what orbit-local sends for the "
        "replay. Content type: `(inferred)` = the recording has none; written from the body's shape.",
        "",
        "| cassette | repository · path | commit | server version | fidelity | status · content type | request | replay |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case_id, e in entries.items():
        source = e["source"]
        ctype = e["response"]["content_type"] + (" (inferred)" if e["response"]["inferred"] else "")
        replay = f"xfail: {e['xfail']}" if e["xfail"] else e["route"]
        lines.append(
            f"| `{case_id}.yaml` | {source['repository']} · {source['path']} | {_commit(source)} | "
            f"{e['server_version'] or 'unknown'} | {source['fidelity']} | {e['response']['status']} · {ctype} | "
            f"{e['request']['method']} {e['request']['path']}: {e['request_note']} | {replay} |"
        )
    if left_out:
        lines += ["", "## Left out", ""]
        lines += [f"- `{case_id}` — {why}" for case_id, why in left_out.items()]
    lines += [
        "",
        "Routes: `chat` / `stream` = invoke/stream (LangChain) and chat/stream_chat (LlamaIndex), and their async "
        "twins, against the recorded path; `models` = `list_models()` / `alist_models()`; `context` = the context window our LM Studio classes read "
        "from `GET /api/v0/models`; `health` = the `/readyz` answer read by detection's LocalAI rule.",
        "",
        "How the replay sends: the recorded parameters our classes take as typed fields (`model`, `messages`, "
        "`temperature`, `max_tokens` > 0, `seed`, `top_p`, `tools`, `tool_choice`) go as those fields; the rest "
        '(e.g. the Ruby client\'s `"stream": false`, `"max_tokens": -1`, numbers sent as strings) through '
        "`extra_body`, so the body matches the recorded one. One attempt per exchange (`max_retries=0`). LlamaIndex "
        "asks a server's context route before its first chat (LM Studio `/api/v0/models`, vLLM `/v1/models`); "
        "these recordings hold only the exchange, so the LlamaIndex replay passes `context_window=` and sends "
        "nothing else.",
        "",
        "Re-convert: `python -m tests.real_sessions_to_cassettes ../shared/real-sessions` (rewrites this folder); "
        "`ORBIT_REAL_SESSIONS=../shared/real-sessions pytest tests/conformance/test_public_cassettes.py` checks the "
        "bodies byte for byte and that a re-conversion gives these files.",
        "",
    ]
    return "\n".join(lines)


def convert(corpus: Path, out: Path = CASSETTES) -> dict[str, int]:
    counts = {}
    for server in SERVERS:
        folder = out / f"{server}-public"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
        entries: dict[str, dict[str, Any]] = {}
        left_out: dict[str, str] = {}
        for path in sorted((corpus / server).glob("*.json")):
            case = json.loads(path.read_text(encoding="utf-8"))
            converted = convert_case(case, path.stem)
            if converted is None:
                request = case["request"]
                left_out[path.stem] = f"{request['method']} {request['path']}: {LEFT_OUT_APIS[case['api']]}"
                continue
            text, entry = converted
            (folder / f"{path.stem}.yaml").write_text(text, encoding="utf-8")
            entries[path.stem] = entry
        (folder / "cases.json").write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "SOURCES.md").write_text(_sources_md(server, entries, left_out), encoding="utf-8")
        counts[folder.name] = len(entries)
    return counts


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    corpus = Path(args[0]) if args else DEFAULT_CORPUS
    if not corpus.is_dir():
        print(f"no corpus at {corpus}: pass the real-sessions folder", file=sys.stderr)
        return 2
    for folder, count in convert(corpus).items():
        print(f"cassettes/{folder}: {count} cassettes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
