"""ORBIT's ``inference.yaml``: one block per server, read into settings for any class.

The format is ORBIT's own (see its ``config/inference.yaml`` and the blocks in the list of
local providers this project grew from)::

    inference:            # optional wrapper, as in ORBIT's file
      lm_studio:
        enabled: true
        base_url: "http://localhost:1234"   # with or without /v1
        model: null
        api_key: ${LMSTUDIO_API_KEY:-}      # ${VAR} from the environment; unset is an error
                                            # unless a default follows :- (here: no key)
        temperature: 0.2
        max_tokens: 512
        timeout: {connect: 10000, total: 120000, warmup: 30000}   # ORBIT's milliseconds
        retry: {enabled: true, max_retries: 3}

Block names are ORBIT's (``localai``, ``lm_studio``, ``fastchat``, ``gpt4all``, ``koboldai``,
``amd_gaia``) plus ours (``llama_cpp``, ``llama_cpp_python``, ``vllm``, ``shimmy``, ``ollama``),
any profile name, or any name with ``provider:`` in the block. ORBIT's blocks for cloud
services are skipped (listed in :attr:`OrbitConfig.skipped`). Every other mistake — an unknown
block or key, a value of the wrong type, an unset ``${VAR}``, an enabled block without what it
needs — raises :class:`ConfigError` naming the file and the key; a value that may be a secret
(``api_key``, ``base_url``, ...) is described by its type only. Aliases that would expand past a
bound are refused before anything is built (:mod:`orbit_local.wire.bounded_yaml`).

Precedence, for every setting: arguments, then environment variables, then the file, then
the defaults.
"""

from __future__ import annotations

import difflib
import os
import re
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from orbit_local.facts.environment import Setting, pick
from orbit_local.facts.errors import OrbitLocalError
from orbit_local.facts.log import warn
from orbit_local.facts.providers import SAMPLER_PARAMS, ProviderProfile, get_provider
from orbit_local.facts.urls import DEFAULT_API_PREFIX, check_base_url

BLOCK_PROVIDERS: dict[str, str] = {
    "localai": "localai",
    "lm_studio": "lmstudio",
    "fastchat": "fastchat",
    "gpt4all": "gpt4all",
    "koboldai": "koboldai",
    "amd_gaia": "lemonade",
    "llama_cpp": "llamacpp",
    "llama_cpp_python": "llama-cpp-python",
    "vllm": "vllm",
    "shimmy": "shimmy",
    "ollama": "ollama",
    "ollama_remote": "ollama",
}
"""ORBIT's block names (and ours) and the profile each one means."""

ORBIT_CLOUD_BLOCKS = frozenset(
    {
        "ollama_cloud", "openai", "anthropic", "gemini", "vertex", "groq", "deepseek", "mistral", "together",
        "xai", "aws", "azure", "huggingface", "transformers", "tensorrt", "openrouter", "cohere", "watson",
        "bitnet", "zai", "perplexity", "fireworks", "replicate", "nvidia", "cerebras",
    }
)  # fmt: skip
"""ORBIT blocks for services that are not local servers: skipped, never an error."""

SAMPLER_KEYS = frozenset(
    {
        "top_k", "min_p", "typical_p", "repeat_penalty", "repetition_penalty", "repeat_last_n",
        "presence_penalty", "frequency_penalty", "mirostat", "mirostat_tau", "mirostat_eta", "logit_bias",
        "tfs_z", "penalize_newline", "num_keep",
    }
)  # fmt: skip
"""Sampling keys ORBIT writes: those in :data:`~orbit_local.facts.providers.SAMPLER_PARAMS` become the
classes' typed fields; the others are sent to the server as they are (``extra_body``)."""

ORBIT_ONLY_KEYS = frozenset({"think", "show_thinking", "keep_alive", "verbose"})
"""ORBIT keys that steer ORBIT itself; read, reported as unused, never sent."""

_FIELDS = (
    "provider", "enabled", "base_url", "host", "port", "model", "embedding_model", "api_key", "temperature",
    "top_p", "max_tokens", "seed", "stop", "stop_tokens", "timeout", "retry", "stream", "context_window",
    "model_path", "chat_template", "use_preset", "mode",
)  # fmt: skip
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(OrbitLocalError, ValueError):
    """The configuration file is wrong; the message names the file and the key."""


