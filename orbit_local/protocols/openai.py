"""The OpenAI chat-completions wire format, as local servers actually speak it.

Sans-IO: builds request bodies from a :class:`ChatRequest` and parses JSON bodies and SSE
events back into neutral results. Every server difference is read from the
:class:`ProviderProfile` — nothing here knows a server by name.

Tolerated on input (all seen on real servers): ``finish_reason`` as the string ``"null"``;
reasoning in ``reasoning_content``, ``reasoning`` or ``thinking``; tool-call ``arguments`` as a
string or an object; tool calls without ``id``; chunks without ``object``/``created``; a role
chunk with ``content: null``; usage only in a trailing ``choices: []`` chunk; a whole
``chat.completion`` body where a stream was asked for; error objects inside 200 bodies.
"""

from __future__ import annotations

import json
from typing import Any

from orbit_local.facts.errors import ProtocolError, StreamInterruptedError, UnsupportedFeatureError
from orbit_local.facts.log import warn
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    HttpRequest,
    Message,
    ModelInfo,
    ToolCall,
    ToolCallChunk,
    Usage,
)
from orbit_local.protocols.common import cut_mid_event, loads_frame, parse_arguments, stable_tool_call_id
from orbit_local.protocols.errors import error_in_payload
from orbit_local.protocols.params import (
    ModelFallbackWarning,
    ParameterNotSentWarning,
    add_options,
    add_samplers,
    reasoning_field,
    warn_reasoning_not_sent,
)
from orbit_local.protocols.roles import fit_role_order
from orbit_local.protocols.shapes import SHAPE_ERRORS, expect_object, shape_error, typed_shapes
from orbit_local.wire.content import check_content, openai_content
from orbit_local.wire.reasoning import ThinkSplitter, split_think
from orbit_local.wire.stops import split_at_stop
from orbit_local.wire.streams import SSEEvent

_REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
_REASONING_KEY_SET = frozenset(_REASONING_KEYS)
_ERROR_KEYS = frozenset({"error", "error_code", "detail"})  # an answer with one of these may be an error


def parse_usage(raw: Any, *, reliable: bool = True, skip_zero: bool = False) -> Usage | None:
    """Usage from an OpenAI ``usage`` object; ``None`` when absent or not trusted.

    ``skip_zero`` drops an all-zero object: LocalAI <= 3.7 put one on every stream chunk, and
    it must not overwrite the real numbers of the last chunk. A whole response that says zero
    keeps its zeros: that is what the server reported.
    """
    if not reliable or not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    if prompt is None and completion is None:
        return None
    prompt = int(prompt or 0)
    completion = int(completion or 0)
    total = raw.get("total_tokens")
    total = int(total) if total is not None else prompt + completion
    if skip_zero and prompt == 0 and completion == 0 and total == 0:
        return None
    return Usage(input_tokens=prompt, output_tokens=completion, total_tokens=total)


