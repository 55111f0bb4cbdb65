"""Every server's error shapes map to one typed hierarchy with actionable messages."""

from __future__ import annotations

import json
import pickle

import pytest

from orbit_local.facts import errors
from orbit_local.facts.errors import (
    AuthenticationError,
    BadRequestError,
    ContextOverflowError,
    EndpointNotFoundError,
    ModelNotFoundError,
    ModelNotLoadedError,
    OrbitLocalError,
    ProtocolError,
    RateLimitError,
    ServerBusyError,
    ServerError,
    StreamInterruptedError,
    StreamTimeoutError,
    UnsupportedFeatureError,
)
from orbit_local.facts.providers import get_provider
from orbit_local.protocols.errors import error_from_response, error_in_payload, extract_error

CASES = [
    # (provider, status, body, expected class, text the message must contain)
    ("lmstudio", 400, "{\"error\":\"'response_format.type' must be 'json_schema'\"}", BadRequestError, "json_schema"),
    (
        "lmstudio",
        404,
        '{"error":{"message":"Model \\"x\\" not found.","type":"invalid_request_error","code":"model_not_found"}}',
        ModelNotFoundError,
        "not found",
    ),
    (
        "lmstudio",
        404,
        '{"error":"No models loaded. Please load a model in the developer page."}',
        ModelNotLoadedError,
        "No models loaded",
    ),
    (
        "localai",
        404,
        '{"error":{"code":404,"message":"model \\"nope\\" not found. To see available models, call GET /v1/models","type":""}}',
        ModelNotFoundError,
        "nope",
    ),
    (
        "localai",
        500,
        '{"error":{"code":500,"message":"rpc error: code = Unknown desc = unimplemented","type":""}}',
        ServerError,
        "unimplemented",
    ),
    (
        "fastchat",
        400,
        '{"object":"error","message":"Only smollm2 allowed now, your model gpt-4o","code":40301}',
        ModelNotFoundError,
        "gpt-4o",
    ),
    (
        "fastchat",
        400,
        '{"object":"error","message":"This model\'s maximum context length is 8192 tokens.","code":40303}',
        ContextOverflowError,
        "8192",
    ),
    (
        "fastchat",
        400,
        '{"object":"error","message":"0 is less than the minimum of 1 - \'max_tokens\'","code":40302}',
        BadRequestError,
        "max_tokens",
    ),
    (
        "fastchat",
        401,
        '{"detail":{"error":{"message":"","type":"invalid_request_error","code":"invalid_api_key"}}}',
        AuthenticationError,
        "HTTP 401",
    ),
    (
        "koboldai",
        503,
        '{"detail": {"msg": "Server is busy; please try again later.", "type": "service_unavailable"}}',
        ServerBusyError,
        "busy",
    ),
    (
        "koboldai",
        401,
        '{"detail": {"error": "Unauthorized", "msg": "Authentication key is missing or invalid.", "type": "unauthorized"}}',
        AuthenticationError,
        "Authentication key",
    ),
    (
        "llamacpp",
        500,
        '{"error":{"code":500,"message":"Context size has been exceeded.","type":"server_error"}}',
        ContextOverflowError,
        "Context size",
    ),
    (
        "llamacpp",
        400,
        '{"error":{"code":400,"message":"request exceeds the available context size","type":"exceed_context_size_error"}}',
        ContextOverflowError,
        "context",
    ),
    (
        "llamacpp",
        503,
        '{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}',
        ServerBusyError,
        "Loading model",
    ),
    (
        "vllm",
        404,
        '{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}',
        ModelNotFoundError,
        "does not exist",
    ),
    (
        "lemonade",
        404,
        '{"error":{"code":"model_not_found","message":"Model \'x\' was not found.","param":"model","type":"not_found"}}',
        ModelNotFoundError,
        "was not found",
    ),
    ("lemonade", 401, '{"error": "Invalid or missing API key"}', AuthenticationError, "API key"),
    ("gpt4all", 500, "", ServerError, "empty body"),
    (
        "ollama",
        503,
        '{"error":"server busy, please try again.  maximum pending requests exceeded"}',
        ServerBusyError,
        "busy",
    ),
    ("llama-cpp-python", 500, "Internal Server Error", ServerError, "Internal Server Error"),
]


@pytest.mark.parametrize(("provider", "status", "body", "cls", "text"), CASES)
def test_error_shapes_are_classified(
    provider: str, status: int, body: str, cls: type[OrbitLocalError], text: str
) -> None:
    error = error_from_response(get_provider(provider), "http://127.0.0.1:9/v1", status, body)
    assert type(error) is cls
    message = str(error)
    assert text in message
    assert get_provider(provider).display_name in message
    assert "http://127.0.0.1:9/v1" in message
    assert error.status_code == status