class Timeouts(BaseModel):
    """ORBIT's ``timeout:`` mapping, in milliseconds."""

    model_config = ConfigDict(extra="forbid")
    connect: int | None = None
    total: int | None = None
    warmup: int | None = None


class Retry(BaseModel):
    """ORBIT's ``retry:`` mapping; only ``enabled`` and ``max_retries`` change anything here."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    max_retries: int | None = Field(default=None, ge=0)
    initial_wait_ms: int | None = None
    max_wait_ms: int | None = None
    exponential_base: float | None = None


class ServerBlock(BaseModel):
    """One validated block: which server, and the settings for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    provider: str
    enabled: bool = False
    base_url: str | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    model: str | None = None
    embedding_model: str | None = None
    api_key: SecretStr | None = None
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float | Timeouts | None = None
    retry: Retry | None = None
    stream: bool | None = None
    context_window: int | None = Field(default=None, gt=0)
    model_path: str | None = None
    chat_template: str | None = None
    use_preset: str | None = None
    mode: Literal["api", "direct"] | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    unused: tuple[str, ...] = ()

    @field_validator("base_url")
    @classmethod
    def _base_url_is_a_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The same check as every class's ``base_url`` (surrounding whitespace stripped); a
        bare ``http://host:port`` stays bare here and gets the server's prefix later."""
        provider = info.data.get("provider")
        prefix = DEFAULT_API_PREFIX
        if isinstance(provider, str):
            with suppress(ValueError):
                prefix = get_provider(provider).api_prefix
        return check_base_url(value, prefix)

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def profile(self) -> ProviderProfile:
        return get_provider(self.provider)

    def resolved_base_url(self) -> str | None:
        """``base_url`` with the server's API prefix added when the file gives only
        ``http://host:port`` (as the seed writes it); else ``host``/``port``; else ``None``."""
        from orbit_local.net.discovery import base_url_for

        url = self.base_url
        if not url and (self.host or self.port):
            default = self.profile.default_base_url or "http://localhost:8000/v1"
            parts = re.match(r"(https?)://([^:/]+):?(\d+)?", default)
            scheme, host, port = parts.groups() if parts else ("http", "localhost", None)
            url = f"{scheme}://{self.host or host}:{self.port or port}"
        return base_url_for(self.profile, url) if url else None

    def settings(self) -> dict[str, Any]:
        """Constructor keywords for any orbit-local class, environment variables winning.

        ``<PREFIX>BASE_URL`` / ``API_KEY`` / ``MODEL`` set in the environment take the place of
        the file's value (the class then reads them), as the precedence table says.
        """
        profile = self.profile
        values: dict[str, Any] = {"provider": profile.name}
        from_file: dict[Setting, Any] = {
            "base_url": self.resolved_base_url(),
            "api_key": self.api_key,
            "model": self.model,
        }
        for setting, value in from_file.items():
            if value is not None and pick(profile.env_prefix, setting) is None:  # the environment wins
                values[setting] = value
        for key in ("temperature", "top_p", "max_tokens", "seed", "stop", "model_path", "chat_template"):
            value = getattr(self, key)
            if value is not None:
                values[key] = value
        if self.stream is not None:
            values["streaming"] = self.stream
        if self.context_window is not None:
            values["context_window"] = self.context_window
        if isinstance(self.timeout, (int, float)):
            values["timeout"] = float(self.timeout)
        elif isinstance(self.timeout, Timeouts):
            if self.timeout.total is not None:
                values["timeout"] = self.timeout.total / 1000
            if self.timeout.warmup is not None:
                values["warmup_timeout"] = self.timeout.warmup / 1000
        if self.retry is not None:
            if not self.retry.enabled:
                values["max_retries"] = 0
            elif self.retry.max_retries is not None:
                values["max_retries"] = self.retry.max_retries
        # samplers the classes have typed fields for travel as fields: each server then gets
        # its own key for them, or a warning; the other sampling keys are sent as they are
        typed = {k: v for k, v in self.extra_body.items() if k in SAMPLER_PARAMS}
        values.update(typed)
        rest = {k: v for k, v in self.extra_body.items() if k not in typed}
        if rest:
            values["extra_body"] = rest
        return values


