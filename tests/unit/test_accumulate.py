"""What a whole stream said: folding deltas into one result, and the one-delta stream emulated for
servers that cannot stream. Both adapters and the emulated path rely on one definition."""

from __future__ import annotations

import pytest

from orbit_local.facts.types import ChatDelta, ChatResult, ToolCall, ToolCallChunk, Usage
from orbit_local.protocols.accumulate import StreamAccumulator, deltas_from_result


def fold(deltas: list[ChatDelta]) -> ChatResult:
    accumulated = StreamAccumulator()
    for delta in deltas:
        accumulated.add(delta)
    return accumulated.result()


FULL = ChatResult(
    text="It is sunny.",
    model="qwen2.5-0.5b",
    finish_reason="tool_calls",
    reasoning="The user wants the weather.",
    tool_calls=[
        ToolCall(id="call_a", name="get_weather", arguments={"city": "Oslo"}, raw_arguments='{"city": "Oslo"}'),
        ToolCall(id="call_b", name="get_time", arguments={}, raw_arguments="{}"),
        ToolCall(id="call_c", name="list_cities", arguments={}),  # a server that sent no arguments at all
    ],
    usage=Usage(input_tokens=12, output_tokens=5, total_tokens=17),
    id="chatcmpl-9",
    system_fingerprint="b6000",
    timings={"predicted_per_second": 41.5},
    logprobs=[{"token": "It", "logprob": -0.1}],
    raw={"object": "chat.completion"},
)


def test_an_emulated_stream_folds_back_into_the_same_result() -> None:
    """GPT4All and tool calls on llama-cpp-python are emulated as one delta: what a consumer
    accumulates from it must be the answer itself, every field included."""
    (delta,) = deltas_from_result(FULL)
    assert fold([delta]) == FULL


def test_an_emulated_stream_of_a_plain_answer_has_no_tool_chunks() -> None:
    (delta,) = deltas_from_result(ChatResult(text="Hi", finish_reason="stop"))
    assert delta.tool_call_chunks is None and delta.reasoning == "" and delta.logprobs is None
    assert fold([delta]) == ChatResult(text="Hi", finish_reason="stop")


def test_a_stream_folds_into_one_answer() -> None:
    usage = Usage(input_tokens=7, output_tokens=2, total_tokens=9)
    deltas = [
        ChatDelta(text="", model="m-1", id="chatcmpl-1", system_fingerprint="fp-1", raw={"n": 1}),
        ChatDelta(text="Hel", reasoning="think ", model="m-2", id="chatcmpl-2", logprobs=[{"token": "Hel"}]),
        ChatDelta(text="lo", reasoning="more", logprobs=[{"token": "lo"}], timings={"n": 1}),
        ChatDelta(finish_reason="length", system_fingerprint="fp-2", timings={"n": 2}, raw={"n": 3}),
        ChatDelta(usage=usage),
        ChatDelta(text=""),  # an empty keep-going delta changes nothing
    ]
    result = fold(deltas)
    assert result.text == "Hello" and result.reasoning == "think more"
    assert (result.model, result.id) == ("m-1", "chatcmpl-1")  # first sent wins
    assert (result.system_fingerprint, result.timings, result.raw) == ("fp-2", {"n": 2}, {"n": 3})  # last wins
    assert result.finish_reason == "length" and result.usage == usage
    assert result.logprobs == [{"token": "Hel"}, {"token": "lo"}]
    assert fold([]) == ChatResult(text="", reasoning=None, logprobs=None)


def test_text_read_midway_is_the_text_so_far() -> None:
    accumulated = StreamAccumulator()
    assert accumulated.text == ""
    for piece, so_far in (("a", "a"), ("b", "ab"), ("c", "abc")):
        accumulated.add(ChatDelta(text=piece))
        assert accumulated.text == so_far
    assert accumulated.text == "abc"


@pytest.mark.parametrize(
    ("chunks", "calls"),
    [
        # OpenAI style: id and name in the first chunk, arguments in pieces
        ([ToolCallChunk(0, "call_1", "get_weather", '{"ci'), ToolCallChunk(0, None, None, 'ty": "Oslo"}')],
         [("call_1", "get_weather", {"city": "Oslo"})]),
        # llama-cpp-python repeats id and name in every chunk
        ([ToolCallChunk(0, "call_1", "get_weather", '{"city": '), ToolCallChunk(0, "call_1", "get_weather", '"Oslo"}')],
         [("call_1", "get_weather", {"city": "Oslo"})]),
        # a name split across chunks is joined
        ([ToolCallChunk(0, "call_1", "get_", ""), ToolCallChunk(0, None, "weather", "{}")],
         [("call_1", "get_weather", {})]),
        # two calls, interleaved, come out in index order
        ([ToolCallChunk(1, "call_b", "get_time", "{}"), ToolCallChunk(0, "call_a", "get_weather", '{"city": "Rome"}')],
         [("call_a", "get_weather", {"city": "Rome"}), ("call_b", "get_time", {})]),
    ],
)  # fmt: skip
def test_tool_call_fragments_merge_by_index(
    chunks: list[ToolCallChunk], calls: list[tuple[str, str, dict[str, object]]]
) -> None:
    result = fold([ChatDelta(tool_call_chunks=[chunk]) for chunk in chunks])
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == calls
    assert all(c.parse_error is None for c in result.tool_calls)


def test_a_call_sent_without_an_id_gets_a_stable_one_and_bad_arguments_are_reported() -> None:
    def once() -> list[ToolCall]:
        return fold([ChatDelta(tool_call_chunks=[ToolCallChunk(0, None, "get_time", '{"tz": ')])]).tool_calls

    (call,) = once()
    assert call.id.startswith("call_") and call.id == once()[0].id  # replays send identical bodies
    assert call.arguments == {} and call.raw_arguments == '{"tz": ' and call.parse_error
    other = fold([ChatDelta(tool_call_chunks=[ToolCallChunk(0, None, "get_date", '{"tz": ')])]).tool_calls[0]
    assert other.id != call.id