def test_model_not_found_says_what_to_do() -> None:
    error = error_from_response(
        get_provider("lmstudio"), "http://localhost:1234/v1", 404, '{"error":"No models loaded."}'
    )
    assert "lms load" in str(error)


def test_authentication_error_names_the_env_var() -> None:
    error = error_from_response(get_provider("localai"), "http://localhost:8080/v1", 401, "")
    assert "LOCALAI_API_KEY" in str(error)


def test_errors_pickle_round_trip() -> None:
    error = error_from_response(get_provider("vllm"), "http://h/v1", 400, '{"error":{"message":"bad"}}')
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert clone.server_message == "bad"


# Bodies where the status says less than the body (step 7): server facts from
# ../shared/providers and the recorded llama-cpp-python cassette.
VAGUE_STATUS_CASES = [
    # llama-cpp-python answers pydantic validation failures with HTTP 500
    ("llama-cpp-python", 500,
     '{"error":{"message":"1 validation error:\\n  {\'type\': \'float_parsing\', \'loc\': (\'body\', \'temperature\'), '
     '\'msg\': \'Input should be a valid number\'}","type":"internal_server_error","param":null,"code":null}}',
     "BadRequestError"),
    # llama.cpp without --embeddings
    ("llamacpp", 501,
     '{"error":{"code":501,"message":"This server does not support embeddings. Start it with `--embeddings`",'
     '"type":"not_supported_error"}}',
     "UnsupportedFeatureError"),
    # a wrong method on a FastAPI server
    ("llama-cpp-python", 405, '{"detail":"Method Not Allowed"}', "EndpointNotFoundError"),
    # KoboldCpp's own envelope, sent with 500 (providers/koboldcpp.md)
    ("koboldai", 500, '{"detail":{"msg":"Payload is too big. Max payload size is 32MB.","type":"bad_input"}}',
     "BadRequestError"),
]  # fmt: skip


@pytest.mark.parametrize(("provider", "status", "body", "expected"), VAGUE_STATUS_CASES)
def test_the_body_decides_when_the_status_is_vague(provider: str, status: int, body: str, expected: str) -> None:
    error = error_from_response(get_provider(provider), "http://127.0.0.1:1/v1", status, body)
    assert type(error).__name__ == expected
    assert error.status_code == status and error.body == body
    if status == 405:
        assert "base URL" in str(error)


# llama-server started without --mmproj (cassettes/vision-llamacpp-no-mmproj, HTTP 500).
NO_PROJECTOR = (
    '{"error":{"code":500,"message":"image input is not supported - hint: if this is unexpected, '
    'you may need to provide the mmproj","type":"server_error"}}'
)


def test_an_image_refused_for_want_of_a_projector_says_how_to_start_the_server() -> None:
    error = error_from_response(get_provider("llamacpp"), "http://127.0.0.1:8181/v1", 500, NO_PROJECTOR)
    assert type(error) is UnsupportedFeatureError
    assert error.hint is not None and "--mmproj" in error.hint and "remove the image" in error.hint
    assert "image input is not supported" in str(error)


def test_a_media_refusal_elsewhere_gets_the_general_media_hint() -> None:
    # a server whose profile has no media_hint (Lemonade runs llama-server underneath)
    error = error_from_response(get_provider("lemonade"), "http://127.0.0.1:13305/api/v1", 500, NO_PROJECTOR)
    assert type(error) is UnsupportedFeatureError
    assert error.hint is not None and "vision" in error.hint and "remove the image" in error.hint
    # other refusals keep the endpoint-or-option hint
    other = error_from_response(
        get_provider("llamacpp"), "http://h/v1", 501, '{"error":{"message":"n > 1 not supported"}}'
    )
    assert other.hint is not None and "endpoint or option" in other.hint


# --- servers' own error answers, classified and explained ---------------------------------------
# Every body below is a server fact: quoted in ../shared/providers/<server>.md or
# docs/providers/<server>.md (the source is named next to each case), or the OpenAI error
# envelope itself. Statuses are the ones the server sends, including the misleading ones
# (FastChat answers 400 for everything, llama-cpp-python 500 for validation errors, several
# servers 200 with an error inside the body or stream).


URL = "http://127.0.0.1:9/v1"