@dataclass(frozen=True)
class OrbitConfig:
    """A parsed ``inference.yaml``: its server blocks in file order."""

    path: Path
    blocks: dict[str, ServerBlock]
    skipped: dict[str, str] = field(default_factory=dict)

    def block(self, name: str | None = None, *, provider: str | None = None) -> ServerBlock:
        """The named block; else the first enabled block (of ``provider``, when given); else,
        with ``provider``, that server's block even when disabled (the caller asked for it)."""
        if name is not None:
            if name not in self.blocks:
                raise _error(self.path, name, "no such block", f"blocks here: {', '.join(self.blocks) or 'none'}")
            chosen = self.blocks[name]
            if provider is not None and chosen.profile.name != get_provider(provider).name:
                raise _error(self.path, name, f"is a {chosen.profile.display_name} block, not {provider}")
            return chosen
        pool = [b for b in self.blocks.values() if provider is None or b.profile.name == get_provider(provider).name]
        enabled = [b for b in pool if b.enabled]
        if enabled:
            return enabled[0]
        if provider is not None and pool:
            return pool[0]
        wanted = f"{get_provider(provider).display_name} block" if provider else "enabled block"
        raise _error(self.path, "(file)", f"has no {wanted}", "set enabled: true on the block to use, or name it")

    def enabled(self) -> list[ServerBlock]:
        return [b for b in self.blocks.values() if b.enabled]


def _error(path: Path, key: str, problem: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"{path}: {key}: {problem}", hint=hint)


def _variable(path: Path, where: str, match: re.Match[str]) -> str:
    """The value of ``${VAR}`` (or ``${VAR:-default}``): an unset variable without a default
    is an error naming the file, the key and the variable (never a value)."""
    name, default = match.group(1), match.group(2)
    value = os.environ.get(name)
    if default is not None and not value:
        return default
    if value is None:
        raise _error(
            path,
            where,
            f"refers to ${{{name}}}, which is not set",
            f"set {name} in the environment, or write ${{{name}:-default}} in the file (${{{name}:-}} for no value)",
        )
    return value


