"""ORBIT ``inference.yaml``: every block of the seed, both frameworks, precedence and errors.

Expected URLs come from the servers' documented API prefixes (../shared/providers: ``/v1``
everywhere, ``/api/v1`` for Lemonade), not from the profiles under test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.features.config_file import ConfigError, OrbitConfig, load_config
from tests.inference_files import _no_server_env, write  # noqa: F401  (an autouse fixture)

SEED = Path(__file__).resolve().parent.parent / "data" / "seed-inference.yaml"
SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "missing-local-inference-providers.md"

# block -> (LangChain class, LlamaIndex class, base URL, model)
EXPECTED: dict[str, tuple[type, type, str, str | None]] = {
    "localai": (lc.ChatLocalAI, li.LocalAI, "http://localhost:8080/v1", "gpt-3.5-turbo"),
    "lm_studio": (lc.ChatLMStudio, li.LMStudio, "http://localhost:1234/v1", None),
    "fastchat": (lc.ChatFastChat, li.FastChat, "http://localhost:8000/v1", None),
    "gpt4all": (lc.ChatGPT4All, li.GPT4All, "http://localhost:4891/v1", None),
    "koboldai": (lc.ChatKoboldAI, li.KoboldAI, "http://localhost:5001/v1", None),
    "amd_gaia": (lc.ChatGaia, li.Gaia, "http://localhost:13305/api/v1", None),
    "llama_cpp": (lc.ChatLlamaCpp, li.LlamaCpp, "http://localhost:8080/v1", "smollm2"),
    "vllm": (lc.ChatVLLM, li.VLLM, "http://localhost:8000/v1", "Qwen/Qwen2.5-1.5B-Instruct"),
    "shimmy": (lc.ChatShimmy, li.Shimmy, "http://localhost:11435/v1", "gemma-3-1b-it-q4-0"),
    "ollama": (lc.ChatOllamaOpenAI, li.OllamaOpenAI, "http://localhost:11434/v1", "llama3.2:1b"),
}


def test_every_seed_block_is_read() -> None:
    config = load_config(SEED)
    assert list(config.blocks)[:6] == ["localai", "lm_studio", "fastchat", "gpt4all", "koboldai", "amd_gaia"]
    assert all(not block.enabled for block in config.blocks.values())


@pytest.mark.parametrize("block", list(EXPECTED))
def test_each_class_from_config_reads_its_block(block: str) -> None:
    chat_cls, llm_cls, base_url, model = EXPECTED[block]
    for cls in (chat_cls, llm_cls):
        built: Any = cls.from_config(SEED)
        # No base_url in the block: the class keeps None and its server's default applies.
        assert (built.base_url or built.provider_profile.default_base_url) == base_url, cls
        assert built.model == model, cls


def test_the_seed_document_itself_parses() -> None:
    """The yaml blocks exactly as ../shared/seed writes them (when shared/ is beside the checkout)."""
    if not SHARED_SEED.is_file():
        pytest.skip(f"{SHARED_SEED} is not here")
    blocks = re.findall(r"```yaml\n(.*?)```", SHARED_SEED.read_text(), re.S)
    assert len(blocks) == 6
    path = SEED.parent / "_from_seed.yaml"
    try:
        path.write_text("\n".join(blocks))
        names = list(load_config(path).blocks)
    finally:
        path.unlink(missing_ok=True)
    assert names == ["localai", "lm_studio", "fastchat", "gpt4all", "koboldai", "amd_gaia"]


def test_factories_pick_the_first_enabled_or_the_named_block(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
inference:
  openai:
    enabled: true
    api_key: ${OPENAI_API_KEY}
    model: gpt-5
  lm_studio:
    enabled: false
  fastchat:
    enabled: true
    base_url: "http://127.0.0.1:8001"
    model: vicuna
    max_tokens: 99
  my_box:
    provider: llama-cpp-python
    enabled: true
    base_url: "http://10.0.0.5:8000/v1"
""",
    )
    config = load_config(path)
    assert config.skipped == {"openai": "an ORBIT cloud service, not a local server"}
    chat = lc.chat_model_from_config(path)
    assert type(chat) is lc.ChatFastChat and chat.base_url == "http://127.0.0.1:8001/v1" and chat.max_tokens == 99
    llm = li.llm_from_config(path, "my_box")
    assert (
        type(llm) is li.OrbitLocal and llm.provider == "llama-cpp-python" and llm.base_url == "http://10.0.0.5:8000/v1"
    )
    assert type(lc.chat_model_from_config(path, "lm_studio")) is lc.ChatLMStudio


