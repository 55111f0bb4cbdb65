"""Hostile and careless inputs: alias bombs, secrets in errors, unset ``${VAR}``, padded URLs.

Each test here failed before its fix (Step 9): the nine-line alias bomb ran for minutes, a list
given as ``api_key`` came back in the error, an unset variable silently became ``None`` (or the
default address), and a ``base_url`` with spaces around it went through to the client.
"""

from __future__ import annotations

import pickle
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.backends.client import ChatClient
from orbit_local.facts.providers import get_provider
from orbit_local.facts.urls import check_base_url
from orbit_local.features import config_file
from orbit_local.features.config_file import ConfigError, load_config
from orbit_local.wire.bounded_yaml import AliasExpansionError, check_aliases, safe_load_bounded
from tests.inference_files import _no_server_env, write  # noqa: F401  (an autouse fixture)

SEED = Path(__file__).resolve().parent.parent / "data" / "seed-inference.yaml"


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic: each line an anchor for ``width`` aliases of the line before."""
    lines = ["a: &a [" + ", ".join(['"x"'] * width) + "]"]
    for previous, name in pairwise("abcdefghijklmnopqrstuvwxyz"[:levels]):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------- aliases
def test_the_alias_bomb_is_refused_before_anything_expands_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: Any) -> Any:
        raise AssertionError("the document was expanded")

    monkeypatch.setattr(config_file, "_expand", never)
    monkeypatch.setattr(yaml.SafeLoader, "construct_document", never)
    path = write(tmp_path, billion_laughs())
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.monotonic() - started < 5  # generous: before the fix this ran for minutes
    message = str(info.value)
    assert message.startswith(f"{path}: line ") and "more than 10000 values" in message
    assert "nest fewer aliases" in message
    # the line named is where the expansion first passes the limit (5 levels of 9 = 59049)
    assert message.startswith(f"{path}: line 5:")


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    for text, line in (("a: &a [*a]\n", 1), ("x: 1\nb: &b {self: *b}\n", 2)):
        with pytest.raises(ConfigError, match=rf"line {line}: an alias \(\*name\) refers to the node that contains it"):
            load_config(write(tmp_path, text))


def test_the_limit_counts_what_aliases_add_not_what_the_file_writes() -> None:
    def composed(text: str) -> yaml.Node:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        assert node is not None
        return node

    # a: 1 list + 3 scalars; each *a adds those 4 again
    three = composed("a: &a [x, y, z]\nb: [*a, *a]\n")
    check_aliases(three, limit=8)  # exactly 8 added: allowed
    with pytest.raises(AliasExpansionError) as info:
        check_aliases(three, limit=7)
    assert info.value.problem_mark.line == 1  # the line of b, where the limit is passed
    big = composed("a: [" + ", ".join(["x"] * 500) + "]\n")
    check_aliases(big, limit=0)  # many values written out: no alias, nothing added
    assert safe_load_bounded("") is None
    assert safe_load_bounded("a: &a [1]\nb: *a\n") == {"a": [1], "b": [1]}


def test_anchors_and_merge_keys_as_orbit_files_use_them_keep_working(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
defaults: &defaults
  temperature: 0.2
  max_tokens: 256
  retry: &retry {enabled: true, max_retries: 2}
inference:
  lm_studio:
    <<: *defaults
    enabled: true
    base_url: http://localhost:1234
  llama_cpp:
    <<: *defaults
    temperature: 0.7
    retry: *retry
    base_url: http://localhost:8080/v1
""",
    )
    config = load_config(path)
    assert config.blocks["lm_studio"].settings()["temperature"] == 0.2
    assert config.blocks["llama_cpp"].settings()["temperature"] == 0.7
    assert config.blocks["llama_cpp"].settings()["max_retries"] == 2
    assert list(load_config(SEED).blocks)[:2] == ["localai", "lm_studio"]


def test_a_document_nested_too_deep_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nests too deeply"):
        load_config(path)


def test_the_alias_limit_is_the_callers() -> None:
    # `a` is 2 values (the list and its one item); each `*a` adds those 2 again: 4 in all.
    text = "a: &a [x]\nb: [*a, *a]\n"
    assert safe_load_bounded(text, limit=4) == {"a": ["x"], "b": [["x"], ["x"]]}
    with pytest.raises(AliasExpansionError, match="more than 3 values"):
        safe_load_bounded(text, limit=3)


def test_a_refused_alias_reads_like_any_yaml_error() -> None:
    # Callers catch yaml.YAMLError and print it; the text must be the problem, not "None".
    with pytest.raises(yaml.YAMLError) as info:
        safe_load_bounded("a: &a [*a]\n")
    assert str(info.value) == "an alias (*name) refers to the node that contains it"
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value) and copy.problem_mark.line == 0


def test_a_document_nested_too_deep_is_reported_at_file_level_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: (file): nests too deeply to read")
    assert info.value.hint  # every file-level refusal says what to do


# ------------------------------------------------------------------- secrets
SECRET = "sk-very-secret-123"


