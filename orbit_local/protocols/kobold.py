"""KoboldAI's own API (``/api/v1/generate``) and KoboldCpp's extensions (``/api/extra/*``).

Sans-IO, like every protocol. Chat messages are rendered through a chat template into one
prompt. KoboldCpp streams with ``/api/extra/generate/stream`` (``event: message`` frames whose
``finish_reason`` is the *string* ``"null"`` until the last, and no end marker); KoboldAI
United has no ``/api/extra`` and gets one emulated chunk — the client probes
``/api/extra/version`` once to know which it talks to.

Stop sequences are applied here, not by the server: KoboldCpp reports ``finish_reason:
"length"`` when a stop sequence ended generation and keeps the stop text unless told to trim
it, so the client cuts at the stop and reports ``"stop"`` itself — in streams too, holding
back the few characters that could be the start of a stop sequence.
"""

from __future__ import annotations

import uuid
from typing import Any

from orbit_local.facts.errors import ProtocolError, StreamInterruptedError, UnsupportedFeatureError
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.templates import DEFAULT_TEMPLATE, get_template
from orbit_local.facts.types import ChatDelta, ChatRequest, ChatResult, EmbeddingResult, HttpRequest, ModelInfo, Usage
from orbit_local.protocols.common import cut_mid_event, loads_frame
from orbit_local.protocols.errors import error_in_payload
from orbit_local.protocols.params import add_options, add_samplers, warn_reasoning_not_sent
from orbit_local.protocols.shapes import SHAPE_ERRORS, expect_object, shape_error, typed_shapes
from orbit_local.wire.content import check_content
from orbit_local.wire.reasoning import split_think
from orbit_local.wire.stops import StopScanner, split_at_stop
from orbit_local.wire.streams import SSEEvent

GENERATE = "/api/v1/generate"
STREAM = "/api/extra/generate/stream"
ABORT = "/api/extra/abort"
VERSION = "/api/extra/version"
TOKENCOUNT = "/api/extra/tokencount"
MODEL = "/api/v1/model"
CONTEXT_PATHS = ("/api/extra/true_max_context_length", "/api/v1/config/max_context_length")