def test_precedence_arguments_then_env_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path, "lm_studio:\n  enabled: true\n  base_url: http://file:1\n  model: from-file\n  temperature: 0.5\n"
    )
    assert lc.ChatLMStudio.from_config(path).base_url == "http://file:1/v1"
    monkeypatch.setenv("LMSTUDIO_BASE_URL", "http://env:2/v1")
    monkeypatch.setenv("LMSTUDIO_MODEL", "from-env")
    model = lc.ChatLMStudio.from_config(path)
    assert (model.base_url, model.model, model.temperature) == ("http://env:2/v1", "from-env", 0.5)
    model = lc.ChatLMStudio.from_config(path, base_url="http://arg:3/v1", temperature=0.0)
    assert (model.base_url, model.model, model.temperature) == ("http://arg:3/v1", "from-env", 0.0)
    unset = lc.ChatLMStudio.from_config(write(tmp_path, "lm_studio: {enabled: true}\n"))
    assert unset.temperature is None and unset.base_url == "http://env:2/v1"


def test_orbit_settings_map_onto_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "s3cret")
    path = write(
        tmp_path,
        """
inference:
  shimmy:
    enabled: true
    base_url: "http://localhost:11435"
    api_key: ${MY_KEY}
    stop_tokens: ["</s>"]
    top_k: 40
    repeat_penalty: 1.1
    stream: true
    context_window: 65536
    timeout: {connect: 10000, total: 120000, warmup: 30000}
    retry: {enabled: false, max_retries: 5, initial_wait_ms: 2000}
""",
    )
    chat = lc.ChatShimmy.from_config(path)
    assert chat.api_key is not None and chat.api_key.get_secret_value() == "s3cret"
    assert chat.stop == ["</s>"] and (chat.top_k, chat.repeat_penalty, chat.extra_body) == (40, 1.1, None)
    assert (chat.timeout, chat.warmup_timeout, chat.max_retries, chat.streaming) == (120.0, 30.0, 0, True)
    assert chat.profile is not None and chat.profile["max_input_tokens"] == 65536
    with pytest.warns(UserWarning, match="streaming not used by Shimmy"):
        llm = li.Shimmy.from_config(path)
    assert llm.context_window == 65536