@pytest.mark.parametrize("key", ["api_key", "base_url"])
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (f"[{SECRET}]", "list"),
        (f"{{token: {SECRET}}}", "dict"),
        ("4242424242", "int"),
        (f"[http://u:{SECRET}@h]", "list"),
    ],
)
def test_a_wrong_typed_secret_is_reported_by_its_type_only(tmp_path: Path, key: str, value: str, kind: str) -> None:
    path = write(tmp_path, f"lm_studio:\n  {key}: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: lm_studio.{key}:") and f"got a {kind}" in message
    assert SECRET not in message and "4242424242" not in message


@pytest.mark.parametrize("key", ["api_token", "apikey", "secret", "password", "headers"])
def test_an_unknown_secret_looking_key_is_named_not_shown(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, f"lm_studio:\n  {key}: {SECRET}\n")
    with pytest.raises(ConfigError, match=rf"lm_studio\.{key}: unknown key") as info:
        load_config(path)
    assert SECRET not in str(info.value)


def test_a_secret_from_the_environment_never_reaches_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOX_URL", f"http://me:{SECRET}@box :8080/v1")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "lm_studio:\n  base_url: ${BOX_URL}\n"))
    message = str(info.value)
    assert "lm_studio.base_url" in message and "whitespace inside" in message and "***@" in message
    assert SECRET not in message


def test_other_wrong_values_are_still_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lm_studio\.temperature: .* got 'hot'"):
        load_config(write(tmp_path, "lm_studio:\n  temperature: hot\n"))
    with pytest.raises(ConfigError, match=r"got \['aaaa.*\.\.\.$"):
        load_config(write(tmp_path, f"lm_studio:\n  model: [{'a' * 200}]\n"))


def test_a_short_wrong_value_is_shown_whole(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "lm_studio:\n  temperature: hot\n"))
    assert info.value.hint == "got 'hot'"  # no "..." after a value that fits


# ------------------------------------------------------------- ${VARIABLES}
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("base_url: ${NOT_SET_URL}", "base_url"),
        ('base_url: "http://${NOT_SET_URL}:1234"', "base_url"),
        ("api_key: ${NOT_SET_URL}", "api_key"),
        ("model: ${NOT_SET_URL}", "model"),
        ("embedding_model: ${NOT_SET_URL}", "embedding_model"),
        ("stop: [end, '${NOT_SET_URL}']", "stop[1]"),
        ("timeout: {total: '${NOT_SET_URL}'}", "timeout.total"),
        ("top_k: ${NOT_SET_URL}", "top_k"),
    ],
)
def test_an_unset_variable_is_an_error_naming_file_block_key_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, key: str
) -> None:
    monkeypatch.delenv("NOT_SET_URL", raising=False)
    path = write(tmp_path, f"inference:\n  lm_studio:\n    {text}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: lm_studio.{key}: refers to ${{NOT_SET_URL}}, which is not set")
    assert "set NOT_SET_URL in the environment" in str(info.value) and "${NOT_SET_URL:-default}" in str(info.value)


def test_a_default_covers_an_unset_or_empty_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "lm_studio:\n  base_url: ${BOX:-http://gpu:1234}\n  api_key: ${KEY:-}\n  model: '${MODEL}'\n"
    monkeypatch.delenv("BOX", raising=False)
    monkeypatch.delenv("KEY", raising=False)
    monkeypatch.setenv("MODEL", "")  # set, though empty: no model, and no error
    block = load_config(write(tmp_path, text)).blocks["lm_studio"]
    assert (block.resolved_base_url(), block.api_key, block.model) == ("http://gpu:1234/v1", None, None)
    monkeypatch.setenv("BOX", "")
    monkeypatch.setenv("KEY", "k")
    block = load_config(write(tmp_path, text)).blocks["lm_studio"]
    assert block.resolved_base_url() == "http://gpu:1234/v1" and block.api_key is not None
    assert block.api_key.get_secret_value() == "k"


def test_cloud_blocks_with_unset_variables_are_still_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = load_config(write(tmp_path, "openai:\n  enabled: true\n  api_key: ${OPENAI_API_KEY}\nlm_studio: {}\n"))
    assert list(config.skipped) == ["openai"] and list(config.blocks) == ["lm_studio"]


# ------------------------------------------------------------------ base_url
PADDED = " \thttp://box:1234/v1 \n"


def test_a_padded_base_url_is_stripped_in_the_file(tmp_path: Path) -> None:
    block = load_config(write(tmp_path, 'lm_studio:\n  base_url: " \\thttp://box:1234/v1 \\n"\n')).blocks["lm_studio"]
    assert block.resolved_base_url() == "http://box:1234/v1"
    assert lc.ChatLMStudio.from_config(write(tmp_path, "lm_studio:\n  base_url: ' http://box:1 '\n")).base_url == (
        "http://box:1/v1"
    )


