"""Model management, sans-IO: requests to list, load, unload and download models, and parsers
of the answers, for every server that has a :class:`~orbit_local.facts.providers.ModelAdmin`.

Pure functions and two small state machines (:class:`LoadSession`, :class:`PullSession`) that
say which request comes next; :mod:`orbit_local.features.model_admin` sends them, sync and async alike.
Per-server differences (paths, body keys, where the state and size are) are data on the
profile; the only variation in code is the download style (one answer, NDJSON lines, a job
asked until it ends), which the profile names too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from orbit_local.facts.errors import (
    ModelDownloadError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotLoadedError,
    OrbitLocalError,
    ProtocolError,
    UnsupportedFeatureError,
)
from orbit_local.facts.providers import ModelAdmin, ModelOperation, ProviderProfile
from orbit_local.facts.types import HttpRequest, ModelInfo, ModelProgress
from orbit_local.protocols.errors import error_in_payload, extract_error
from orbit_local.protocols.openai import model_info

JOB_POLL_INTERVAL = 0.5
"""Seconds between two status questions about a download job or a model still loading."""

_VERBS = {"load": "load", "unload": "unload", "pull": "download"}
_LIST_HINT = "list the models with their state: `orbit-local models list`"


def refusal(profile: ProviderProfile, base_url: str, operation: ModelOperation) -> UnsupportedFeatureError | None:
    """The typed refusal of an operation this server cannot do (or whose wire format we do not
    know), or ``None`` when it can."""
    admin = profile.model_admin
    if admin is not None and getattr(admin, f"{operation}_path") is not None:
        return None
    why = (admin.cannot.get(operation) if admin is not None else None) or (
        f"{profile.display_name} has no API to {_VERBS[operation]} models; {profile.model_hint}"
    )
    return UnsupportedFeatureError(
        f"cannot {_VERBS[operation]} a model over the API", provider=profile.display_name, base_url=base_url, hint=why
    )


def _fill(template: Any, values: dict[str, Any]) -> Any:
    """The body template with every ``"{name}"`` string replaced by its value."""
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, values) for value in template]
    if isinstance(template, str) and template.startswith("{") and template.endswith("}"):
        return values.get(template[1:-1], template)
    return template


def _dig(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _put(body: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        body = body.setdefault(key, {})
    body[last] = value


def _request(admin: ModelAdmin, method: str, path: str, body: dict[str, Any] | None = None) -> HttpRequest:
    return HttpRequest(method, path, json=body, from_root=admin.from_root)  # type: ignore[arg-type]


def list_requests(profile: ProviderProfile, fallback: HttpRequest) -> tuple[HttpRequest, HttpRequest | None]:
    """The model list (the server's richer one where it has it, else ``fallback``, the OpenAI
    list) and the list of loaded models where that is a second request."""
    admin = profile.model_admin
    if admin is None:
        return fallback, None
    listing = _request(admin, "GET", admin.list_path) if admin.list_path else fallback
    loaded = _request(admin, "GET", admin.loaded_path) if admin.loaded_path else None
    return listing, loaded


def _entries(payload: Any, key: str) -> list[Any] | None:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for name in (key, "data", "models"):
            if isinstance(payload.get(name), list):
                return list(payload[name])
    return None


def _state(entry: dict[str, Any]) -> str | None:
    status = entry.get("status")
    if isinstance(status, dict) and isinstance(status.get("value"), str):
        return str(status["value"])
    state = entry.get("state")
    return state if isinstance(state, str) else None


def _entry_info(admin: ModelAdmin | None, entry: Any) -> ModelInfo | None:
    info = model_info(entry)
    if info is None or not isinstance(entry, dict):
        return info
    info.raw = entry
    info.state = _state(entry)
    size = _dig(entry, admin.size_key) if admin is not None and admin.size_key else None
    if isinstance(size, (int, float)) and not isinstance(size, bool) and size > 0:
        info.size = int(size * (admin.size_scale if admin is not None else 1))  # truncated, as Lemonade does
    instances = entry.get("loaded_instances")
    if isinstance(instances, list):  # LM Studio: each instance has its id and its own config
        info.instances = [str(i["id"]) for i in instances if isinstance(i, dict) and i.get("id")]
        context = next((_dig(i, "config.context_length") for i in instances if isinstance(i, dict)), None)
        if isinstance(context, int) and context > 0:
            info.context_length = context
    if info.state is None and info.loaded is not None:
        info.state = "loaded" if info.loaded else "unloaded"
    return info


def _protocol_error(profile: ProviderProfile, base_url: str, what: str, payload: Any) -> ProtocolError:
    return ProtocolError(
        f"{what} is not the shape {profile.display_name} documents",
        provider=profile.display_name,
        base_url=base_url,
        body=json.dumps(payload)[:2000],
    )


def _raise_if_error(profile: ProviderProfile, base_url: str, payload: Any) -> None:
    error = error_in_payload(profile, base_url, payload)
    if error is not None:
        raise error


def parse_list(profile: ProviderProfile, base_url: str, payload: Any, loaded: Any = None) -> list[ModelInfo]:
    """The models, with state, context length and size where the server tells them.

    ``loaded`` is the second list's answer where there is one: a model named there is loaded
    (with the context it was loaded with), every other one is not.
    """
    admin = profile.model_admin
    _raise_if_error(profile, base_url, payload)
    entries = _entries(payload, admin.list_key if admin is not None else "data")
    if entries is None:
        raise _protocol_error(profile, base_url, "the model list", payload)
    models = [info for info in (_entry_info(admin, e) for e in entries) if info is not None]
    if admin is not None and loaded is not None:
        rows = _entries(loaded, admin.loaded_key) or []
        contexts: dict[str, Any] = {}
        for row in rows:
            if isinstance(row, dict) and row.get(admin.loaded_id_key):
                key = str(row[admin.loaded_id_key])
                contexts[key] = _dig(row, admin.loaded_context_key) if admin.loaded_context_key else None
        for info in models:
            info.loaded = info.id in contexts
            info.state = "loaded" if info.loaded else "unloaded"
            context = contexts.get(info.id)
            if isinstance(context, int) and context > 0:
                info.context_length = context
    return models


def find(models: list[ModelInfo], model: str) -> ModelInfo | None:
    """The listed model called ``model`` (its id, or an alias the server lists with it)."""
    for info in models:
        aliases = info.raw.get("aliases") if isinstance(info.raw, dict) else None
        if info.id == model or (isinstance(aliases, list) and model in aliases):
            return info
    return None


def _answer_status(payload: Any) -> str | None:
    if isinstance(payload, dict):
        for key in ("status", "done_reason", "message"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
        if payload.get("success") is True:
            return "success"
    return None


def _check_answer(profile: ProviderProfile, base_url: str, payload: Any, cls: type[OrbitLocalError]) -> None:
    """An error inside a 200 answer: the ``error`` envelopes, and Lemonade's load/unload
    ``{"status": "error", "message": ...}`` or a router's ``{"success": false}``."""
    _raise_if_error(profile, base_url, payload)
    if isinstance(payload, dict) and (payload.get("status") == "error" or payload.get("success") is False):
        message = str(payload.get("message") or "the server said it failed, without a reason")
        raise cls(message, provider=profile.display_name, base_url=base_url, server_message=message,
                  body=json.dumps(payload)[:2000])  # fmt: skip