def test_embeddings_read_the_embedding_model(tmp_path: Path) -> None:
    path = write(tmp_path, "llama_cpp:\n  enabled: true\n  model: chat-model\n  embedding_model: embed-model\n")
    assert lc.LlamaCppEmbeddings.from_config(path).model == "embed-model"
    assert li.LlamaCppEmbedding.from_config(path).model == "embed-model"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("lmstudio2:\n  enabled: true\n", "lmstudio2", "unknown provider 'lmstudio2'"),
        ("lm_studio:\n  temprature: 0.1\n", "lm_studio.temprature", "did you mean 'temperature'"),
        ("lm_studio:\n  temperature: hot\n", "lm_studio.temperature", "valid number"),
        ("lm_studio:\n  max_tokens: -5\n", "lm_studio.max_tokens", "greater than 0"),
        ("box:\n  provider: openai-compatible\n  enabled: true\n", "box.base_url", "is required"),
        ("llama_cpp:\n  enabled: true\n  use_preset: gemma-cpu\n", "llama_cpp.use_preset", "presets file"),
        ("lm_studio: [1, 2]\n", "lm_studio", "must be a mapping"),
        ("lm_studio:\n  enabled: true\n base_url: x\n", "line", "not valid YAML"),
    ],
)
def test_bad_files_name_the_file_and_the_key(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and where in message and what in message


def test_missing_file_and_missing_block(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.yaml")
    path = write(tmp_path, "lm_studio: {enabled: false}\n")
    with pytest.raises(ConfigError, match="no such block"):
        lc.chat_model_from_config(path, "fastchat")
    with pytest.raises(ConfigError, match="has no enabled block"):
        lc.chat_model_from_config(path)


# --- each key's effect, block selection, ${VAR} and every mistake ---------------------------------
# What a key becomes is the table in ``docs/configuration.md``; default ports and API prefixes are
# the servers' (``docs/providers/``: vLLM on 8000 under ``/v1``, Lemonade under ``/api/v1``). Error
# checks assert what a user needs: the file, the key, the problem and the suggested fix.


def load(tmp_path: Path, text: str) -> OrbitConfig:
    path = tmp_path / "inference.yaml"
    path.write_text(text)
    return load_config(path)


def settings(tmp_path: Path, text: str) -> dict[str, Any]:
    (only,) = load(tmp_path, text).blocks.values()
    return only.settings()


def problem(tmp_path: Path, text: str) -> tuple[str, str | None]:
    path = tmp_path / "inference.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return info.value.message, info.value.hint


@pytest.mark.parametrize(
    ("block", "url"),
    [
        ("vllm:\n  host: 10.0.0.5\n  port: 8001\n", "http://10.0.0.5:8001/v1"),  # ORBIT's vLLM block
        ("vllm:\n  host: gpu-box\n", "http://gpu-box:8000/v1"),  # vLLM's own port
        ("vllm:\n  port: 8001\n", "http://localhost:8001/v1"),
        ("amd_gaia:\n  host: 10.0.0.7\n", "http://10.0.0.7:13305/api/v1"),  # Lemonade's port and prefix
        ("box:\n  provider: openai-compatible\n  host: gpu-box\n  port: 9000\n", "http://gpu-box:9000/v1"),
        ("vllm:\n  base_url: https://gpu-box:8443\n  host: ignored\n", "https://gpu-box:8443/v1"),
        ("vllm:\n  base_url: http://gpu-box:8000/openai/v1/\n", "http://gpu-box:8000/openai/v1"),  # a path is kept
        ("vllm: {}\n", None),  # nothing in the file: the class's default applies
    ],
)
def test_base_url_comes_from_base_url_or_host_and_port(tmp_path: Path, block: str, url: str | None) -> None:
    config = load(tmp_path, block)
    (only,) = config.blocks.values()
    assert only.resolved_base_url() == url
    assert only.settings().get("base_url") == url


def test_a_generic_server_with_only_a_host_still_gets_a_usable_url(tmp_path: Path) -> None:
    config = load(tmp_path, "box:\n  provider: openai-compatible\n  host: gpu-box\n")
    url = config.blocks["box"].resolved_base_url()
    assert url is not None
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.path) == ("http", "gpu-box", "/v1")
    assert isinstance(parts.port, int)  # some port, never "None" in the URL


def test_every_key_lands_on_its_field(tmp_path: Path) -> None:
    """docs/configuration.md's table of keys, one block."""
    values = settings(
        tmp_path,
        """
llama_cpp:
  enabled: true
  base_url: http://127.0.0.1:8080
  model: smollm2
  api_key: sk-local
  temperature: 0.2
  top_p: 0.9
  max_tokens: 512
  seed: 7
  stop: "</s>"
  stream: false
  context_window: 4096
  timeout: 30
  retry: {enabled: true, max_retries: 3}
  min_p: 0.05
  mirostat: 2
""",
    )
    api_key = values.pop("api_key")
    assert api_key.get_secret_value() == "sk-local"
    assert values == {
        "provider": "llamacpp",
        "base_url": "http://127.0.0.1:8080/v1",
        "model": "smollm2",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 512,
        "seed": 7,
        "stop": ["</s>"],  # one stop string is a list of one
        "streaming": False,
        "context_window": 4096,
        "timeout": 30.0,
        "max_retries": 3,
        "min_p": 0.05,  # a typed sampler of every chat class
        "extra_body": {"mirostat": 2},  # sent as it is
    }
    assert isinstance(values["timeout"], float)


def test_the_in_process_keys_pass_through(tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    values = settings(tmp_path, f"gpt4all:\n  enabled: true\n  model_path: {model}\n")
    assert values["model_path"] == str(model) and values["provider"] == "gpt4all"
    values = settings(tmp_path, "koboldai:\n  chat_template: chatml\n")
    assert values == {"provider": "koboldai", "chat_template": "chatml"}


@pytest.mark.parametrize(
    ("timeout", "retry", "expected"),
    [
        ("{connect: 10000, total: 120000, warmup: 30000}", "{enabled: true}", {"timeout": 120.0, "warmup_timeout": 30.0}),
        ("{connect: 5000}", "{enabled: false, max_retries: 5}", {"max_retries": 0}),  # off wins over a count
        ("{warmup: 1500}", "{max_retries: 0}", {"warmup_timeout": 1.5, "max_retries": 0}),
        ("{total: 2500}", "{enabled: true, max_retries: 2}", {"timeout": 2.5, "max_retries": 2}),
    ],
)  # fmt: skip
def test_orbit_milliseconds_become_seconds_and_retry_off_is_zero(
    tmp_path: Path, timeout: str, retry: str, expected: dict[str, Any]
) -> None:
    values = settings(tmp_path, f"lm_studio:\n  timeout: {timeout}\n  retry: {retry}\n")
    assert {k: v for k, v in values.items() if k != "provider"} == expected


@pytest.mark.parametrize(
    ("env", "key"),
    [("LMSTUDIO_BASE_URL", "base_url"), ("LMSTUDIO_API_KEY", "api_key"), ("LMSTUDIO_MODEL", "model")],
)
def test_a_server_variable_in_the_environment_beats_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, key: str
) -> None:
    """docs/configuration.md: argument, then environment, then the file."""
    text = "lm_studio:\n  base_url: http://file:1234\n  api_key: from-file\n  model: from-file\n"
    assert {"base_url", "api_key", "model"} <= settings(tmp_path, text).keys()
    monkeypatch.setenv(env, "from-env")
    values = settings(tmp_path, text)
    assert key not in values  # the class reads the variable itself
    assert {"base_url", "api_key", "model"} - {key} <= values.keys()
    monkeypatch.setenv(env, "")  # an empty variable is not set
    assert key in settings(tmp_path, text)


def test_stop_and_stop_tokens(tmp_path: Path) -> None:
    assert settings(tmp_path, "lm_studio:\n  stop_tokens: [a, b]\n")["stop"] == ["a", "b"]
    assert settings(tmp_path, "lm_studio:\n  stop: [x]\n  stop_tokens: [a]\n")["stop"] == ["x"]
    assert settings(tmp_path, "lm_studio:\n  stop_tokens: [a]\n  stop: [x]\n")["stop"] == ["x"]


def test_environment_references_are_expanded_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOX", "10.0.0.9")
    monkeypatch.setenv("STOP", "###")
    monkeypatch.delenv("UNSET_KEY", raising=False)
    config = load(
        tmp_path,
        """
llama_cpp:
  base_url: "http://${BOX}:${UNSET_PORT:-8080}"
  api_key: ${UNSET_KEY:-}
  model: "m-${UNSET_KEY:-}-x"
  stop: ["${STOP}", "${UNSET_KEY:-end}"]
  timeout: {total: 1000}
  logit_bias: {"15043": -100}
""",
    )
    block = config.blocks["llama_cpp"]
    assert block.resolved_base_url() == "http://10.0.0.9:8080/v1"
    assert block.api_key is None  # an empty default is no key at all, not ""
    assert block.model == "m--x"
    assert block.stop == ["###", "end"]
    assert block.extra_body == {"logit_bias": {"15043": -100}}


def test_block_names_map_to_servers(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
inference:
  amd_gaia: {}
  ollama_remote: {base_url: "http://gpu:11434"}
  llama_cpp_python: null
  koboldcpp-openai: {}
  my_box: {provider: vllm}
  lm-studio: {provider: lmstudio}
  office: {provider: LM-Studio}
""",
    )
    assert {name: b.provider for name, b in config.blocks.items()} == {
        "amd_gaia": "lemonade",
        "ollama_remote": "ollama",
        "llama_cpp_python": "llama-cpp-python",
        "koboldcpp-openai": "koboldcpp-openai",
        "my_box": "vllm",
        "lm-studio": "lmstudio",
        "office": "lmstudio",  # the profile's own name, whatever alias the file used
    }
    assert config.blocks["ollama_remote"].resolved_base_url() == "http://gpu:11434/v1"
    assert not any(b.enabled for b in config.blocks.values())  # a block is off unless enabled


def test_picking_a_block(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
lm_studio: {enabled: false, model: a}
office: {provider: lmstudio, enabled: true, base_url: "http://office:1234", model: b}
fastchat: {enabled: true, base_url: "http://127.0.0.1:8001"}
vllm: {enabled: false, host: gpu}
""",
    )
    assert [b.name for b in config.enabled()] == ["office", "fastchat"]
    assert config.block().name == "office"  # the first enabled block
    assert config.block(provider="fastchat").name == "fastchat"
    assert config.block(provider="lm-studio").name == "office"  # an alias names the same server
    assert config.block(provider="vllm").name == "vllm"  # asked for by server: even when disabled
    assert config.block("lm_studio").model == "a"
    assert config.block("lm_studio", provider="lmstudio").name == "lm_studio"


def test_picking_a_block_that_is_not_there(tmp_path: Path) -> None:
    config = load(tmp_path, "lm_studio: {enabled: false}\nfastchat: {enabled: false}\n")
    with pytest.raises(ConfigError) as info:
        config.block("vllm")
    assert "vllm" in info.value.message and "no such block" in info.value.message
    assert info.value.hint is not None and "lm_studio, fastchat" in info.value.hint
    with pytest.raises(ConfigError) as info:
        config.block("lm_studio", provider="fastchat")
    assert "LM Studio block" in info.value.message and "fastchat" in info.value.message
    with pytest.raises(ConfigError) as info:
        config.block(provider="vllm")
    assert "no vLLM block" in info.value.message and str(config.path) in str(info.value)
    with pytest.raises(ConfigError) as info:
        config.block()
    assert info.value.message == f"{config.path}: (file): has no enabled block"
    assert info.value.hint is not None and "enabled: true" in info.value.hint
    empty = load(tmp_path, "")
    assert empty.blocks == {} and empty.skipped == {}
    with pytest.raises(ConfigError) as info:
        empty.block("lm_studio")
    assert info.value.hint is not None and "none" in info.value.hint


@pytest.mark.parametrize(
    ("text", "where", "what", "hint"),
    [
        ("lm_studo: {}\n", "lm_studo", "unknown provider 'lm-studo'", "did you mean 'lm_studio'?"),
        ("box:\n  provider: fastchatt\n", "box.provider", "unknown provider 'fastchatt'", "did you mean 'fastchat'?"),
        ("zzz: {}\n", "zzz", "unknown provider 'zzz'", "known blocks: amd_gaia, fastchat"),
        ("openai_compat: {}\n", "openai_compat", "unknown provider", "did you mean 'openai_compatible'?"),
        ("lemonad: {}\n", "lemonad", "unknown provider", "did you mean 'lemonade'?"),
        ("lm_studio:\n  top_kk: 4\n", "lm_studio.top_kk", "unknown key", "did you mean 'top_k'?"),
        ("lm_studio:\n  qqqq: 4\n", "lm_studio.qqqq", "unknown key", None),
        ("lm_studio: 5\n", "lm_studio", "must be a mapping of settings, not int", None),
        ("lm_studio:\n  context_window: big\n", "lm_studio.context_window", "valid integer", "got 'big'"),
        ("lm_studio:\n  retry: {max_retries: -1}\n", "lm_studio.retry.max_retries", "greater than or equal to 0", "got -1"),
        ("lm_studio:\n  port: 70000\n", "lm_studio.port", "65535", "got 70000"),
        ("lm_studio:\n  mode: remote\n", "lm_studio.mode", "'api' or 'direct'", "got 'remote'"),
        ("- lm_studio\n", "(file)", "must be a mapping of server blocks", None),
        ("inference: [lm_studio]\n", "inference", "must be a mapping of server blocks", None),
        ("lm_studio:\n  enabled: true\n  mode: direct\n", "lm_studio.mode", "direct mode", "use a server URL"),
        ("box:\n  provider: openai-compatible\n  enabled: true\n", "box.base_url", "OpenAI-compatible server",
         "write base_url: http://host:port/v1"),
        ("llama_cpp:\n  enabled: true\n  use_preset: gemma\n", "llama_cpp.use_preset", "ORBIT's presets",
         "write base_url and model"),
    ],
)  # fmt: skip
def test_each_mistake_names_the_key_and_the_fix(
    tmp_path: Path, text: str, where: str, what: str, hint: str | None
) -> None:
    message, got_hint = problem(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'inference.yaml'}: {where}: "), message
    assert what in message
    if hint is None:
        assert got_hint is None
    else:
        assert got_hint is not None and got_hint.startswith(hint), got_hint


def test_what_makes_an_enabled_block_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a preset is fine when the block says where to go anyway
    load(tmp_path, "llama_cpp:\n  enabled: true\n  use_preset: gemma\n  base_url: http://h:8080\n")
    load(tmp_path, "llama_cpp:\n  enabled: true\n  use_preset: gemma\n  model: smollm2\n")
    # disabled blocks are not checked: they are not used
    load(tmp_path, "box:\n  provider: openai-compatible\n  mode: direct\n  use_preset: x\n")
    # a generic server's address from host/port, or from its variable
    load(tmp_path, "box:\n  provider: openai-compatible\n  enabled: true\n  host: h\n  port: 9000\n")
    monkeypatch.setenv("ORBIT_LOCAL_BASE_URL", "http://h:9000/v1")
    load(tmp_path, "box:\n  provider: openai-compatible\n  enabled: true\n")
    monkeypatch.delenv("ORBIT_LOCAL_BASE_URL")
    # direct mode with a model file needs no URL
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    load(tmp_path, f"box:\n  provider: openai-compatible\n  enabled: true\n  mode: direct\n  model_path: {model}\n")
    # GPT4All in-process: the model file must exist
    message, _ = problem(tmp_path, f"gpt4all:\n  enabled: true\n  model_path: {tmp_path / 'gone.gguf'}\n")
    assert "gpt4all.model_path" in message and "gone.gguf" in message
    load(tmp_path, f"gpt4all:\n  enabled: false\n  model_path: {tmp_path / 'gone.gguf'}\n")
    load(tmp_path, "gpt4all:\n  enabled: true\n")  # the desktop app's API: no model file needed
    # only GPT4All runs a model_path in this process; another server's block is not checked for it
    load(tmp_path, f"llama_cpp:\n  enabled: true\n  model_path: {tmp_path / 'gone.gguf'}\n")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml")
    assert info.value.message.startswith(f"{tmp_path / 'absent.yaml'}: (file): cannot be read")
    assert "No such file" in info.value.message and "Errno" not in info.value.message  # the OS's reason, in words
    path = tmp_path / "inference.yaml"
    message, _ = problem(tmp_path, "lm_studio:\n  enabled: true\n  model: a: b\n")  # PyYAML: error on line 3
    assert message.startswith(f"{path}: line 3: is not valid YAML: ") and "mapping values are not allowed" in message
    assert "\n" not in message  # the problem in one line, not PyYAML's whole report
    message, _ = problem(tmp_path, "lm_studio: {}\x07\n")  # a control character: no line mark from PyYAML
    assert message.startswith(f"{path}: (file): is not valid YAML: ") and "#x0007" in message


def test_orbit_only_keys_are_read_and_reported(tmp_path: Path) -> None:
    text = "ollama:\n  enabled: {on}\n  think: true\n  keep_alive: 5m\n  temperature: 0.1\n"
    path = tmp_path / "inference.yaml"
    path.write_text(text.format(on="true"))
    with pytest.warns(UserWarning) as caught:
        config = load_config(path)
    (warning,) = caught
    message = str(warning.message)
    assert str(tmp_path / "inference.yaml") in message and "ollama" in message
    assert "think, keep_alive" in message and "not used" in message
    assert config.blocks["ollama"].unused == ("think", "keep_alive")
    assert "think" not in config.blocks["ollama"].settings().get("extra_body", {})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(tmp_path, text.format(on="false"))  # a block not used warns about nothing
        load(tmp_path, "ollama:\n  enabled: true\n")


@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ, reason="mutmut's trampolines add stack frames")
def test_the_unused_keys_warning_points_at_the_callers_line(tmp_path: Path) -> None:
    path = tmp_path / "inference.yaml"
    path.write_text("ollama:\n  enabled: true\n  verbose: true\n")
    with pytest.warns(UserWarning) as caught:
        load_config(path)
    assert [w.filename for w in caught] == [__file__]  # the user's line, not orbit_local's


