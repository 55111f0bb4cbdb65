"""langchain-tests' ChatModelIntegrationTests (and EmbeddingsIntegrationTests) replayed from
cassettes recorded on real servers, one generated class per recorded target.

Capabilities come from the target and its provider profile. Tests that a working server
cannot pass with a 135M model, or that a server's own limits fail, are marked xfail per
target in tests/targets.py with the reason; xfails are strict, so a test that starts passing
must have its mark removed.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests, EmbeddingsIntegrationTests
from vcr.errors import CannotOverwriteExistingCassetteException

from langchain_orbit_local import ChatOrbitLocal, OrbitLocalEmbeddings
from orbit_local.facts.providers import get_provider
from tests.targets import Limitation, Target, active_targets, as_limitation


class KnownLimitation(Exception):
    """A standard test failing for the reason its target's xfail names."""


def _is_replay_error(exc: BaseException | None) -> bool:
    """A missing or mismatched recording is never the known limitation: it must fail."""
    while exc is not None:
        if isinstance(exc, CannotOverwriteExistingCassetteException):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _reason_for(reasons: dict[str | None, Limitation], kwargs: dict[str, Any]) -> Limitation | None:
    for value in kwargs.values():
        if isinstance(value, str) and value in reasons:
            return reasons[value]
    return reasons.get(None)


def _expected(limitation: Limitation, exc: BaseException) -> bool:
    """Only the named exception, with the named message, is the known limitation."""
    if not isinstance(exc, limitation.raises):
        return False
    return limitation.match is None or re.search(limitation.match, str(exc)) is not None


def _xfailed(base: type, name: str, reasons: dict[str | None, Limitation]) -> Any:
    """Override ``name`` as an xfail, for all of its parameters (key ``None``) or only some.

    Only the listed exception (with its message, where one is named) counts as the expected
    failure (``raises=KnownLimitation``); any other exception fails the test as usual, a case
    that is not listed runs as usual, and a listed case that passes fails, so a mark that is
    no longer true cannot stay.
    """
    original = getattr(base, name)

    def verdict(limitation: Limitation, exc: Exception) -> BaseException:
        if _is_replay_error(exc) or not _expected(limitation, exc):
            return exc
        return KnownLimitation(limitation.reason)

    def passed(limitation: Limitation) -> None:
        pytest.fail(f"passed although marked as a known limitation ({limitation.reason}); remove the mark")

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            limitation = _reason_for(reasons, kwargs)
            if limitation is None:
                return await original(self, *args, **kwargs)
            try:
                await original(self, *args, **kwargs)
            except Exception as exc:
                raise verdict(limitation, exc) from exc
            passed(limitation)

    else:

        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            limitation = _reason_for(reasons, kwargs)
            if limitation is None:
                return original(self, *args, **kwargs)
            try:
                original(self, *args, **kwargs)
            except Exception as exc:
                raise verdict(limitation, exc) from exc
            passed(limitation)

    summary = "; ".join(sorted({limitation.reason for limitation in reasons.values()}))
    return pytest.mark.xfail(reason=summary, raises=KnownLimitation, strict=False)(wrapper)


def _chat_suite(target: Target) -> type:
    profile = get_provider(target.provider)
    model = target.tools_model or target.chat_model

    class Suite(ChatModelIntegrationTests):
        @property
        def chat_model_class(self) -> type[BaseChatModel]:
            return ChatOrbitLocal

        @property
        def chat_model_params(self) -> dict[str, Any]:
            return {
                "provider": target.provider,
                "base_url": target.base_url,
                "model": model,
                "seed": 7,
                "max_tokens": 96,
            }

        @property
        def has_tool_calling(self) -> bool:
            return target.tools_model is not None

        @property
        def has_tool_choice(self) -> bool:
            return target.tools_model is not None and bool(profile.tool_choices)

        @property
        def has_structured_output(self) -> bool:
            return target.structured_output

        @property
        def supports_json_mode(self) -> bool:
            return profile.json_object or profile.json_schema

        @property
        def returns_usage_metadata(self) -> bool:
            return target.usage

        @property
        def supports_model_override(self) -> bool:
            return False

        @property
        def enable_vcr_tests(self) -> bool:
            return True

        @pytest.fixture
        def vcr_cassette_dir(self) -> str:
            return str(target.cassette_dir / "standard")

    grouped: dict[str, dict[str | None, str]] = {}
    for key, reason in target.xfail_standard.items():
        name, _, param = key.partition("[")
        grouped.setdefault(name, {})[param.rstrip("]") or None] = as_limitation(reason)
    for name, reasons in grouped.items():
        setattr(Suite, name, _xfailed(ChatModelIntegrationTests, name, reasons))
    Suite.__name__ = Suite.__qualname__ = f"TestIntegration_{target.name.replace('-', '_')}"
    return pytest.mark.vcr(Suite)


def _embeddings_suite(target: Target) -> type:
    class Suite(EmbeddingsIntegrationTests):
        @property
        def embeddings_class(self) -> type[Embeddings]:
            return OrbitLocalEmbeddings

        @property
        def embedding_model_params(self) -> dict[str, Any]:
            return {"provider": target.provider, "base_url": target.base_url, "model": target.embed_model}

        @pytest.fixture
        def vcr_cassette_dir(self) -> str:
            return str(target.cassette_dir / "standard")

    Suite.__name__ = Suite.__qualname__ = f"TestEmbeddings_{target.name.replace('-', '_')}"
    return pytest.mark.vcr(Suite)


for _target in active_targets():
    _suite = _chat_suite(_target)
    globals()[_suite.__name__] = _suite
    if _target.embed_model:
        _emb = _embeddings_suite(_target)
        globals()[_emb.__name__] = _emb
