"""Every server's error shapes map to one typed hierarchy with actionable messages."""

from __future__ import annotations

import pickle

import pytest

from orbit_local.errors import (
    AuthenticationError,
    BadRequestError,
    ContextOverflowError,
    ModelNotFoundError,
    ModelNotLoadedError,
    OrbitLocalError,
    ServerBusyError,
    ServerError,
    UnsupportedFeatureError,
)
from orbit_local.protocols.errors import error_from_response
from orbit_local.providers import get_provider

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