@dataclass
class LoadSession:
    """Loading one model: the load request, then (where the server answers before the model is
    ready) the model list, asked until the model is loaded or its load failed."""

    profile: ProviderProfile
    base_url: str
    model: str
    context_length: int | None = None

    @property
    def admin(self) -> ModelAdmin:
        assert self.profile.model_admin is not None
        return self.profile.model_admin

    def first_request(self) -> HttpRequest:
        refused = refusal(self.profile, self.base_url, "load")
        if refused is not None:
            raise refused
        admin = self.admin
        body = _fill(admin.load_body, {"model": self.model})
        if self.context_length is not None:
            if admin.load_context_key is None:
                raise UnsupportedFeatureError(
                    "cannot load a model with a context length over the API",
                    provider=self.profile.display_name,
                    base_url=self.base_url,
                    hint=admin.cannot.get("context_length", "load it without one (it gets its configured context)"),
                )
            _put(body, admin.load_context_key, self.context_length)
        assert admin.load_path is not None
        return _request(admin, "POST", admin.load_path, body)

    def answered(self, payload: Any) -> ModelProgress:
        """The load answer: done, unless the server loads in the background."""
        _check_answer(self.profile, self.base_url, payload, ModelLoadError)
        status = _answer_status(payload) or "loaded"
        return ModelProgress(self.model, "load", status, done=not self.admin.load_waits, raw=payload)

    def waiting(self) -> Waiting:
        return Waiting(self.profile, self.base_url, self.model, "load")