class KoboldProtocol:
    """KoboldAI generate API with KoboldCpp's streaming, abort and token counting."""

    sends_context_window = True

    def __init__(self, profile: ProviderProfile, base_url: str = "") -> None:
        self.profile = profile
        self.base_url = base_url
        self.extra_api: bool | None = None  # unknown until the version probe ran

    # ------------------------------------------------------------------ probing
    def probe_request(self) -> HttpRequest | None:
        """Ask once whether this is KoboldCpp (``/api/extra``) or plain KoboldAI."""
        return HttpRequest("GET", VERSION, from_root=True) if self.extra_api is None else None

    def apply_probe(self, payload: Any) -> None:
        """``payload`` is the version answer, or ``None`` when the route does not exist."""
        self.extra_api = isinstance(payload, dict) and payload.get("result") == "KoboldCpp"

    # ----------------------------------------------------------------- requests
    def stops_for(self, request: ChatRequest) -> list[str]:
        """The caller's stop sequences, plus the template's end-of-turn markers for chat."""
        if request.raw_prompt is not None:
            return list(request.params.stop or [])
        template = get_template(request.chat_template or DEFAULT_TEMPLATE)
        return [*(request.params.stop or []), *template.stop]

    def generate_body(self, request: ChatRequest) -> dict[str, Any]:
        for message in request.messages:
            check_content(message, self.profile, self.base_url)
        warn_reasoning_not_sent(request.messages, self.profile)
        if request.response_format is not None:
            raise UnsupportedFeatureError(
                "KoboldAI's generate API has no JSON mode (response_format)",
                provider=self.profile.display_name,
                base_url=self.base_url,
                hint="use with_structured_output (the schema goes into the prompt), KoboldCpp's `grammar` "
                "in extra_body, or its OpenAI side: provider='koboldcpp-openai'",
            )
        template = get_template(request.chat_template or DEFAULT_TEMPLATE)
        params = request.params
        prompt = request.raw_prompt if request.raw_prompt is not None else template.render(request.messages)
        body: dict[str, Any] = {"prompt": prompt}
        max_tokens = params.max_tokens if params.max_tokens is not None else self.profile.default_max_tokens
        if max_tokens is not None:
            body["max_length"] = max_tokens  # the API's own default is 80-180 tokens
        if params.temperature is not None:
            # KoboldCpp treats 0 as "use the default"; a tiny value is greedy decoding.
            body["temperature"] = params.temperature if params.temperature > 0 else 0.01
            if params.temperature == 0:
                body["top_k"] = 1
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.seed is not None:
            body["sampler_seed"] = params.seed
        add_options(body, params.options, self.profile)
        add_samplers(body, params.samplers, self.profile)
        if request.context_window:
            body["max_context_length"] = request.context_window
        body["stop_sequence"] = self.stops_for(request)
        body["trim_stop"] = False  # we cut at the stop ourselves, to report finish_reason "stop"
        if self.extra_api:
            body["genkey"] = f"KCPP{uuid.uuid4().hex[:12].upper()}"
        if request.extra_body:
            body.update(request.extra_body)
        return body

    def streams_natively(self, request: ChatRequest) -> bool:
        return bool(self.extra_api) and not request.tools

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        if request.tools:
            raise UnsupportedFeatureError(
                "KoboldAI's generate API has no tool calling",
                provider=self.profile.display_name,
                base_url=self.base_url,
                hint="use KoboldCpp's OpenAI side: ChatOrbitLocal(provider='koboldcpp-openai')",
            )
        path = STREAM if stream else GENERATE
        return HttpRequest("POST", path, self.generate_body(request), from_root=True, headers=request.extra_headers)

    def abort_request(self, sent: HttpRequest) -> HttpRequest | None:
        """The request that stops the generation ``sent`` started (KoboldCpp only)."""
        genkey = (sent.json or {}).get("genkey")
        if not self.extra_api or not genkey:
            return None
        return HttpRequest("POST", ABORT, {"genkey": genkey}, from_root=True)

    @property
    def counts_usage(self) -> bool:
        """KoboldCpp's extra API counts tokens; KoboldAI's own API has no usage at all."""
        return bool(self.extra_api)

    def usage_requests(self, request: ChatRequest, sent: HttpRequest, text: str) -> list[HttpRequest]:
        """Token counts for the prompt and the answer (``special: false``: no BOS added)."""
        if not self.extra_api:
            return []
        prompt = (sent.json or {}).get("prompt", "")
        return [
            HttpRequest("POST", TOKENCOUNT, {"prompt": prompt, "special": False}, from_root=True),
            HttpRequest("POST", TOKENCOUNT, {"prompt": text, "special": False}, from_root=True),
        ]

    @typed_shapes("the token count")
    def parse_usage(self, payloads: list[Any]) -> Usage | None:
        try:
            prompt, completion = (int(p["value"]) for p in payloads)
        except (TypeError, KeyError, ValueError):
            return None
        if prompt < 0 or completion < 0:
            return None
        return Usage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)

    def models_request(self) -> HttpRequest:
        return HttpRequest("GET", MODEL, from_root=True)

    def context_requests(self, model: str | None = None) -> list[HttpRequest]:
        return [HttpRequest("GET", path, from_root=True) for path in CONTEXT_PATHS]

    @typed_shapes("the context answer")
    def parse_context(self, payload: Any, model: str | None = None) -> int | None:
        value = payload.get("value") if isinstance(payload, dict) else None
        return value if isinstance(value, int) and value > 0 else None

    def embeddings_request(self, texts: list[str], model: str) -> HttpRequest:
        raise UnsupportedFeatureError(
            "KoboldAI has no embeddings endpoint", provider=self.profile.display_name, base_url=self.base_url
        )

    # ------------------------------------------------------------------ parsing
    def _check(self, payload: Any) -> None:
        if isinstance(payload, dict) and ("detail" in payload or "error" in payload):
            error = error_in_payload(self.profile, self.base_url, payload)
            if error is not None:
                raise error
        # KoboldCpp answers HTTP 200 with `null` when a field has the wrong type.
        expect_object(payload, "the answer", self, "(KoboldCpp answers `null` to fields of the wrong type)")

    @typed_shapes("the generate answer")
    def parse_chat(self, payload: Any, request: ChatRequest | None = None) -> ChatResult:
        self._check(payload)
        results = payload.get("results")
        if not results or not isinstance(results, list) or not isinstance(results[0], dict):
            raise ProtocolError(
                "the generate response has no results", provider=self.profile.display_name, base_url=self.base_url
            )
        first = results[0]
        text = str(first.get("text") or "")
        finish = first.get("finish_reason")
        finish = None if finish in (None, "null", "") else str(finish)
        if request is not None:
            text, stopped = split_at_stop(text, self.stops_for(request))
            if stopped:
                finish = "stop"
        reasoning = ""
        if "<think>" in text or "</think>" in text:
            text, reasoning = split_think(text)
        return ChatResult(text=text, finish_reason=finish, model=None, reasoning=reasoning or None, raw=payload)

    def stream_parser(self, request: ChatRequest) -> KoboldStreamParser:
        return KoboldStreamParser(self, self.stops_for(request))

    @typed_shapes("the model answer")
    def parse_models(self, payload: Any) -> list[ModelInfo]:
        self._check(payload)
        result = payload.get("result")
        if not isinstance(result, str) or not result:
            raise ProtocolError(
                "the model answer has no 'result'", provider=self.profile.display_name, base_url=self.base_url
            )
        return [ModelInfo(id=result, loaded=True, kind="llm")]

    def parse_embeddings(self, payload: Any) -> EmbeddingResult:
        raise UnsupportedFeatureError("KoboldAI has no embeddings endpoint", provider=self.profile.display_name)