def _text_of(content: Any) -> str:
    """Message content as text: a string, or the text parts of a content-part list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "output_text")
        )
    return str(content)


def _reasoning_of(obj: dict[str, Any]) -> str | None:
    for key in _REASONING_KEYS:
        value = obj.get(key)
        if value:
            return value if isinstance(value, str) else str(value)
    return None


def tool_choice_kind(choice: str | dict[str, Any] | None) -> str | None:
    """``"auto"``, ``"none"``, ``"required"`` or ``"named"`` for any way of writing a choice."""
    if choice is None:
        return None
    if isinstance(choice, str) and choice in ("auto", "none", "required", "any"):
        return "required" if choice == "any" else choice
    return "named"


def _finish(value: Any) -> str | None:
    if value is None or value == "null" or value == "":
        return None
    return str(value)


class OpenAIProtocol:
    """OpenAI ``/chat/completions``, ``/models`` and ``/embeddings`` for one profile."""

    sends_context_window = False

    def __init__(self, profile: ProviderProfile, base_url: str = "") -> None:
        self.profile = profile
        self.base_url = base_url

    # ------------------------------------------------ hooks this protocol does not need
    def probe_request(self) -> HttpRequest | None:
        return None

    def apply_probe(self, payload: Any) -> None:
        return None

    def abort_request(self, sent: HttpRequest) -> HttpRequest | None:
        return None  # closing the connection is how OpenAI-style servers are told to stop

    counts_usage = False  # answers carry usage where the server has it

    def usage_requests(self, request: ChatRequest, sent: HttpRequest, text: str) -> list[HttpRequest]:
        return []

    @typed_shapes("the usage")
    def parse_usage(self, payloads: list[Any]) -> Usage | None:
        return None

    def context_requests(self, model: str | None = None) -> list[HttpRequest]:
        profile = self.profile
        path = profile.context_path
        if not path:
            return []
        if profile.context_body is not None:
            if not model:
                return []  # the POST names a model; without one there is nothing to ask
            body = _with_model(profile.context_body, model)
            return [HttpRequest("POST", path, body, from_root=profile.context_from_root)]
        return [HttpRequest("GET", path, from_root=profile.context_from_root)]

    @typed_shapes("the context answer")
    def parse_context(self, payload: Any, model: str | None) -> int | None:
        """The context size from a model list (the entry for ``model``, else the loaded or
        first one with a size) or from llama.cpp's ``/props``."""
        if not isinstance(payload, dict):
            return None
        settings = payload.get("default_generation_settings")
        for source in (settings, payload):
            if isinstance(source, dict) and isinstance(source.get("n_ctx"), int) and source["n_ctx"] > 0:
                return int(source["n_ctx"])
        if isinstance(payload.get("value"), int) and payload["value"] > 0:  # KoboldCpp's true_max_context_length
            return int(payload["value"])
        checked = payload.get("prompts")  # FastChat's token_check
        if isinstance(checked, list) and checked and isinstance(checked[0], dict):
            length = checked[0].get("contextLength")
            return int(length) if isinstance(length, int) and length > 0 else None
        entries = payload.get("data") if isinstance(payload.get("data"), list) else payload.get("models")
        if not isinstance(entries, list):
            return None
        infos = [info for info in (model_info(e) for e in entries) if info is not None and info.context_length]
        for candidates in ([i for i in infos if i.id == model], [i for i in infos if i.loaded], infos):
            if candidates:
                return candidates[0].context_length
        return None

    # ----------------------------------------------------------------- requests
    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        body = self.chat_body(request, stream=stream)
        return HttpRequest("POST", self.profile.chat_path, body, headers=request.extra_headers)

    def chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body for ``/chat/completions``; only keys this server accepts."""
        profile = self.profile
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [self._message(m) for m in request.messages],
        }
        warn_reasoning_not_sent(request.messages, profile)
        if profile.alternating_roles:
            body["messages"] = fit_role_order(body["messages"], profile, self.base_url)
        params = request.params
        if params.temperature is not None:
            body["temperature"] = params.temperature
        max_tokens = params.max_tokens if params.max_tokens is not None else profile.default_max_tokens
        if max_tokens is not None:
            body["max_tokens"] = max_tokens  # never rewritten to max_completion_tokens
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop and not profile.client_side_stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.options:
            add_options(body, params.options, profile)
        if params.samplers:
            add_samplers(body, params.samplers, profile)
        if request.tools:
            self._add_tools(body, request)
        elif request.tool_choice is not None:
            warn(f"tool_choice without tools is not sent to {profile.display_name}.", ParameterNotSentWarning)
        if request.chat_template:
            warn(
                f"chat_template is not sent to {profile.display_name}: its chat API applies the model's own "
                "template (chat_template is for prompt APIs: KoboldAI, GPT4All's direct mode).",
                ParameterNotSentWarning,
            )
        if request.response_format is not None:
            body["response_format"] = self._response_format(request.response_format)
        if stream:
            if (body.get("n") or 1) > 1:
                raise UnsupportedFeatureError(
                    f"n={body['n']} cannot be streamed: the answers would arrive interleaved",
                    provider=profile.display_name,
                    base_url=self.base_url,
                    hint="call invoke/chat (not stream) for several answers, or set n=1",
                )
            body["stream"] = True
            if request.recover_tool_calls and request.tools:
                warn(
                    f"recover_tool_calls applies to whole answers: this stream from {profile.display_name} is "
                    "passed on as it comes (call invoke/chat to recover tool calls written as text).",
                )
            if profile.stream_usage == "include_usage" and request.stream_usage is not False:
                body["stream_options"] = {"include_usage": True}
            elif profile.stream_usage == "never" and request.stream_usage:
                warn(
                    f"{profile.display_name} sends no usage in streams; stream_usage=True is not sent "
                    "(invoke/chat answers carry usage).",
                    ParameterNotSentWarning,
                )
        if request.extra_body:
            body.update(request.extra_body)
        if profile.allowed_request_keys is not None:
            dropped = [k for k in body if k not in profile.allowed_request_keys]
            for key in dropped:
                del body[key]
            set_by_user = {"seed", "top_p", *params.options, *(profile.sampler_keys.get(n) for n in params.samplers)}
            user_dropped = [k for k in dropped if k in request.extra_body or k in set_by_user]
            if user_dropped:
                warn(
                    f"{profile.display_name} rejects {', '.join(sorted(user_dropped))}; not sent.",
                    ParameterNotSentWarning,
                )
        return body

    def _message(self, message: Message) -> dict[str, Any]:
        profile = self.profile
        strict = profile.allowed_request_keys is not None
        parts = message.parts
        plain = len(parts) == 1 and parts[0].kind == "text"  # one string: nothing to check or lay out
        if not plain:
            check_content(message, profile, self.base_url)
        if message.role == "tool" and not profile.tool_role:
            return {
                "role": "user",
                "content": f"Result of tool call {message.tool_call_id or ''}:\n{message.content}",
            }
        out: dict[str, Any] = {
            "role": message.role,
            "content": parts[0].text if plain else openai_content(message, profile),
        }
        if message.name and not strict and message.role != "tool":
            out["name"] = message.name
        if message.tool_calls:
            if profile.tool_calling:
                out["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": call.raw_arguments or json.dumps(call.arguments),
                        },
                    }
                    for call in message.tool_calls
                ]
            else:
                calls = "; ".join(f"{c.name}({json.dumps(c.arguments)})" for c in message.tool_calls)
                out["content"] = f"{out['content']}\n[called tools: {calls}]".strip()
        if message.role == "tool" and message.tool_call_id is not None:
            out["tool_call_id"] = message.tool_call_id
        if message.reasoning:
            out.update(reasoning_field(message, profile))
        return out

    def _add_tools(self, body: dict[str, Any], request: ChatRequest) -> None:
        profile = self.profile
        if not profile.tool_calling:
            raise UnsupportedFeatureError(
                "this server has no tool calling",
                provider=profile.display_name,
                base_url=self.base_url,
                hint="use a server with tool support (llama.cpp --jinja, LM Studio, LocalAI, vLLM, Ollama)",
            )
        tools = []
        for spec in request.tools:
            function: dict[str, Any] = {
                "name": spec.name,
                "description": spec.description,
                "parameters": spec.parameters,
            }
            if spec.strict is not None:
                function["strict"] = spec.strict
            tools.append({"type": "function", "function": function})
        body["tools"] = tools
        choice = self._tool_choice(request.tool_choice, [spec.name for spec in request.tools])
        if choice is None and profile.tool_choice_required_with_tools:
            choice = "auto"  # KoboldCpp ignores tools unless tool_choice is sent
        if choice is not None:
            body["tool_choice"] = choice

    def _tool_choice(self, choice: str | dict[str, Any] | None, tool_names: list[str]) -> str | dict[str, Any] | None:
        """Fit ``tool_choice`` to what the server honours.

        "required" with a single tool is the same as naming that tool, so a server that
        honours only named choices (llama-cpp-python) gets the named form. Anything else the
        server cannot honour is downgraded, with a warning.
        """
        if choice is None:
            return None
        allowed = self.profile.tool_choices
        kind = tool_choice_kind(choice)
        if len(tool_names) == 1 and kind not in allowed:
            # With one tool, "required" and naming that tool mean the same: use the one honoured.
            if kind == "required" and "named" in allowed:
                return {"type": "function", "function": {"name": tool_names[0]}}
            if kind == "named" and "required" in allowed:
                return "required"
        value: str | dict[str, Any]
        if kind != "named":
            value = str(kind)
        else:
            value = choice if isinstance(choice, dict) else {"type": "function", "function": {"name": choice}}
        if kind in allowed:
            return value
        fallback = next((k for k in ("required", "auto") if k in allowed and k != kind), None)
        if kind == "none":
            fallback = None
        warn(
            f"{self.profile.display_name} does not honour tool_choice={kind!r}; "
            f"sending {fallback or 'no tool_choice'} instead.",
        )
        return fallback

    def _response_format(self, fmt: dict[str, Any]) -> dict[str, Any]:
        """Translate between ``json_schema`` and ``json_object`` where a server has only one."""
        profile = self.profile
        kind = fmt.get("type")
        if kind == "json_object" and not profile.json_object:
            if profile.json_schema:
                # LM Studio: 400 on json_object; an open object schema means the same.
                return {"type": "json_schema", "json_schema": {"name": "json_object", "schema": {"type": "object"}}}
            raise UnsupportedFeatureError(
                "this server has no JSON mode", provider=profile.display_name, base_url=self.base_url
            )
        if kind == "json_schema" and not profile.json_schema:
            schema = (fmt.get("json_schema") or {}).get("schema")
            if profile.json_object:
                # llama-cpp-python: json_schema -> 500, but json_object takes a schema.
                return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
            raise UnsupportedFeatureError(
                "this server has no structured output", provider=profile.display_name, base_url=self.base_url
            )
        return fmt

    def models_request(self) -> HttpRequest:
        return HttpRequest("GET", self.profile.models_path)

    def embeddings_request(self, texts: list[str], model: str) -> HttpRequest:
        if not self.profile.embeddings:
            raise UnsupportedFeatureError(
                "this server has no embeddings endpoint", provider=self.profile.display_name, base_url=self.base_url
            )
        # Always strings, never token arrays (FastChat then tries to download a tokenizer).
        return HttpRequest("POST", self.profile.embeddings_path, {"model": model, "input": list(texts)})

    # ------------------------------------------------------------------ parsing
    def _raise_if_error(self, payload: Any, status: int | None = None) -> None:
        if isinstance(payload, dict) and (not _ERROR_KEYS.isdisjoint(payload) or payload.get("object") == "error"):
            error = error_in_payload(self.profile, self.base_url, payload, status)
            if error is not None:
                raise error

    def _protocol_error(self, message: str, payload: Any) -> ProtocolError:
        return ProtocolError(
            message,
            provider=self.profile.display_name,
            base_url=self.base_url,
            body=json.dumps(payload)[:2000] if payload is not None else None,
        )

    def parse_tool_calls(self, raw_calls: Any, fallback_prefix: str = "") -> list[ToolCall]:
        calls: list[ToolCall] = []
        if not isinstance(raw_calls, list):
            return calls
        for index, raw in enumerate(raw_calls):
            if not isinstance(raw, dict):
                continue
            function = raw.get("function")
            if not isinstance(function, dict) or not function.get("name"):
                # A call with no function (or no name) cannot be run; passing it on as a call
                # named "" only moves the failure into the user's tool loop.
                raise self._protocol_error(
                    f"tool call {index} has no function name (function: {json.dumps(function)[:80]})", raw_calls
                )
            name = str(function["name"])
            arguments, raw_text, error = parse_arguments(function.get("arguments"))
            call_id = raw.get("id")
            if call_id is None:
                call_id = stable_tool_call_id(name, raw_text, index)
            calls.append(
                ToolCall(id=str(call_id), name=name, arguments=arguments, raw_arguments=raw_text, parse_error=error)
            )
        return calls

    @typed_shapes("the chat answer")
    def parse_chat(self, payload: Any, request: ChatRequest | None = None) -> ChatResult:
        self._raise_if_error(payload)
        if not isinstance(payload, dict):
            expect_object(payload, "the chat answer", self)  # raises, quoting what came
        choices = payload.get("choices")
        if not choices or not isinstance(choices, list):
            raise self._protocol_error("the response has no choices", payload)
        if len(choices) == 1:
            first = self._choice_result(choices[0], payload, request)
        else:
            ordered = sorted(choices, key=_choice_index)
            first, *others = [self._choice_result(choice, payload, request) for choice in ordered]
            first.alternatives = others
        first.raw = payload
        if self.profile.unknown_model_fallback:
            self._warn_if_fallback(payload, request)
        return first

    def _warn_if_fallback(self, payload: dict[str, Any], request: ChatRequest | None) -> None:
        """Say so where a server that falls back to its default model (the caller checks the
        profile says so) answered with another one."""
        served = payload.get("model")
        if request is None or not isinstance(served, str):
            return
        if not request.model or served == request.model:
            return
        warn(
            f"{self.profile.display_name} answered with the model {served!r}, not the requested {request.model!r}: "
            f"it serves its default model for a name it does not know. Pass a name its model list shows "
            f"(list_models()); {self.profile.model_hint}.",
            ModelFallbackWarning,
        )

    def _choice_result(self, choice: Any, payload: dict[str, Any], request: ChatRequest | None) -> ChatResult:
        if not isinstance(choice, dict):
            raise self._protocol_error("a choice is not a JSON object", payload)
        # The message (or a delta, from servers that answer a plain request with a chunk); {}
        # for the legacy /completions "text" shape, which some servers answer with; None for
        # "message": null or a choice with nothing to read.
        if "message" in choice:
            message = choice["message"]
        elif "delta" in choice:
            message = choice["delta"]
        else:
            message = {} if "text" in choice else None
        if message is None:
            raise self._protocol_error(
                f"a choice has no message object (message: {json.dumps(choice.get('message'))[:80]})", payload
            )
        content = message.get("content") if message else choice.get("text")
        text = content if isinstance(content, str) else _text_of(content)
        finish = _finish(choice.get("finish_reason"))
        if self.profile.client_side_stop and request is not None:
            text, stopped = split_at_stop(text, request.params.stop or [])
            if stopped:
                finish = "stop"
        reasoning = None if _REASONING_KEY_SET.isdisjoint(message) else _reasoning_of(message)
        if reasoning is None and ("<think>" in text or "</think>" in text):
            text, reasoning = split_think(text)
        return ChatResult(
            text=text,
            model=payload.get("model"),
            finish_reason=finish,
            reasoning=reasoning or None,
            tool_calls=self.parse_tool_calls(raw_calls) if (raw_calls := message.get("tool_calls")) else [],
            usage=parse_usage(payload.get("usage"), reliable=self.profile.usage_reliable),
            id=payload.get("id"),
            system_fingerprint=payload.get("system_fingerprint"),
            timings=payload.get("timings") or payload.get("stats") or None,
            logprobs=token_logprobs(logprobs) if (logprobs := choice.get("logprobs")) is not None else None,
        )

    def streams_natively(self, request: ChatRequest) -> bool:
        """Whether this request may stream, or must be answered whole and emulated as a stream."""
        if not self.profile.streaming:
            return False
        if request.tools:
            return (tool_choice_kind(request.tool_choice) or "auto") in self.profile.stream_tool_choices
        return True

    def stream_parser(self, request: ChatRequest) -> OpenAIStreamParser:
        return OpenAIStreamParser(self)

    @typed_shapes("the model list")
    def parse_models(self, payload: Any) -> list[ModelInfo]:
        self._raise_if_error(payload)
        entries: Any = payload
        if isinstance(payload, dict):
            entries = payload.get("data")
            if entries is None:
                entries = payload.get("models")
        if not isinstance(entries, list):
            raise self._protocol_error("the model list has no 'data' array", payload)
        return [info for info in (model_info(e) for e in entries) if info is not None]

    @typed_shapes("the embeddings answer")
    def parse_embeddings(self, payload: Any) -> EmbeddingResult:
        self._raise_if_error(payload)
        payload = expect_object(payload, "the embeddings answer", self)
        if not isinstance(payload.get("data"), list):
            raise self._protocol_error("the embeddings response has no 'data' array", payload)
        rows = sorted(payload["data"], key=lambda row: row.get("index", 0))
        if rows and rows[0].get("embedding") and isinstance(rows[0]["embedding"][0], list):
            raise self._protocol_error(
                "got one vector per token instead of one per input; enable pooling on the server", None
            )
        vectors = [[float(x) for x in row["embedding"]] for row in rows]
        return EmbeddingResult(
            vectors=vectors,
            model=payload.get("model"),
            usage=parse_usage(payload.get("usage"), reliable=self.profile.usage_reliable),
        )


def model_info(entry: Any) -> ModelInfo | None:
    """One model-list entry in any of the shapes servers use (OpenAI, LM Studio, llama.cpp, Ollama)."""
    if isinstance(entry, str):
        return ModelInfo(id=entry)
    if not isinstance(entry, dict):
        return None
    model_id = entry.get("id") or entry.get("key") or entry.get("name") or entry.get("model")
    if not model_id:
        return None
    loaded: bool | None = None
    state = entry.get("state")
    status = entry.get("status")
    if isinstance(state, str):
        loaded = state == "loaded"
    elif isinstance(status, dict) and isinstance(status.get("value"), str):
        loaded = status["value"] == "loaded"
    elif isinstance(entry.get("loaded_instances"), list):
        loaded = bool(entry["loaded_instances"])
    elif isinstance(entry.get("loaded"), bool):
        loaded = entry["loaded"]
    context = None
    meta: dict[str, Any] = entry["meta"] if isinstance(entry.get("meta"), dict) else {}
    for source, key in (
        (entry, "loaded_context_length"),
        (entry, "max_model_len"),
        (meta, "n_ctx"),
        (entry, "context_length"),
        (entry, "max_context_length"),
        (entry, "max_context_window"),
    ):
        if key == "max_context_length" and loaded is False:
            # LM Studio's ceiling for a model it has not loaded, not the context it serves: a JIT
            # load uses its own default (real /api/v0/models, lmstudio-public/decker-api-v0-models)
            continue
        value = source.get(key)
        if isinstance(value, int) and value > 0:
            context = value
            break
    kind = entry.get("type")
    if not isinstance(kind, str):
        kind = "embeddings" if str(model_id).startswith("text-embedding") else None
    return ModelInfo(
        id=str(model_id),
        loaded=loaded,
        context_length=context,
        kind=kind,
        owned_by=entry.get("owned_by"),
    )


class OpenAIStreamParser:
    """Turns ``chat.completion.chunk`` events into :class:`ChatDelta` objects.

    The stream is complete when ``[DONE]`` arrives or a chunk carries a finish reason (some
    servers close without ``[DONE]``); anything else at end of body is an interruption.
    """

    __slots__ = ("_finished", "_named", "_protocol", "_reliable", "_think", "done")

    def __init__(self, protocol: OpenAIProtocol) -> None:
        self.done = False
        self._named: dict[int, bool] = {}  # tool-call index -> a fragment carried its name
        self._protocol = protocol
        self._finished = False
        self._reliable = protocol.profile.usage_reliable
        self._think: ThinkSplitter | None = None  # made on the first "<" in content

    def feed(self, event: SSEEvent) -> ChatDelta | None:
        """One event as a delta (``None``: nothing to pass on). Shape errors in a frame are
        caught inline (see :mod:`orbit_local.protocols.shapes`): this runs once per token."""
        try:
            data = event.data
            if data == "[DONE]":
                self.done = True
                return None
            if not data or data.isspace():
                return None
            try:
                payload = loads_frame(data)
            except ValueError:
                if event.truncated:
                    raise cut_mid_event(self._protocol.profile, self._protocol.base_url) from None
                raise self._protocol._protocol_error(f"a stream frame is not JSON: {data[:120]!r}", None) from None
            if not isinstance(payload, dict):
                raise self._protocol._protocol_error("a stream frame is not a JSON object", payload)
            if "choices" not in payload:
                self._protocol._raise_if_error(payload)
            delta = ChatDelta(model=payload.get("model"), id=payload.get("id"), raw=payload)
            choices = payload.get("choices")
            if choices:
                choice = choices[0]
                if choice.get("logprobs"):
                    delta.logprobs = token_logprobs(choice["logprobs"])
                # The delta (else a "message"; a bare finish_reason has neither), read inline:
                # this runs once per token. As a whole answer's choice, with the keys the other way round.
                body = choice["delta"] if "delta" in choice else choice.get("message", {})
                if body is None:
                    raise self._protocol._protocol_error("a stream chunk's choice has a null delta", payload)
                content = body.get("content")
                if content:
                    text = content if isinstance(content, str) else _text_of(content)
                    if self._think is None and "<" in text:
                        self._think = ThinkSplitter()
                    if self._think is None:
                        delta.text = text
                    else:
                        delta.text, delta.reasoning = self._think.feed(text)
                for key in _REASONING_KEYS:  # _reasoning_of, inline
                    reasoning = body.get(key)
                    if reasoning:
                        delta.reasoning += reasoning if isinstance(reasoning, str) else str(reasoning)
                        break
                raw_calls = body.get("tool_calls")
                if raw_calls:
                    delta.tool_call_chunks = _tool_call_chunks(raw_calls)
                    if delta.tool_call_chunks is None:
                        raise self._protocol._protocol_error("a streamed tool-call delta has a null function", payload)
                    for fragment in delta.tool_call_chunks:
                        self._named[fragment.index] = self._named.get(fragment.index, False) or bool(fragment.name)
                finish = choice.get("finish_reason")
                if finish is not None and finish != "null" and finish != "":  # as _finish
                    delta.finish_reason = str(finish)
                    self._finished = True
                    if self._think is not None:
                        text, thought = self._think.flush()
                        delta.text += text
                        delta.reasoning += thought
            usage = payload.get("usage")
            if usage:
                delta.usage = parse_usage(usage, reliable=self._reliable, skip_zero=True)
            fingerprint = payload.get("system_fingerprint")
            if fingerprint:
                delta.system_fingerprint = fingerprint
            timings = payload.get("timings")
            if timings:
                delta.timings = timings
            return delta
        except ProtocolError:
            raise
        except SHAPE_ERRORS as exc:
            raise shape_error("a stream frame", self, exc) from exc

    def finish(self) -> None:
        if not self.done and not self._finished:
            profile = self._protocol.profile
            raise StreamInterruptedError(
                "the stream ended before the server said it was complete (no finish_reason, no [DONE])",
                provider=profile.display_name,
                base_url=self._protocol.base_url,
                hint="the server may have crashed or closed the connection; retry the request",
            )
        nameless = sorted(index for index, named in self._named.items() if not named)
        if nameless:
            # As in a whole answer: a call without a name cannot be run (not a call named "").
            raise self._protocol._protocol_error(
                f"streamed tool call {nameless[0]} never received a function name", None
            )


def _choice_index(choice: Any) -> int:
    """A choice's ``index`` when it is a number (servers omit it, or send junk): else 0."""
    index = choice.get("index") if isinstance(choice, dict) else None
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