@dataclass
class Waiting:
    """Asking the model list until a model reaches the state an operation leads to, where the
    server answers before it is there (llama.cpp's router: a load answers while the model is
    still loading, an unload while the instance still stops)."""

    profile: ProviderProfile
    base_url: str
    model: str
    operation: Literal["load", "unload"]

    def request(self, fallback: HttpRequest) -> HttpRequest:
        return list_requests(self.profile, fallback)[0]

    def polled(self, payload: Any) -> ModelProgress:
        """One list answer -> one step, done when the model says "loaded" (a load) or
        "unloaded" (an unload, or no longer listed); a failed load (the router marks it
        ``failed``, with the exit code) raises ``ModelLoadError``."""
        info = find(parse_list(self.profile, self.base_url, payload), self.model)
        if info is None:
            if self.operation == "unload":
                return ModelProgress(self.model, "unload", "unloaded", done=True, raw=payload)
            raise _protocol_error(self.profile, self.base_url, f"a model list without {self.model!r}", payload)
        status = info.raw.get("status") if isinstance(info.raw, dict) else None
        if self.operation == "load" and isinstance(status, dict) and status.get("failed"):
            raise ModelLoadError(
                f"the server could not load {self.model!r} (exit code {status.get('exit_code')})",
                provider=self.profile.display_name,
                base_url=self.base_url,
                hint="check the server's log; the model may not fit in memory, or its file may be bad",
                body=json.dumps(info.raw)[:2000],
            )
        target = "loaded" if self.operation == "load" else "unloaded"
        state = info.state or "unknown"
        return ModelProgress(self.model, self.operation, state, done=state == target, raw=info.raw)


def unload_requests(
    profile: ProviderProfile, base_url: str, model: str, listed: list[ModelInfo] | None
) -> list[HttpRequest]:
    """The unload request(s): one, or one per loaded instance where the server unloads
    instances (``listed`` is then the model list, asked first)."""
    refused = refusal(profile, base_url, "unload")
    if refused is not None:
        raise refused
    admin = profile.model_admin
    assert admin is not None and admin.unload_path is not None
    if not admin.unload_instances:
        return [_request(admin, "POST", admin.unload_path, _fill(admin.unload_body, {"model": model}))]
    info = find(listed or [], model)
    if info is None or not info.instances:
        raise ModelNotFoundError(
            f"{model!r} is not loaded, so there is nothing to unload",
            provider=profile.display_name,
            base_url=base_url,
            hint=_LIST_HINT,
        )
    return [
        _request(admin, "POST", admin.unload_path, _fill(admin.unload_body, {"instance": i})) for i in info.instances
    ]


def unloaded(profile: ProviderProfile, base_url: str, model: str, payload: Any) -> ModelProgress:
    """The unload answer: done, unless the server unloads in the background (``unload_waits``)."""
    _check_answer(profile, base_url, payload, ModelLoadError)
    waits = profile.model_admin is not None and profile.model_admin.unload_waits
    return ModelProgress(model, "unload", _answer_status(payload) or "unloaded", done=not waits, raw=payload)