class KoboldStreamParser:
    """KoboldCpp SSE frames -> deltas, with stop sequences cut on the client.

    Text that might be the beginning of a stop sequence is held back until the next frame
    shows whether it is; a stop found ends the stream with ``finish_reason="stop"`` (the
    client then aborts the server-side generation).
    """

    __slots__ = ("_protocol", "_scanner", "done")

    def __init__(self, protocol: KoboldProtocol, stops: list[str]) -> None:
        self.done = False
        self._protocol = protocol
        self._scanner = StopScanner(stops)

    def feed(self, event: SSEEvent) -> ChatDelta | None:
        """One event as a delta (``None``: nothing to pass on). Shape errors in a frame are
        caught inline (see :mod:`orbit_local.protocols.shapes`): this runs once per token."""
        try:
            if self.done:
                return None
            try:
                payload = loads_frame(event.data)
            except ValueError:
                if event.truncated:
                    raise cut_mid_event(self._protocol.profile, self._protocol.base_url) from None
                raise ProtocolError(
                    f"a stream frame is not JSON: {event.data[:120]!r}",
                    provider=self._protocol.profile.display_name,
                    base_url=self._protocol.base_url,
                ) from None
            if event.event == "json" or (isinstance(payload, dict) and "results" in payload):
                # A whole generate answer where a stream was asked for.
                result = self._protocol.parse_chat(payload, None)
                payload = {"token": result.text, "finish_reason": result.finish_reason or "stop"}
            self._protocol._check(payload)
            token = payload.get("token") or ""
            if not isinstance(token, str):  # text is never made up from a list or a number
                raise TypeError(f"its token is {type(token).__name__}, not text")
            emitted = self._scanner.feed(token)
            if self._scanner.stopped:
                self.done = True
                return ChatDelta(text=emitted, finish_reason="stop", raw=payload)
            finish = payload.get("finish_reason")
            if finish not in (None, "null", ""):
                self.done = True
                return ChatDelta(text=emitted + self._scanner.flush(), finish_reason=str(finish), raw=payload)
            return ChatDelta(text=emitted, raw=payload) if emitted else None
        except ProtocolError:
            raise
        except SHAPE_ERRORS as exc:
            raise shape_error("a stream frame", self, exc) from exc

    def finish(self) -> None:
        if not self.done:
            raise StreamInterruptedError(
                'the KoboldCpp stream closed before its last event (finish_reason still "null")',
                provider=self._protocol.profile.display_name,
                base_url=self._protocol.base_url,
                hint="the server may have crashed or been restarted; retry the request",
            )