@pytest.mark.parametrize("cls", [lc.ChatLMStudio, lc.LMStudioEmbeddings, li.LMStudio, li.LMStudioEmbedding])
def test_a_padded_base_url_is_stripped_from_argument_and_environment(cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cls(base_url=PADDED).base_url == "http://box:1234/v1"
    monkeypatch.setenv("LMSTUDIO_BASE_URL", " http://env:1234/v1 ")
    assert cls().base_url == "http://env:1234/v1"


def test_the_client_and_the_profile_strip_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    lmstudio = get_provider("lmstudio")
    assert lmstudio.resolve_base_url(PADDED) == "http://box:1234/v1"
    monkeypatch.setenv("LMSTUDIO_BASE_URL", " http://env:1234/v1/ ")
    assert lmstudio.resolve_base_url() == "http://env:1234/v1"
    assert lmstudio.resolve_base_url("   ") == "http://env:1234/v1"  # only whitespace: not given
    client = ChatClient("lmstudio")
    try:
        assert client.base_url == "http://env:1234/v1"
    finally:
        client.close()


def test_the_auto_client_and_a_url_target_strip_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """``provider="auto"`` (``ChatOrbitLocal``, ``orbit-local doctor http://...``) reads
    ``ORBIT_LOCAL_BASE_URL`` or the argument without a profile: the same check applies."""
    monkeypatch.delenv("ORBIT_LOCAL_BASE_URL", raising=False)

    def base_url(**kwargs: Any) -> str:
        client = ChatClient("auto", **kwargs)
        client.close()
        return client.base_url

    assert base_url(base_url=PADDED) == "http://box:1234/v1"
    assert base_url(base_url="  ") == ""  # nothing given: look on the default ports
    monkeypatch.setenv("ORBIT_LOCAL_BASE_URL", " http://env:8000/v1/ ")
    assert base_url() == "http://env:8000/v1"
    monkeypatch.setenv("ORBIT_LOCAL_BASE_URL", " http://env:8000/v1\t")
    assert lc.ChatOrbitLocal().base_url == "http://env:8000/v1"
    with pytest.raises(ValueError, match="has whitespace inside"):
        base_url(base_url="http://bo x:1/v1")


def test_a_whitespace_only_variable_does_not_hide_the_files_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSTUDIO_BASE_URL", "  ")
    path = write(tmp_path, "lm_studio:\n  base_url: http://file:1\n")
    assert load_config(path).blocks["lm_studio"].settings()["base_url"] == "http://file:1/v1"


@pytest.mark.parametrize(
    ("url", "problem"),
    [("http://bo x:1234/v1", "has whitespace inside: write 'http://box:1234/v1'"), ("box:1234", "has no scheme")],
)
def test_a_base_url_that_is_not_one_is_refused_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    path = write(tmp_path, f"lm_studio:\n  base_url: {url!r}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: lm_studio\.base_url: base_url '{url}' {problem}"):
        load_config(path)
    for cls in (lc.ChatLMStudio, li.LMStudio, lc.LMStudioEmbeddings, li.LMStudioEmbedding):
        with pytest.raises(ValueError, match=problem):
            cls(base_url=url)
    with pytest.raises(ValueError, match=rf"^LM Studio: base_url .*{problem}.* \(from base_url\)$"):
        get_provider("lmstudio").resolve_base_url(url)
    monkeypatch.setenv("LMSTUDIO_BASE_URL", url)
    with pytest.raises(ValueError, match=r"\(from LMSTUDIO_BASE_URL\)$"):
        get_provider("lmstudio").resolve_base_url()


# ---------------------------------------------------- a refused base_url
def test_a_refused_base_url_is_shown_with_only_its_credentials_masked() -> None:
    # `http://user:key@host` is shown as `http://***@host` (docs: still recognisably the URL).
    with pytest.raises(ValueError) as info:
        check_base_url("http://me:sk-123@box :8080/v1")
    message = str(info.value)
    assert "'http://***@box :8080/v1' has whitespace inside: write 'http://***@box:8080/v1'" in message
    assert "sk-123" not in message


@pytest.mark.parametrize(
    ("provider", "written", "fix"),
    [
        ("lemonade", "localhost:13305", "http://localhost:13305/api/v1"),  # Lemonade serves /api/v1
        ("llamacpp", "box:8080", "http://box:8080/v1"),
        ("openai-compatible", "box:9000", "http://box:9000/v1"),  # no default URL: the usual /v1
    ],
)
def test_a_url_without_a_scheme_is_fixed_with_the_servers_own_api_path(provider: str, written: str, fix: str) -> None:
    with pytest.raises(ValueError, match=rf"has no scheme: write '{fix}' \(from base_url\)$"):
        get_provider(provider).resolve_base_url(written)


def test_a_bad_default_url_of_a_users_own_profile_is_named_as_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # The argument and <PREFIX>BASE_URL are named when they are wrong (the tests above); a
    # profile made with with_overrides can bring a wrong default of its own.
    monkeypatch.delenv("SHIMMY_BASE_URL", raising=False)
    box = get_provider("shimmy").with_overrides(display_name="My box", default_base_url="box:9/v1")
    with pytest.raises(ValueError, match=r"^My box: base_url 'box:9/v1' has no scheme: .* \(from the default\)$"):
        box.resolve_base_url()