def test_cloud_blocks_are_skipped_with_a_reason(tmp_path: Path) -> None:
    config = load(tmp_path, "inference:\n  gemini: {enabled: true, bogus: 1}\n  groq: 5\n  vllm: {}\n")
    assert list(config.blocks) == ["vllm"]
    assert set(config.skipped) == {"gemini", "groq"}
    assert all("cloud" in reason for reason in config.skipped.values())


# --- refusals in ORBIT's own names ----------------------------------------------------------------
# inference.yaml refusals (orbit_local/features/config_file.py, bounded_yaml.py) say why in the
# project's own names: ORBIT (the program whose files these are) and inference.yaml, spelt as
# the user knows them, and the rule an alias broke.


def _refusal(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "inference.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


def test_direct_mode_is_refused_because_it_runs_in_orbits_process(tmp_path: Path) -> None:
    error = _refusal(tmp_path, "lm_studio:\n  enabled: true\n  mode: direct\n")
    assert "direct mode loads a model in ORBIT's process" in str(error)


def test_a_document_nested_too_deep_names_the_file_kind(tmp_path: Path) -> None:
    error = _refusal(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "inference.yaml needs a few levels" in (error.hint or "")


def test_an_alias_inside_its_own_node_is_told_the_rule(tmp_path: Path) -> None:
    error = _refusal(tmp_path, "a: &a [*a]\n")
    assert "an alias may only repeat a node written before and outside it" in (error.hint or "")


def test_asking_for_a_block_in_a_file_without_blocks_lists_none(tmp_path: Path) -> None:
    path = tmp_path / "inference.yaml"
    path.write_text("inference: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path).block("lm_studio")
    assert caught.value.hint == "blocks here: none"
