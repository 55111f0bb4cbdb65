"""LlamaIndex classes warn about keywords that are no field, as the LangChain classes do, and
send them in ``additional_kwargs`` (LlamaIndex's own convention) instead of dropping them."""

from __future__ import annotations

import warnings

import pytest

from llamaindex_orbit_local import GPT4All, KoboldAI, OrbitLocal
from tests.fakes import FakeServer

URL = "http://127.0.0.1:1234/v1"


def test_unknown_keywords_warn_with_did_you_mean_and_are_sent() -> None:
    server = FakeServer()
    with pytest.warns(UserWarning) as caught:
        llm = OrbitLocal(
            provider="lmstudio",
            model="m",
            base_url=URL,
            http_client=server.client(),
            mirostat=2,
            max_token=5,
            temprature=0.2,
        )
    texts = [str(w.message) for w in caught]
    assert any("'mirostat'" in t and "additional_kwargs" in t for t in texts)
    assert any("'max_token'" in t and "Did you mean 'max_tokens'" in t for t in texts)
    assert any("'temprature'" in t and "Did you mean 'temperature'" in t for t in texts)
    assert llm.additional_kwargs == {"mirostat": 2, "max_token": 5, "temprature": 0.2}
    llm.complete("hi")
    body = server.bodies()[-1]
    assert (body["mirostat"], body["max_token"], body["temprature"]) == (2, 5, 0.2)


def test_fields_of_the_class_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KoboldAI(top_k=5, rep_pen=1.1, base_url=URL)
        GPT4All(model_path="x.gguf", n_ctx=512)
        OrbitLocal(provider="lmstudio", temperature=0.1, max_tokens=5, additional_kwargs={"mirostat": 3})


def test_a_dump_reads_back_without_warnings() -> None:
    llm = OrbitLocal(provider="lmstudio", base_url=URL, additional_kwargs={"mirostat": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = OrbitLocal.from_dict(llm.to_dict())
    assert again.additional_kwargs == {"mirostat": 3}


def test_prompt_hooks_that_are_never_used_warn() -> None:
    with pytest.warns(UserWarning, match="messages_to_prompt is not used by KoboldAI"):
        KoboldAI(base_url=URL, messages_to_prompt=lambda messages: "x")
    with pytest.warns(UserWarning, match="completion_to_prompt is not used by OrbitLocal"):
        OrbitLocal(provider="lmstudio", completion_to_prompt=lambda prompt: prompt)
