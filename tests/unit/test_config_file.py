"""ORBIT ``inference.yaml``: every block of the seed, both frameworks, precedence and errors.

Expected URLs come from the servers' documented API prefixes (../shared/providers: ``/v1``
everywhere, ``/api/v1`` for Lemonade), not from the profiles under test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.config_file import ConfigError, load_config
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