HTTP_CASES = [
    # (source, provider, status, body, class, words of the server's message that must be shown)
    ("lmstudio.md: JIT, unknown id", "lmstudio", 400,
     '{"error":{"message":"Invalid model identifier \\"o4-mini\\". Please specify a valid downloaded model.",'
     '"type":"invalid_request_error","param":"model"}}',
     ModelNotFoundError, "o4-mini"),
    ("lmstudio.md: 0.3.3x", "lmstudio", 400,
     '{"error":"No models loaded. Please load a model in the developer page or use the \'lms load\' command."}',
     ModelNotLoadedError, "No models loaded"),
    ("ollama.md: routes.go:3116", "ollama", 404, '{"error":"model \\"qwen9\\" not found, try pulling it first"}',
     ModelNotFoundError, "qwen9"),
    ("ollama.md: truncate false", "ollama", 400, '{"error":"the input length exceeds the context length"}',
     ContextOverflowError, "input length"),
    ("ollama.md: truncate false", "ollama", 500,
     '{"error":"input after truncation exceeds maximum context length"}', ContextOverflowError, "truncation"),
    ("ollama.md: 499 on cancel", "ollama", 499, '{"error":"request canceled"}', BadRequestError, "canceled"),
    ("localai.md: missing key", "localai", 401,
     '{"error":{"code":401,"message":"An authentication key is required","type":"invalid_request_error"}}',
     AuthenticationError, "authentication key"),
    ("localai.md: v4.9 cold load", "localai", 503,
     '{"error":{"message":"model is loading","code":"model_loading","type":"model_loading"}}',
     ServerBusyError, "loading"),
    ("localai.md: backend failure", "localai", 500,
     '{"error":{"code":500,"message":"could not load model: grpc service not ready","type":""}}',
     ServerError, "grpc service not ready"),
    ("vllm.md: max_tokens over max_model_len", "vllm", 400,
     '{"error":{"message":"max_tokens=99999 cannot be greater than max_model_len=max_total_tokens=4096.",'
     '"type":"BadRequestError","param":"max_tokens","code":400}}',
     BadRequestError, "max_model_len"),
    ("fastchat.md: 40001 validation, sent as 400", "fastchat", 400,
     '{"object":"error","message":"1 validation error for ChatCompletionRequest","code":40001}',
     BadRequestError, "ChatCompletionRequest"),
    ("fastchat.md: 50001 internal, sent as 400", "fastchat", 400,
     '{"object":"error","message":"Internal Server Error","code":50001}', ServerError, "Internal Server Error"),
    ("fastchat.md: 50002 CUDA OOM, sent as 400", "fastchat", 400,
     '{"object":"error","message":"**NETWORK ERROR DUE TO HIGH TRAFFIC.** (CUDA out of memory)","code":50002}',
     ServerError, "CUDA out of memory"),
    ("gpt4all.md: stream rejected", "gpt4all", 400,
     '{"error":{"message":"\'stream\' is not supported","type":"invalid_request_error","param":null,"code":null}}',
     UnsupportedFeatureError, "'stream'"),
    ("gpt4all.md: wrong method", "gpt4all", 405,
     '{"error":{"message":"Only POST requests are accepted.","type":"invalid_request_error","code":"method_not_supported"}}',
     EndpointNotFoundError, "Only POST requests"),
    ("lemonade.md: GET on a POST route", "lemonade", 405,
     '{"error": "Method Not Allowed. Use POST for this endpoint"}', EndpointNotFoundError, "Use POST"),
    ("lemonade.md: unknown path", "lemonade", 404,
     '{"error":{"message":"The requested endpoint does not exist","path":"/api/v1/nope","type":"not_found"}}',
     EndpointNotFoundError, "endpoint does not exist"),  # "does not exist" named no model
    ("lemonade.md: pull while offline", "lemonade", 400,
     '{"code":"lemond_offline","error":"Lemond is in offline mode, models not downloaded"}',
     BadRequestError, "offline mode"),
    ("koboldcpp.md: malformed JSON", "koboldai", 500, '{"detail": {"msg": "Error parsing input.", "type": "bad_input"}}',
     BadRequestError, "Error parsing input"),
    ("koboldcpp.md: vision without mmproj", "koboldai", 503, '{"detail": {"msg": "No LLaVA model loaded"}}',
     ServerBusyError, "LLaVA"),
    ("lemonade.md: GAIA, FastAPI detail string", "lemonade", 404, '{"detail":"Model \'nope\' not found"}',
     ModelNotFoundError, "nope"),
    ("llamacpp.md: PR #15780", "llamacpp", 400,
     '{"error":{"code":400,"message":"request (4390 tokens) exceeds the available context size (4096 tokens), '
     'try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4390,"n_ctx":4096}}',
     ContextOverflowError, "4390 tokens"),
    ("localai.md: unknown stored response", "localai", 404,
     '{"error":{"message":"response not found: resp_1","param":"id","type":"not_found"}}',
     BadRequestError, "resp_1"),
    ("llamacpp.md: /slots?fail_on_no_slot=1", "llamacpp", 503,
     '{"error":{"code":503,"message":"no slot available","type":"unavailable_error"}}', ServerBusyError, "no slot"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("provider", "status", "body", "cls", "words"),
    [case[1:] for case in HTTP_CASES],
    ids=[case[0] for case in HTTP_CASES],
)
def test_http_errors_are_classified_and_keep_the_servers_words(
    provider: str, status: int, body: str, cls: type[OrbitLocalError], words: str
) -> None:
    profile = get_provider(provider)
    error = error_from_response(profile, URL, status, body)
    assert type(error) is cls
    assert (error.provider, error.base_url, error.status_code, error.body) == (profile.display_name, URL, status, body)
    assert error.server_message is not None and words in error.server_message
    assert not error.server_message.startswith("{")  # the server's words, not its JSON
    assert words in str(error) and profile.display_name in str(error) and URL in str(error)


# Messages that only the body can classify: the status says nothing (or the wrong thing).
BODY_DECIDES = [
    # (source, provider, status, message, class)
    ("localai.md: stream error type", "localai", None, {"message": "Internal error", "type": "context_compression_error"},
     ContextOverflowError),
    ("lmstudio.md: MLX path, 200", "lmstudio", None, {"message": "Context size has been exceeded."},
     ContextOverflowError),
    ("fastchat.md: 40303, text only", "fastchat", 400,
     {"message": "This model's maximum context length is 2048 tokens. However, your messages resulted in 2100 tokens."},
     ContextOverflowError),
    ("OpenAI envelope: code", "openai-compatible", 400,
     {"message": "Input is too long for this model.", "type": "invalid_request_error", "code": "context_length_exceeded"},
     ContextOverflowError),
    ("llamacpp.md: old message", "llamacpp", 500,
     {"message": "the request exceeds the available context size. try increasing the context size"},
     ContextOverflowError),
    ("fastchat.md: no worker registered yet", "fastchat", None,
     {"message": "Only  allowed now, your model vicuna-7b"}, ModelNotFoundError),
    ("vllm.md: NotFoundError type", "vllm", None, {"message": "The model `x` is unknown.", "type": "NotFoundError"},
     ModelNotFoundError),
    ("lmstudio.md: model_not_found code", "lmstudio", 400,
     {"message": 'Model "local model" is missing.', "code": "model_not_found"}, ModelNotFoundError),
    ("koboldcpp.md: busy type", "koboldai", None, {"msg": "Please try again later.", "type": "service_unavailable"},
     ServerBusyError),
    ("ollama.md: queue full, in a stream", "ollama", None,
     {"message": "server busy, please try again.  maximum pending requests exceeded"}, ServerBusyError),
    ("koboldcpp.md: 503 text", "koboldai", None, {"msg": "Server is busy; please try again later."}, ServerBusyError),
    ("llamacpp.md: loading, in a 200", "llamacpp", None, {"message": "Loading model"}, ServerBusyError),
    ("llamacpp.md: loading type", "llamacpp", None, {"message": "Please wait.", "type": "unavailable_error"},
     ServerBusyError),
    ("llamacpp.md: no slot", "llamacpp", None, {"message": "no slot available"}, ServerBusyError),
    ("llamacpp.md: 501 type", "llamacpp", None, {"message": "Start it with `--embeddings`", "type": "not_supported_error"},
     UnsupportedFeatureError),
    ("HTTP 501 reason phrase in a 200", "localai", None, {"message": "Not Implemented"}, UnsupportedFeatureError),
    ("llama-cpp-python: pydantic v1", "llama-cpp-python", 500,
     {"message": "messages -> 0 -> content\n  field required (type=value_error.missing)"}, BadRequestError),
    ("llama-cpp-python: pydantic v2 repr", "llama-cpp-python", 500,
     {"message": "[{'type': 'missing', 'loc': ('body', 'messages'), 'msg': 'Missing'}]"}, BadRequestError),
    ("lemonade.md: backend validation", "lemonade", 500,
     {"message": "'messages' is required", "type": "invalid_request_error"}, BadRequestError),
    ("FastAPI 422 text", "llama-cpp-python", 500, {"message": "Unprocessable Entity"}, BadRequestError),
    ("fastchat.md: 401 code", "fastchat", None, {"message": "", "type": "invalid_request_error", "code": "invalid_api_key"},
     AuthenticationError),
    ("koboldcpp.md: 401 type", "koboldai", None, {"msg": "Authentication key is missing or invalid.", "type": "unauthorized"},
     AuthenticationError),
]  # fmt: skip


@pytest.mark.parametrize(
    ("provider", "status", "error", "cls"), [case[1:] for case in BODY_DECIDES], ids=[case[0] for case in BODY_DECIDES]
)
def test_the_words_of_the_error_decide_its_class(
    provider: str, status: int | None, error: dict, cls: type[OrbitLocalError]
) -> None:
    payload = {"error": error}
    found = error_in_payload(get_provider(provider), URL, payload, status)
    assert type(found) is cls
    assert type(error_from_response(get_provider(provider), URL, status or 500, json.dumps(payload))) is cls


def test_fastchat_codes_decide_over_the_words() -> None:
    # FastChat sends every error as HTTP 400; its code says what happened (fastchat.md §5).
    fastchat = get_provider("fastchat")
    for code, cls in [(40001, BadRequestError), (40301, ModelNotFoundError), (40302, BadRequestError),
                      (40303, ContextOverflowError), (50001, ServerError), (50002, ServerError)]:  # fmt: skip
        body = json.dumps({"object": "error", "message": "server busy", "code": code})
        assert type(error_from_response(fastchat, URL, 400, body)) is cls, code


# --------------------------------------------------------------------- errors inside 200s
def test_an_error_frame_in_a_stream_takes_the_status_the_server_repeats_in_it() -> None:
    # llama.cpp and LocalAI repeat the HTTP status as "code" in the error object.
    llamacpp = get_provider("llamacpp")
    busy = error_in_payload(llamacpp, URL, {"error": {"code": 503, "message": "Wait.", "type": ""}})
    assert type(busy) is ServerBusyError
    assert busy.status_code is None  # the HTTP status was 200; the code is the server's claim
    for code, cls in [(399, ServerError), (400, BadRequestError), (401, AuthenticationError), (404, BadRequestError),
                      (429, RateLimitError), (501, UnsupportedFeatureError), (599, ServerError), (600, ServerError)]:  # fmt: skip
        found = error_in_payload(llamacpp, URL, {"error": {"code": code, "message": "Oops."}})
        assert type(found) is cls, code
    # the real status wins when there is one
    rejected = error_in_payload(llamacpp, URL, {"error": {"code": 503, "message": "Oops."}}, 400)
    assert type(rejected) is BadRequestError
    assert rejected.status_code == 400
    assert rejected.hint is not None and "extra_body" in rejected.hint


def test_an_error_inside_a_200_keeps_the_servers_body_and_words() -> None:
    payload = {"error": {"message": "Internal error", "type": "server_error"}}  # localai.md, stream error
    found = error_in_payload(get_provider("localai"), URL, payload)
    assert isinstance(found, ServerError)
    assert (found.provider, found.base_url, found.server_message) == ("LocalAI", URL, "Internal error")
    assert found.body is not None and json.loads(found.body) == payload
    assert "Internal error" in str(found)


def test_an_error_without_a_message_says_so() -> None:
    found = error_in_payload(get_provider("lmstudio"), URL, {"error": {"type": "server_error"}})
    assert found is not None
    assert found.server_message is None
    assert "without a message" in found.message
    assert error_in_payload(get_provider("lmstudio"), URL, {"choices": []}) is None


# -------------------------------------------------------------------------- extraction
@pytest.mark.parametrize(
    ("payload", "message", "tags"),
    [
        ({"error": {"msg": "bad"}}, "bad", ""),
        ({"error": {"message": "gone", "type": "not_found", "code": 404}}, "gone", "not_found 404"),
        ({"error": "Invalid or missing API key"}, "Invalid or missing API key", ""),
        ({"code": "lemond_offline", "error": "offline"}, "offline", "lemond_offline"),
        ({"object": "error", "message": "x", "type": "NotFoundError", "code": 404}, "x", "NotFoundError 404"),
        ({"object": "error"}, "", ""),
        ({"detail": {"error": {"message": "", "type": "invalid_request_error", "code": "invalid_api_key"}}}, "",
         "invalid_request_error invalid_api_key"),
        ({"detail": {"error": {"message": "Invalid API key", "code": "invalid_api_key"}}}, "Invalid API key",
         "invalid_api_key"),
        ({"detail": {"error": {"message": "Invalid API key"}}}, "Invalid API key", ""),
        ({"detail": {"error": "Unauthorized", "type": "unauthorized"}}, "Unauthorized", "unauthorized"),
        ({"detail": {"type": "bad_input"}}, "", "bad_input"),
        ({"detail": {"msg": "No LLaVA model loaded"}}, "No LLaVA model loaded", ""),
        ({"detail": {"msg": "Error parsing input.", "error": "x", "type": "bad_input"}}, "Error parsing input.",
         "bad_input"),
        ({"detail": "Method Not Allowed"}, "Method Not Allowed", ""),
        ({"text": "**NETWORK ERROR**", "error_code": 50002}, "**NETWORK ERROR**", "50002"),
        ({"text": "", "error_code": 50001}, "", "50001"),
    ],
)  # fmt: skip
def test_every_envelope_gives_its_message_and_its_type_and_code(payload: dict, message: str, tags: str) -> None:
    found = extract_error(payload)
    assert found is not None
    assert found[0] == message
    assert found[1].split() == tags.split()


@pytest.mark.parametrize("payload", [None, [], "error", {"error": ""}, {"error": None}, {"error_code": 1}, {"id": "x"}])
def test_bodies_that_are_not_errors_give_nothing(payload: object) -> None:
    assert extract_error(payload) is None


# ---------------------------------------------------------------------- what to do next
@pytest.mark.parametrize(
    ("status", "body", "cls", "advice"),
    [
        (401, "", AuthenticationError, "LMSTUDIO_API_KEY"),
        (404, '{"error":"No models loaded."}', ModelNotLoadedError, "lms load"),
        (503, "", ServerBusyError, "warmup_timeout"),
        (400, '{"error":"Context size has been exceeded."}', ContextOverflowError, "max_tokens"),
        (501, "", UnsupportedFeatureError, "does not offer"),
        (422, "", BadRequestError, "extra_body"),
    ],
)
def test_each_kind_of_error_says_what_to_do(status: int, body: str, cls: type[OrbitLocalError], advice: str) -> None:
    error = error_from_response(get_provider("lmstudio"), URL, status, body)
    assert type(error) is cls
    assert error.hint is not None and advice in error.hint
    assert advice in str(error)


def test_a_plain_server_error_has_no_made_up_advice() -> None:
    error = error_from_response(get_provider("llama-cpp-python"), URL, 500, "Internal Server Error")
    assert type(error) is ServerError
    assert error.hint is None


@pytest.mark.parametrize(
    ("status", "body", "cls", "words"),
    [
        (404, "", EndpointNotFoundError, "base URL"),  # KoboldCpp: unknown POST path, empty body
        (404, "   ", EndpointNotFoundError, "/v1"),
        (405, "", EndpointNotFoundError, "does not take"),
        (405, '{"detail":"Method Not Allowed"}', EndpointNotFoundError, "Method Not Allowed"),
        (500, "", ServerError, "HTTP 500 with an empty body"),  # GPT4All: load failure
        (302, "", ProtocolError, "HTTP 302"),
    ],
)
def test_empty_and_routing_errors_point_at_the_url(
    status: int, body: str, cls: type[OrbitLocalError], words: str
) -> None:
    error = error_from_response(get_provider("koboldai"), URL, status, body)
    assert type(error) is cls
    assert words in str(error)
    if status in (404, 405):
        assert "base URL" in str(error)  # the hint: check the prefix, or the feature is missing


def test_a_status_without_a_body_or_a_status_says_it_has_no_message() -> None:
    error = error_from_response(get_provider("koboldai"), URL, None, "")
    assert type(error) is ServerError
    assert "without a message" in error.message
    assert error.server_message is None


def test_long_plain_text_bodies_are_kept_whole_in_body_and_shortened_in_the_message() -> None:
    body = "x" * 5000
    error = error_from_response(get_provider("llama-cpp-python"), URL, 500, body)
    assert error.server_message is not None and 0 < len(error.server_message) < len(body)
    assert error.body is not None and body.startswith(error.body) and len(error.server_message) < len(error.body)


def test_a_body_that_looks_like_json_but_is_not_is_shown_as_text() -> None:
    error = error_from_response(get_provider("lmstudio"), URL, 500, "{oops")
    assert type(error) is ServerError
    assert error.server_message == "{oops"


def test_a_busy_error_keeps_the_servers_words_and_adds_the_wait() -> None:
    """llama.cpp while loading (providers/llamacpp.md), with a Retry-After of 3 s."""
    body = '{"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}'
    error = error_from_response(get_provider("llamacpp"), "http://127.0.0.1:8080/v1", 503, body, retry_after=3.0)
    assert isinstance(error, errors.ServerBusyError) and error.retry_after == 3.0
    assert "Loading model" in error.message and "3 s" in error.message


# --- the missing-route hint ----------------------------------------------------------------------
# It compares API prefixes, not spellings: a trailing slash, a base URL that is only the root, a
# server with no known prefix. A user may register a profile for a server of their own
# (``ProviderProfile.with_overrides``, ``providers.register``) and write its default URL as they
# please; each of the hint's two forms gives a fix.


def _missing_route(profile_default: str, base_url: str) -> errors.OrbitLocalError:
    profile = get_provider("openai-compatible").with_overrides(
        name="my-server", display_name="My Server", default_base_url=profile_default
    )
    return error_from_response(profile, base_url, 404, "", route="POST /v1/embeddings")


def test_a_profiles_default_url_with_a_trailing_slash_has_the_same_prefix() -> None:
    error = _missing_route("http://localhost:9000/v1/", "http://127.0.0.1:9000/v1")
    assert isinstance(error, errors.EndpointNotFoundError)
    hint = error.hint or ""
    assert "try base_url" not in hint  # the base URL is right: the server lacks the endpoint
    assert "looks right" in hint


def test_each_form_of_the_hint_ends_with_what_to_check() -> None:
    wrong_prefix = _missing_route("http://localhost:9000/v1", "http://127.0.0.1:9000/api").hint or ""
    assert "try base_url ending in '/v1' (e.g. http://localhost:9000/v1)" in wrong_prefix
    assert "lacks the feature" in wrong_prefix  # if the prefix was not it
    right_prefix = _missing_route("http://localhost:9000/v1", "http://127.0.0.1:9000/v1").hint or ""
    assert "check its documentation for the option that enables it" in right_prefix


def test_a_404_without_a_route_still_says_there_is_no_such_endpoint() -> None:
    error = error_from_response(get_provider("lmstudio"), "http://127.0.0.1:1234/v1", 404, "")
    assert isinstance(error, errors.EndpointNotFoundError)
    assert "the server has no such endpoint" in error.message


def _not_found(provider: str, base: str) -> errors.OrbitLocalError:
    return error_from_response(get_provider(provider), base, 404, "", route="POST /v1/embeddings")


def test_a_base_url_with_a_trailing_slash_has_the_right_prefix() -> None:
    """``http://host:1234/v1/`` is LM Studio's prefix: the hint must not send the user to fix
    the base URL, but to the server's feature."""
    for base in ("http://127.0.0.1:1234/v1/", "http://127.0.0.1:1234/v1"):
        hint = _not_found("lmstudio", base).hint or ""
        assert "try base_url" not in hint, base
        assert "looks right" in hint


def test_a_base_url_without_a_path_is_named_as_the_root() -> None:
    hint = _not_found("lmstudio", "http://127.0.0.1:1234").hint or ""
    assert "'/v1'" in hint and "'/'" in hint  # the prefix it needs, and the path it has


def test_a_server_without_a_known_prefix_is_not_sent_to_one() -> None:
    """``openai-compatible`` knows no default URL: there is no prefix to suggest."""
    hint = _not_found("openai-compatible", "http://127.0.0.1:9000/api").hint or ""
    assert "try base_url" not in hint and "''" not in hint


def test_an_endpoint_error_inside_a_200_body_judges_the_callers_base_url() -> None:
    """LM Studio answers an unknown route with 200 and ``{"error": "Unexpected endpoint..."}``;
    at the right base URL the hint must not blame it."""
    error = error_in_payload(
        get_provider("lmstudio"), "http://127.0.0.1:1234/v1", {"error": "Unexpected endpoint or method. (GET /v1/x)"}
    )
    assert isinstance(error, errors.EndpointNotFoundError)
    assert "try base_url" not in (error.hint or "")


def test_a_missing_route_without_a_route_name_still_reads_as_a_sentence() -> None:
    """``error_from_response`` may be called without ``route`` (hint probes, internal callers):
    the message must not print ``None``, an empty method, or empty brackets for an empty body."""
    profile = get_provider("lmstudio")
    for status in (404, 405):
        message = error_from_response(profile, "http://127.0.0.1:1234/v1", status, "").message
        assert "None" not in message and "  " not in message and " on " not in message, message
        assert "()" not in message, message
    with_route = error_from_response(profile, "http://127.0.0.1:1234/v1", 404, "", route="POST /v1/embeddings")
    assert "POST /v1/embeddings" in with_route.message and "()" not in with_route.message
    assert with_route.message.endswith("/v1/embeddings")  # an empty body adds nothing after the route


def test_an_html_404_page_is_a_missing_route() -> None:
    """Python's http.server (and many proxies) answer an unknown path with an HTML error page."""
    page = (
        '<!DOCTYPE HTML>\n<html lang="en">\n    <head>\n        <meta charset="utf-8">\n'
        "        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n"
        "        <p>Error code: 404</p>\n        <p>Message: File not found.</p>\n    </body>\n</html>\n"
    )
    error = error_from_response(get_provider("lmstudio"), "http://127.0.0.1:1234/v1", 404, page, route="GET /v1/x")
    assert type(error) is errors.EndpointNotFoundError


# --- the hierarchy's own promises ---------------------------------------------------------------
# How a message reads (docs/errors.md), advice added after the fact, pickling with every field, and
# the category vocabulary the real-session corpus uses.


LMSTUDIO_DEFAULT_URL = "http://localhost:1234/v1"


@pytest.mark.parametrize(
    ("fields", "rendered"),
    [
        # docs/errors.md: "LM Studio at http://localhost:1234/v1: <what happened> — <what to do>"
        ({"provider": "LM Studio", "base_url": LMSTUDIO_DEFAULT_URL, "hint": "load a model"},
         f"LM Studio at {LMSTUDIO_DEFAULT_URL}: model missing — load a model"),
        ({"provider": "LM Studio"}, "LM Studio: model missing"),
        ({"base_url": LMSTUDIO_DEFAULT_URL}, "model missing"),
        ({}, "model missing"),
        ({"provider": "LM Studio", "base_url": LMSTUDIO_DEFAULT_URL, "status_code": 404},
         f"LM Studio at {LMSTUDIO_DEFAULT_URL}: model missing (HTTP 404)"),
        ({"hint": ""}, "model missing"),
    ],
    ids=["server-url-hint", "server-only", "url-only", "bare", "status", "empty-hint"],
)  # fmt: skip
def test_a_message_names_server_url_status_and_fix(fields: dict[str, object], rendered: str) -> None:
    error = ModelNotFoundError("model missing", **fields)  # type: ignore[arg-type]
    assert str(error) == rendered
    assert error.message == "model missing"


def test_advice_found_later_is_appended_and_shown() -> None:
    error = ServerError("boom", provider="vLLM", base_url="http://h:8000/v1", hint="check its log")
    error.add_hint("provider='llamacpp' handles its quirks")
    assert error.hint == "check its log; provider='llamacpp' handles its quirks"
    assert str(error).endswith("— check its log; provider='llamacpp' handles its quirks")
    bare = ServerError("boom")
    bare.add_hint("retry")
    assert bare.hint == "retry" and str(bare) == "boom — retry"


@pytest.mark.parametrize("cls", [ServerBusyError, StreamInterruptedError, StreamTimeoutError, ContextOverflowError])
def test_every_field_survives_pickling(cls: type[OrbitLocalError]) -> None:
    """Errors cross process boundaries (multiprocessing, pytest-xdist) with every field."""
    fields = {
        "provider": "KoboldCpp",
        "base_url": "http://h:5001/v1",
        "status_code": 503,
        "server_message": "Server is busy; please try again later.",
        "hint": "retry later",
        "body": '{"detail": {"msg": "Server is busy"}}',
        "method": "POST",
        "url": "http://h:5001/api/v1/generate",
    }
    error = cls("busy", **fields)  # type: ignore[arg-type]
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is cls
    assert {name: getattr(clone, name) for name in fields} == fields
    assert clone.message == "busy" and str(clone) == str(error)


def test_a_cut_stream_keeps_its_partial_text() -> None:
    error = StreamInterruptedError("cut", partial_text="Hel", provider="vLLM")
    assert error.partial_text == "Hel" and str(error) == "vLLM: cut"
    assert StreamInterruptedError("cut").partial_text == ""


@pytest.mark.parametrize(
    ("cls", "category"),
    [
        (BadRequestError, "bad_request"),
        (ContextOverflowError, "context_overflow"),
        (ModelNotFoundError, "model_not_found"),
        (ServerBusyError, "server_busy"),
        (ServerError, "server_error"),
    ],
)
def test_categories_are_the_real_session_corpus_vocabulary(cls: type[OrbitLocalError], category: str) -> None:
    """The conformance corpus (tests/conformance, ORBIT_REAL_SESSIONS) names expected errors by
    these categories; a renamed category would fail every recorded error case."""
    assert cls.category == category


def test_categories_tell_every_class_apart() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, OrbitLocalError)]
    categories = [c.category for c in classes]
    assert len(set(categories)) == len(classes) > 10