@dataclass
class PullSession:
    """Downloading one model: the request, then NDJSON progress lines (``ndjson``), one answer
    (``once``), or a job's status asked until it ends (``job``)."""

    profile: ProviderProfile
    base_url: str
    model: str
    job: str | None = None
    finished: bool = False
    digests: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def admin(self) -> ModelAdmin:
        assert self.profile.model_admin is not None
        return self.profile.model_admin

    @property
    def streams(self) -> bool:
        return self.admin.pull_style == "ndjson"

    def first_request(self) -> HttpRequest:
        refused = refusal(self.profile, self.base_url, "pull")
        if refused is not None:
            raise refused
        admin = self.admin
        assert admin.pull_path is not None
        return _request(admin, "POST", admin.pull_path, _fill(admin.pull_body, {"model": self.model}))

    def next_request(self) -> HttpRequest | None:
        """The job's status request while the job runs; ``None`` once the download ended."""
        if self.finished or self.job is None or self.admin.job_status_path is None:
            return None
        return _request(self.admin, "GET", self.admin.job_status_path.replace("{job}", self.job))

    def _failed(self, message: str, payload: Any) -> ModelDownloadError:
        return ModelDownloadError(
            f"the download of {self.model!r} failed: {message}",
            provider=self.profile.display_name,
            base_url=self.base_url,
            server_message=message,
            hint="check the model name and the server's network access and disk space",
            body=json.dumps(payload)[:2000],
        )

    def feed(self, payload: Any) -> ModelProgress:
        """One answer, line or job status -> one progress step (the last one ``done``)."""
        if (
            isinstance(payload, dict)
            and isinstance(payload.get("error"), str)
            and payload["error"]
            and (self.streams or self.admin.pull_style == "job")
        ):
            # Ollama's progress line {"error": "..."}, a LocalAI job's status {"error": "...",
            # "processed": true}: the download failed (not a server error).
            raise self._failed(payload["error"], payload)
        _raise_if_error(self.profile, self.base_url, payload)
        if not isinstance(payload, dict):
            raise _protocol_error(self.profile, self.base_url, "a download answer", payload)
        style = self.admin.pull_style
        if style == "ndjson":
            return self._ndjson(payload)
        if style == "job":
            return self._job(payload)
        if payload.get("status") == "error":
            raise self._failed(str(payload.get("message") or "no reason given"), payload)
        self.finished = True
        return ModelProgress(self.model, "pull", _answer_status(payload) or "done", done=True, raw=payload)

    def _ndjson(self, payload: dict[str, Any]) -> ModelProgress:
        """Ollama: ``{"status": "pulling <digest>", "digest", "total", "completed"}`` per layer,
        ``{"status": "success"}`` at the end; bytes are summed over the layers seen."""
        status = str(payload.get("status") or "")
        digest, total, completed = payload.get("digest"), payload.get("total"), payload.get("completed")
        if isinstance(digest, str) and isinstance(total, int):
            self.digests[digest] = (completed if isinstance(completed, int) else 0, total)
        done = status == "success"
        self.finished = done
        summed = (sum(c for c, _ in self.digests.values()), sum(t for _, t in self.digests.values()))
        known = bool(self.digests)
        return ModelProgress(
            self.model, "pull", status, summed[0] if known else None, summed[1] if known else None, done, payload
        )

    def _job(self, payload: dict[str, Any]) -> ModelProgress:
        """LM Studio: ``{"job_id", "status": downloading|paused|completed|failed|already_downloaded,
        "downloaded_bytes", "total_size_bytes"}``. LocalAI: ``{"uuid"}``, then ``{"processed",
        "message", "error"}``."""
        job = payload.get(self.admin.job_id_key)
        if isinstance(job, str) and job:
            self.job = job
        status = payload.get("status")
        error = payload.get("error")
        if status == "failed" or (isinstance(error, str) and error) or isinstance(error, dict):
            raise self._failed(str(error or payload.get("message") or "failed"), payload)
        if isinstance(status, str) and not status.startswith("http"):
            done = status in ("completed", "already_downloaded")
        else:  # LocalAI: the first answer's "status" is the job's URL; then "processed"
            done = payload.get("processed") is True
            status = str(payload.get("message") or ("completed" if done else "queued"))
        if self.job is None and not done:
            raise _protocol_error(self.profile, self.base_url, "a download answer without a job id", payload)
        self.finished = done
        completed, total = payload.get("downloaded_bytes"), payload.get("total_size_bytes")
        return ModelProgress(
            self.model,
            "pull",
            status,
            completed if isinstance(completed, int) else None,
            total if isinstance(total, int) else None,
            done,
            payload,
        )


_OPERATION_ERRORS: dict[str, type[OrbitLocalError]] = {"load": ModelLoadError, "pull": ModelDownloadError}


def _server_codes(body: str | None) -> list[str]:
    """The codes a server put in an error body (``{"code": ...}``, ``{"error": {"type", "code"}}``)."""
    try:
        found = extract_error(json.loads(body or ""))
    except ValueError:
        return []
    return found[1].split() if found is not None else []


def _retold(error: OrbitLocalError, cls: type[OrbitLocalError], hint: str) -> OrbitLocalError:
    """The same error (same server answer and request) as ``cls``, with ``hint`` instead of its own."""
    kept = ("provider", "base_url", "status_code", "server_message", "body", "method", "url")
    return cls(error.message, hint=hint, **{name: getattr(error, name) for name in kept})


def with_admin_hint(
    profile: ProviderProfile, error: OrbitLocalError, operation: ModelOperation | None = None
) -> OrbitLocalError:
    """The error of a model operation, saying what to do: the profile's advice for a code the
    server named (a failed download or load then becomes its typed error), "nothing to unload"
    for an unload of a model that is not loaded (not the "load it" of a chat's error), and the
    server's model-management hint (e.g. "router mode only") where a route was missing."""
    admin = profile.model_admin
    if admin is None:
        return error
    advice = next((admin.error_hints[c] for c in _server_codes(error.body) if c in admin.error_hints), None)
    if advice is not None:
        return _retold(error, _OPERATION_ERRORS.get(operation or "", type(error)), advice)
    if operation == "unload" and isinstance(error, ModelNotLoadedError):
        return _retold(error, ModelNotLoadedError, f"it is not loaded, so there is nothing to unload; {_LIST_HINT}")
    if admin.hint and isinstance(error, UnsupportedFeatureError):
        error.add_hint(admin.hint)
    return error
