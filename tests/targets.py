"""Recording targets: which server, which models, what it is known to do.

A target is data, like a provider profile: the scenario suite and the langchain-tests
integration suite run once per target that has cassettes under ``cassettes/<name>/``.
Expectations that differ per server (does an unknown model fail? is there usage in streams?)
are written here, from what the real server did, so tests assert each server's real
behaviour instead of an ideal one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException

from orbit_local.facts.errors import BadRequestError, OrbitLocalError, ProtocolError

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"


@dataclass(frozen=True)
class Limitation:
    """Why a standard test cannot pass on a target, and the only failure that proves it."""

    reason: str
    raises: type[BaseException] | tuple[type[BaseException], ...] = AssertionError
    match: str | None = None  # a regular expression the exception's text must contain


def as_limitation(value: str | Limitation) -> Limitation:
    """A bare reason means an assertion failed (the standard tests' own checks)."""
    return value if isinstance(value, Limitation) else Limitation(value)


@dataclass(frozen=True)
class Target:
    name: str  # cassette folder (and `make record PROVIDER=<name>`)
    provider: str  # orbit_local profile
    base_url: str  # where the recorder's server listened (replay matches on path only)
    launcher: str | None  # tests/live/servers.py launcher, None: the user starts the server
    chat_model: str
    tools_model: str | None = None  # None: no tool calling
    embed_model: str | None = None  # None: no embeddings
    usage: bool = True  # non-stream usage is real
    stream_usage: bool = False  # usage arrives in streams
    unknown_model_error: bool = True  # False: the server silently serves its default model
    malformed_error: type[OrbitLocalError] = BadRequestError
    structured_output: bool = False
    raw_completion: bool = False  # LlamaIndex complete() sends the prompt as is (KoboldAI generate)
    # False where a short answer can arrive in one event: KoboldCpp sends its first SSE event
    # only after ~0.35 s and then polls every 20 ms, so each event carries every token so far.
    multi_chunk_stream: bool = True
    xfail_standard: dict[str, str | Limitation] = field(default_factory=dict)  # langchain-tests name -> why
    suites: tuple[str, ...] = (
        "tests/replay/test_scenarios.py",
        "tests/standard/test_langchain_integration_standard.py",
    )

    def chat_settings(self, **kwargs: Any) -> dict[str, Any]:
        """Keywords for a generic class of either framework on this target's server, answering
        as deterministically as the server can (temperature 0, a fixed seed)."""
        return {
            "provider": self.provider,
            "base_url": self.base_url,
            "model": self.chat_model,
            "temperature": 0,
            "seed": 7,
            **kwargs,
        }

    @property
    def cassette_dir(self) -> Path:
        return CASSETTES / self.name

    @property
    def recorded(self) -> bool:
        """Cassettes are complete once the recorder wrote provenance.json (its last step)."""
        return (self.cassette_dir / "provenance.json").is_file()


_SMALL_MODEL = "SmolLM2-135M-Instruct is too small to follow this instruction reliably"


def _unparsable(reason: str) -> Limitation:
    """The model's JSON came back but does not fit the schema: LangChain's parser says so."""
    return Limitation(reason, raises=OutputParserException, match=r"^Failed to parse|Invalid json output")

TARGETS: list[Target] = [
    Target(
        name="llama-cpp-python",
        provider="llama-cpp-python",
        base_url="http://127.0.0.1:8000/v1",
        launcher="llama-cpp-python",
        chat_model="smollm2",
        tools_model="smollm2-tools",
        embed_model="smollm2-embed",
        unknown_model_error=False,  # unknown names are served by the default model
        # pydantic validation errors come back as HTTP 500; the body says it was the request
        malformed_error=BadRequestError,
        structured_output=True,
        xfail_standard={
            "test_usage_metadata_streaming": "llama-cpp-python ignores stream_options.include_usage: its streams carry no usage",
            "test_tool_calling": f"{_SMALL_MODEL}: the grammar forces a well-formed call, but the argument value is wrong",
            "test_tool_calling_async": f"{_SMALL_MODEL}: the grammar forces a well-formed call, but the argument value is wrong",
            "test_tool_choice": (
                "llama-cpp-python answers 500 to tool_choice='required'; with two tools it is downgraded to 'auto', "
                f"and {_SMALL_MODEL} then calls no tool"
            ),
            "test_agent_loop": f"{_SMALL_MODEL}: with tool_choice='auto' it answers in text instead of calling the tool",
            "test_json_mode": _unparsable(f"json_mode is unconstrained JSON and {_SMALL_MODEL}: it ignores the keys the prompt asks for"),
            "test_unicode_tool_call_integration": (
                f"{_SMALL_MODEL}: the grammar starts a valid call, but the argument string runs on until "
                "max_tokens cuts the JSON (it becomes an invalid_tool_call)"
            ),
        },
    ),
    Target(
        name="fastchat",
        provider="fastchat",
        base_url="http://127.0.0.1:8000/v1",
        launcher="fastchat",
        chat_model="smollm2",
        embed_model="smollm2",
        xfail_standard={
            "test_usage_metadata_streaming": "FastChat sends no usage in streams (it has no stream_options)",
        },
    ),
    Target(
        name="koboldcpp-openai",
        provider="koboldcpp-openai",
        base_url="http://127.0.0.1:5001/v1",
        launcher="koboldcpp",
        chat_model="koboldcpp/SmolLM2-135M-Instruct.Q4_1",
        usage=False,  # the OpenAI side reports a fake 100/100/200, which we drop
        # As on the native API: the first SSE event comes after ~0.35 s, and on a machine
        # that generates the short answer by then it arrives in one event.
        multi_chunk_stream=False,
        unknown_model_error=False,  # the model field is ignored
        malformed_error=ProtocolError,  # wrong field types -> HTTP 200 with body `null`
    ),
    Target(
        name="koboldcpp",
        provider="koboldai",
        base_url="http://127.0.0.1:5001/v1",
        launcher="koboldcpp",
        chat_model="koboldcpp/SmolLM2-135M-Instruct.Q4_1",
        stream_usage=True,  # counted with /api/extra/tokencount after the stream
        raw_completion=True,
        multi_chunk_stream=False,
        unknown_model_error=False,  # the generate API takes no model
        malformed_error=ProtocolError,  # wrong field types -> HTTP 200 with body `null`
    ),
    Target(
        name="llamacpp",
        provider="llamacpp",
        base_url="http://127.0.0.1:8080/v1",
        launcher="llamacpp",
        chat_model="smollm2",
        # SmolLM2's own chat template has no tool section: llama-server then renders the
        # prompt without the tools and the model answers in text. No tool calling to record.
        tools_model=None,
        embed_model="smollm2",
        stream_usage=True,
        unknown_model_error=False,  # a single-model llama-server serves any name
        structured_output=True,
        xfail_standard={
            "test_structured_output[pydantic]": (
                _unparsable(f"{_SMALL_MODEL}: the schema-constrained JSON string runs on until max_tokens cuts the object")
            ),
            "test_structured_output_async[pydantic]": (
                _unparsable(f"{_SMALL_MODEL}: the schema-constrained JSON string runs on until max_tokens cuts the object")
            ),
            "test_structured_output_pydantic_2_v1": (
                _unparsable(f"{_SMALL_MODEL}: the schema-constrained JSON string runs on until max_tokens cuts the object")
            ),
            "test_json_mode": _unparsable(f"json_mode is unconstrained JSON and {_SMALL_MODEL}: it ignores the keys the prompt asks for"),
        },
    ),
]

# Lemonade Server (what AMD GAIA runs) cannot be installed from a registry; it is recorded
# from a server the recorder did not start (make record PROVIDER=lemonade RECORD_ARGS=...).
TARGETS.append(
    Target(
        name="lemonade",
        provider="lemonade",
        base_url="http://127.0.0.1:13305/api/v1",
        launcher=None,
        chat_model="SmolLM2-135M-Instruct.Q4_1",
        stream_usage=True,
        structured_output=True,  # json_schema, passed through to its llama-server backend
        xfail_standard={
            "test_json_mode": _unparsable(f"json_mode is unconstrained JSON and {_SMALL_MODEL}: it ignores the keys the prompt asks for"),
        },
    )
)

# The runnable examples in examples/, recorded on llama-cpp-python (tools through its
# chatml-function-calling format, embeddings through a pooled model entry).
EXAMPLES = Target(
    name="examples-llama-cpp-python",
    provider="llama-cpp-python",
    base_url="http://127.0.0.1:8000/v1",
    launcher="llama-cpp-python",
    chat_model="smollm2",
    tools_model="smollm2-tools",
    embed_model="smollm2-embed",
    suites=("tests/replay/test_examples.py",),
)
# KoboldCpp's abort on early stop, recorded on its own so it can be re-recorded alone.
KOBOLD_ABORT = Target(
    name="koboldcpp-abort",
    provider="koboldai",
    base_url="http://127.0.0.1:5001/v1",
    launcher="koboldcpp",
    chat_model="koboldcpp/SmolLM2-135M-Instruct.Q4_1",
    suites=("tests/replay/test_kobold_abort.py",),
)
TARGETS.extend([EXAMPLES, KOBOLD_ABORT])

def _suite_targets(prefix: str, suite: tuple[str, ...], names: tuple[str, ...]) -> list[Target]:
    """Copies of recorded targets that run one more suite into their own cassette folder."""
    return [replace(t, name=f"{prefix}-{t.name}", suites=suite, xfail_standard={}) for t in TARGETS if t.name in names]


# Auto-detection against real servers: the fingerprint probes, a chat through the profile
# detection picked, and the hint a mismatched profile's error carries. ``provider`` is the
# profile the started server needs, known from what was started, not from detection.
DETECTION_SUITE = ("tests/replay/test_detection.py",)
DETECTION = _suite_targets("detect", DETECTION_SUITE, ("llama-cpp-python", "koboldcpp", "llamacpp", "fastchat"))
# Step 6 features against real servers: token counts from the server's tokenizer, logprobs,
# LlamaIndex raw JSON, and the context window the server reports.
FEATURES_SUITE = ("tests/replay/test_features.py",)
FEATURES = _suite_targets("features", FEATURES_SUITE, ("llama-cpp-python", "koboldcpp", "koboldcpp-openai", "llamacpp"))
# A LlamaIndex FunctionAgent streaming run: a forced tool call streamed by llama-cpp-python,
# and reasoning streamed by llama-server (its chat template opens a think block, see
# tests/live/servers.py). Only the run itself is recorded (test_agent_run); the suite's
# other tests replay its cassette to check what the stream events carry.
AGENT_SUITE = ("tests/replay/test_agent_stream.py::test_agent_run",)
AGENT = [
    replace(t, launcher="llamacpp-reasoning") if t.launcher == "llamacpp" else t
    for t in _suite_targets("agent", AGENT_SUITE, ("llama-cpp-python", "llamacpp"))
]
# Step 11 against llama-server: reasoning sent back (a template that renders it, so the prompt's
# token count shows it arrived) and the typed samplers (grammar, json_schema, reasoning budget).
REASONING_BACK_SUITE = ("tests/replay/test_reasoning_history.py",)
_STEP11_URL = "http://127.0.0.1:8092/v1"  # tests/live/servers.py STEP11_PORT
REASONING_BACK = [
    replace(t, launcher="llamacpp-interleaved", base_url=_STEP11_URL)
    for t in _suite_targets("reasoning-back", REASONING_BACK_SUITE, ("llamacpp",))
]
SAMPLERS_SUITE = ("tests/replay/test_sampler_fields.py",)
SAMPLERS = [
    replace(t, launcher="llamacpp-step11", base_url=_STEP11_URL)
    for t in _suite_targets("samplers", SAMPLERS_SUITE, ("llamacpp",))
]
TARGETS.extend([*DETECTION, *FEATURES, *AGENT, *REASONING_BACK, *SAMPLERS])

# GPT4All's desktop app (gpt4all-chat), built from source and started headless by
# tests/live/gpt4all_desktop.sh (the recorder does not start it: launcher None). Its own suite:
# the server's answers to raw requests (what it accepts, refuses and drops) next to the same
# asks through ChatGPT4All / GPT4All. The "API switch off" answers need the app restarted with
# serverChat=false, so they are a target of their own.
GPT4ALL_DESKTOP_SUITE = ("tests/replay/test_gpt4all_desktop.py",)
GPT4ALL_API_OFF_SUITE = ("tests/replay/test_gpt4all_desktop_api_off.py",)
_GPT4ALL_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"  # a sideloaded GGUF is listed under its file name
GPT4ALL_DESKTOP = [
    Target(
        name=f"gpt4all-desktop-{version}",
        provider="gpt4all",
        base_url="http://127.0.0.1:4891/v1",
        launcher=None,
        chat_model=_GPT4ALL_MODEL,
        unknown_model_error=False,  # an unknown name is answered by the default model
        suites=GPT4ALL_DESKTOP_SUITE,
    )
    for version in ("3.4.2", "3.9.0")
]
GPT4ALL_API_OFF = [
    replace(t, name=f"{t.name}-api-off", suites=GPT4ALL_API_OFF_SUITE) for t in GPT4ALL_DESKTOP
]
TARGETS.extend([*GPT4ALL_DESKTOP, *GPT4ALL_API_OFF])

# Reranking through llama-server's /v1/rerank: a server started with --reranking (launcher
# llamacpp-rerank, the BERT model of tests/live/rerank_model.sh), and the plain llamacpp server
# (SmolLM2, no --reranking) for the error a server without reranking answers.
RERANK_SUITE = ("tests/replay/test_rerank.py",)
RERANK_OFF_SUITE = ("tests/replay/test_rerank_unsupported.py",)
RERANK = Target(
    name="rerank-llamacpp",
    provider="llamacpp",
    base_url="http://127.0.0.1:8080/v1",
    launcher="llamacpp-rerank",
    chat_model="minilm-rerank",
    suites=RERANK_SUITE,
)
RERANK_OFF = replace(
    RERANK, name="rerank-llamacpp-off", launcher="llamacpp", chat_model="smollm2", suites=RERANK_OFF_SUITE
)
TARGETS.extend([RERANK, RERANK_OFF])
# Model management against llama.cpp's router (tests/live/servers.py "llamacpp-router"): the list
# with state, load (polled until loaded), chat, unload, a chat to an unloaded model and auto_load.
MODELS_SUITE = ("tests/replay/test_models.py",)
MODELS = [
    Target(
        name="models-llamacpp-router",
        provider="llamacpp",
        base_url="http://127.0.0.1:8080/v1",
        launcher="llamacpp-router",
        chat_model="smollm2-a",
        suites=MODELS_SUITE,
    )
]
TARGETS.extend(MODELS)
# Lemonade's model management (step 11), recorded from a lemond you start yourself (launcher
# None; tests/live/lemonade_build.sh builds it and writes its offline config.json).
MODELS_LEMONADE_SUITE = ("tests/replay/test_models_lemonade.py",)
MODELS_LEMONADE = Target(
    name="models-lemonade",
    provider="lemonade",
    base_url="http://127.0.0.1:13305/api/v1",
    launcher=None,
    chat_model="SmolLM2-135M-Instruct.Q4_1",
    suites=MODELS_LEMONADE_SUITE,
)
TARGETS.append(MODELS_LEMONADE)
# Images through a real llama-server (step 10): one started with a multimodal projector made on
# this machine (tests/live/make_mmproj.py, globalmm; see tests/live/servers.py) answers chats
# with images, and the same server started without one refuses them. Two launches, two folders.
VISION_SUITE = ("tests/replay/test_vision.py",)
NO_PROJECTOR_SUITE = ("tests/replay/test_vision_no_projector.py",)
VISION = Target(
    name="vision-llamacpp",
    provider="llamacpp",
    base_url="http://127.0.0.1:8181/v1",  # tests/live/servers.py VISION_PORT
    launcher="llamacpp-vision",
    chat_model="smollm2",
    stream_usage=True,
    unknown_model_error=False,
    suites=VISION_SUITE,
)
NO_PROJECTOR = replace(
    VISION, name="vision-llamacpp-no-mmproj", launcher="llamacpp-no-mmproj", suites=NO_PROJECTOR_SUITE
)
TARGETS.extend([VISION, NO_PROJECTOR])

BY_NAME = {t.name: t for t in TARGETS}


def active_targets() -> list[Target]:
    """Targets to run: while recording, only the one being recorded (at its live URL)."""
    recording = os.environ.get("ORBIT_RECORD_TARGET")
    if recording:
        live_url = os.environ.get("ORBIT_RECORD_BASE_URL")
        target = BY_NAME[recording]
        return [replace(target, base_url=live_url) if live_url else target]
    return [t for t in TARGETS if t.recorded and t.suites == Target.suites]


def replay_params(targets: list[Target], what: str) -> list[Any]:
    """pytest params of a replay suite: one per recorded target, or one skip that says what has
    not been recorded yet."""
    params = [pytest.param(t, id=t.name) for t in targets]
    return params or [pytest.param(None, marks=pytest.mark.skip(reason=f"no {what} cassettes recorded yet"), id="none")]


def _recorded_for(suite: tuple[str, ...], targets: list[Target]) -> list[Target]:
    """Targets of ``suite`` with cassettes (or the one being recorded)."""
    if os.environ.get("ORBIT_RECORD_TARGET"):
        return [t for t in active_targets() if t.suites == suite]
    return [t for t in targets if t.recorded]


def features_targets() -> list[Target]:
    return _recorded_for(FEATURES_SUITE, FEATURES)


def detection_targets() -> list[Target]:
    return _recorded_for(DETECTION_SUITE, DETECTION)


def agent_targets() -> list[Target]:
    return _recorded_for(AGENT_SUITE, AGENT)


def reasoning_back_targets() -> list[Target]:
    return _recorded_for(REASONING_BACK_SUITE, REASONING_BACK)


def samplers_targets() -> list[Target]:
    return _recorded_for(SAMPLERS_SUITE, SAMPLERS)


def gpt4all_desktop_targets() -> list[Target]:
    return _recorded_for(GPT4ALL_DESKTOP_SUITE, GPT4ALL_DESKTOP)


def gpt4all_api_off_targets() -> list[Target]:
    return _recorded_for(GPT4ALL_API_OFF_SUITE, GPT4ALL_API_OFF)


def rerank_targets() -> list[Target]:
    return _recorded_for(RERANK_SUITE, [RERANK])


def rerank_off_targets() -> list[Target]:
    return _recorded_for(RERANK_OFF_SUITE, [RERANK_OFF])


def models_targets() -> list[Target]:
    return _recorded_for(MODELS_SUITE, MODELS)


def models_lemonade_targets() -> list[Target]:
    return _recorded_for(MODELS_LEMONADE_SUITE, [MODELS_LEMONADE])


def vision_targets() -> list[Target]:
    return _recorded_for(VISION_SUITE, [VISION])


def no_projector_targets() -> list[Target]:
    return _recorded_for(NO_PROJECTOR_SUITE, [NO_PROJECTOR])