def _expand(path: Path, where: str, value: Any) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` from the environment, in every string.

    A whole value that is only a reference and comes out empty is ``None`` (no key, not
    ``""``); inside a longer string the text is substituted as it is.
    """
    if isinstance(value, str):
        whole = _ENV_REF.fullmatch(value.strip())
        if whole:
            return _variable(path, where, whole) or None
        return _ENV_REF.sub(lambda m: _variable(path, where, m), value)
    if isinstance(value, dict):
        return {k: _expand(path, f"{where}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(path, f"{where}[{i}]", v) for i, v in enumerate(value)]
    return value


def _provider_of(path: Path, name: str, raw: dict[str, Any]) -> str:
    explicit = raw.get("provider")
    candidate = explicit if isinstance(explicit, str) else BLOCK_PROVIDERS.get(name, name.replace("_", "-"))
    try:
        return get_provider(candidate).name
    except ValueError:
        known = sorted({*BLOCK_PROVIDERS, "openai_compatible", "lemonade"})
        close = difflib.get_close_matches(str(candidate), known, n=1)
        where = f"{name}.provider" if explicit else name
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise _error(
            path, where, f"unknown provider {candidate!r}", f"{hint}known blocks: {', '.join(known)}"
        ) from None


def _block(path: Path, name: str, raw: Any) -> ServerBlock:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _error(path, name, f"must be a mapping of settings, not {type(raw).__name__}")
    raw = _expand(path, name, raw)
    provider = _provider_of(path, name, raw)
    values: dict[str, Any] = {"name": name, "provider": provider}
    extra_body: dict[str, Any] = {}
    unused: list[str] = []
    for key, value in raw.items():
        if key in _FIELDS:
            if key == "stop_tokens":
                values.setdefault("stop", value)
            elif key != "provider":
                values[key] = value
        elif key in SAMPLER_KEYS:
            extra_body[key] = value
        elif key in ORBIT_ONLY_KEYS:
            unused.append(key)
        else:
            close = difflib.get_close_matches(key, [*_FIELDS, *SAMPLER_KEYS], n=1)
            raise _error(path, f"{name}.{key}", "unknown key", f"did you mean {close[0]!r}?" if close else None)
    values["extra_body"] = extra_body
    values["unused"] = tuple(unused)
    try:
        block = ServerBlock(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        if first["type"] == "value_error":  # our own check: its message already shows the value, masked
            raise _error(path, f"{name}.{key}", first["msg"].removeprefix("Value error, ")) from None
        raise _error(path, f"{name}.{key}", first["msg"], _got(key, first.get("input"))) from None
    if block.enabled:
        _check_enabled(path, block)
    return block


_SECRET_KEY = re.compile(r"key|token|secret|password|auth|base_url|header", re.IGNORECASE)
"""Keys whose values may be credentials (``base_url`` may carry ``user:password@``)."""


def _got(key: str, value: Any) -> str:
    """What an error says about a wrong value: for a key that may hold a secret only its
    type, never the value (pydantic's own message would echo it); else a short repr."""
    if _SECRET_KEY.search(key):
        return f"got a {type(value).__name__}"
    shown = repr(value)
    return f"got {shown if len(shown) <= 80 else shown[:77] + '...'}"


def _check_enabled(path: Path, block: ServerBlock) -> None:
    """An enabled block must be usable: a URL to talk to, no ORBIT-only indirection."""
    if block.use_preset and not (block.base_url or block.model):
        raise _error(
            path,
            f"{block.name}.use_preset",
            "refers to ORBIT's presets file, which orbit-local does not read",
            "write base_url and model in the block itself",
        )
    if block.mode == "direct" and not block.model_path:
        raise _error(path, f"{block.name}.mode", "direct mode loads a model in ORBIT's process", "use a server URL")
    if block.profile.name == "gpt4all" and block.model_path and not Path(block.model_path).expanduser().is_file():
        raise _error(path, f"{block.name}.model_path", f"no file at {block.model_path}")
    profile = block.profile
    reachable = block.resolved_base_url() or profile.default_base_url or os.environ.get(profile.env_base_url)
    if not reachable and not block.model_path:
        raise _error(
            path,
            f"{block.name}.base_url",
            f"is required: {block.profile.display_name} has no default address",
            "write base_url: http://host:port/v1",
        )


def _parse(source: Path, text: str) -> Any:
    """The document, read with PyYAML's safe loader; aliases that would expand past
    :data:`~orbit_local.wire.bounded_yaml.MAX_ALIAS_VALUES` values are refused before expansion."""
    import yaml

    from orbit_local.wire.bounded_yaml import AliasExpansionError, safe_load_bounded

    try:
        return safe_load_bounded(text)
    except AliasExpansionError as exc:
        where = f"line {exc.problem_mark.line + 1}" if exc.problem_mark is not None else "(file)"
        raise _error(source, where, exc.problem, exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise _error(source, where, f"is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise _error(source, "(file)", "nests too deeply to read", "an inference.yaml needs a few levels") from None


def load_config(path: str | os.PathLike[str]) -> OrbitConfig:
    """Read and validate an ORBIT ``inference.yaml`` (PyYAML's safe loader, aliases bounded)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise _error(source, "(file)", f"cannot be read: {exc.strerror or exc}") from None
    document = _parse(source, text)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise _error(source, "(file)", "must be a mapping of server blocks")
    section = document.get("inference", document)
    if not isinstance(section, dict):
        raise _error(source, "inference", "must be a mapping of server blocks")
    blocks: dict[str, ServerBlock] = {}
    skipped: dict[str, str] = {}
    for name, raw in section.items():
        key = str(name)
        if key in ORBIT_CLOUD_BLOCKS:
            skipped[key] = "an ORBIT cloud service, not a local server"
            continue
        blocks[key] = _block(source, key, raw)
    for block in blocks.values():
        if block.enabled and block.unused:
            warn(
                f"{source}: {block.name}: {', '.join(block.unused)} steer ORBIT itself and are not used here",
                UserWarning,
            )
    return OrbitConfig(source, blocks, skipped)