def _with_model(template: Any, model: str) -> Any:
    """A copy of ``template`` with every ``"{model}"`` string replaced by the model id."""
    if isinstance(template, dict):
        return {key: _with_model(value, model) for key, value in template.items()}
    if isinstance(template, list):
        return [_with_model(value, model) for value in template]
    return model if template == "{model}" else template


def token_logprobs(value: Any) -> list[dict[str, Any]] | None:
    """The per-token entries of a choice's ``logprobs`` (``{"content": [...]}``), if any."""
    if isinstance(value, dict) and isinstance(value.get("content"), list):
        return [entry for entry in value["content"] if isinstance(entry, dict)] or None
    return None


def _tool_call_chunks(raw_calls: list[Any]) -> list[ToolCallChunk] | None:
    """The tool-call fragments of one delta; ``None`` when a fragment says ``"function":
    null``. A fragment without ``function`` carries only its index or id, which later
    fragments complete."""
    chunks: list[ToolCallChunk] = []
    for position, raw in enumerate(raw_calls):
        if not isinstance(raw, dict):
            continue
        function = raw.get("function", {})
        if function is None:
            return None
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments)
        chunks.append(
            ToolCallChunk(
                index=raw.get("index", position),
                id=raw.get("id") or None,
                name=function.get("name") or None,
                arguments=arguments or "",
            )
        )
    return chunks
