"""Text the client fixes up after the server: client-side stop sequences (KoboldAI, GPT4All),
``<think>`` reasoning split out of answers, and tool calls recovered from answer text.

The streamed forms must agree with the whole-text forms at every chunk boundary, and must never
let a stop sequence or a think tag through — that is the promise these helpers exist for.
"""

from __future__ import annotations

import json

import pytest

from orbit_local.reasoning import ThinkSplitter, split_think
from orbit_local.recovery import recover_tool_calls
from orbit_local.stops import StopScanner, split_at_stop, unsafe_tail
from orbit_local.types import ChatResult, ToolCall

# ChatML and Llama 3 end-of-turn markers: what KoboldCpp keeps in its output (providers/koboldcpp.md)
CHATML_STOPS = ["<|im_end|>", "<|im_start|>"]


def chunked(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# --- stop sequences ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stops", "cut", "found"),
    [
        ("Hello<|im_end|>\n<|im_start|>user", CHATML_STOPS, "Hello", True),
        ("Hi<|im_start|>user<|im_end|>", CHATML_STOPS, "Hi", True),  # the earliest stop, not the first listed
        ("<|im_end|>rest", CHATML_STOPS, "", True),  # a stop at the very start
        ("a STOP b STOP c", ["STOP"], "a ", True),  # the first occurrence
        ("no stop here", CHATML_STOPS, "no stop here", False),
        ("keep all of it", ["", "END"], "keep all of it", False),  # an empty stop stops nothing
        ("keep all of it", [], "keep all of it", False),
    ],
)
def test_split_at_the_earliest_stop(text: str, stops: list[str], cut: str, found: bool) -> None:
    assert split_at_stop(text, stops) == (cut, found)


@pytest.mark.parametrize(
    ("text", "stops", "held"),
    [
        ("Hello <|im", CHATML_STOPS, 4),  # could become <|im_end|> or <|im_start|>
        ("Hello <", CHATML_STOPS, 1),
        ("Hello <|im_end", CHATML_STOPS, 8),
        ("Hello", CHATML_STOPS, 0),
        ("ab", ["abc", "bcd"], 2),  # the longest end that begins any stop
        ("xbc", ["bcd", "abc"], 2),
        ("END", ["END"], 0),  # a whole stop is found by split_at_stop, not held
        ("", ["END"], 0),
    ],
)
def test_the_end_that_could_begin_a_stop_is_held_back(text: str, stops: list[str], held: int) -> None:
    assert unsafe_tail(text, stops) == held


@pytest.mark.parametrize(
    ("text", "stops", "out", "stopped"),
    [
        ("Hello there<|im_end|>\n<|im_start|>user\nmore", CHATML_STOPS, "Hello there", True),
        ("a <|im but not a stop", CHATML_STOPS, "a <|im but not a stop", False),
        ("ends with a partial <|im_e", CHATML_STOPS, "ends with a partial <|im_e", False),
        ("x</s>y", ["", "</s>"], "x", True),
        ("no stops at all", ["", ""], "no stops at all", False),
    ],
)
def test_a_streamed_answer_stops_alike_at_every_chunk_size(text: str, stops: list[str], out: str, stopped: bool) -> None:
    for size in range(1, len(text) + 1):
        scanner = StopScanner(stops)
        emitted = [scanner.feed(piece) for piece in chunked(text, size)]
        assert scanner.stopped is stopped
        emitted.append(scanner.flush())
        assert "".join(emitted) == out, size
        assert not any(stop and stop in piece for piece in emitted for stop in stops)


def test_nothing_that_may_begin_a_stop_is_emitted_early_and_nothing_after_it() -> None:
    scanner = StopScanner(CHATML_STOPS)
    assert scanner.feed("Hello <|im") == "Hello "
    assert scanner.feed("_end|> trailing") == ""
    assert scanner.stopped
    assert scanner.feed("more text") == "" and scanner.flush() == ""
    held = StopScanner(CHATML_STOPS)
    assert held.feed("a <") == "a "
    assert held.feed("b") == "<b"  # "<b" begins no stop: released at once
    assert held.flush() == ""


# --- <think> reasoning --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "reasoning"),
    [
        ("<think>a</think>B<think>c</think>D", "BD", "ac"),  # two think blocks
        ("<think>never closed", "", "never closed"),
        ("Answer first <think>then a thought", "Answer first", "then a thought"),
        ("thought</think>answer<think>more</think>end", "answerend", "thoughtmore"),
        ("pre <think>x</think> post", "pre  post", "x"),
        ("a </think> with no opener after <think>y</think>", "with no opener after", "a y"),
    ],
)
def test_split_think_handles_several_and_unclosed_blocks(text: str, answer: str, reasoning: str) -> None:
    assert split_think(text) == (answer, reasoning)


@pytest.mark.parametrize(
    ("text", "answer", "reasoning"),
    [
        ("<think>a</think>B<think>c</think>D", "BD", "ac"),
        ("<think>never closed", "", "never closed"),
        ("x <thinking> is not a tag, nor </thin", "x <thinking> is not a tag, nor </thin", ""),
        ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2", ""),
        ("<think>a < b</think>so b", "so b", "a < b"),
        ("Sent</think>After", "SentAfter", ""),  # a stray closing tag in a stream: only the tag goes
        ("<think>x</think></think>y", "y", "x"),
        ("a</think>b</think>c", "abc", ""),  # every stray closing tag goes, in order
    ],
)
def test_a_streamed_think_block_splits_alike_at_every_chunk_size(text: str, answer: str, reasoning: str) -> None:
    for size in range(1, len(text) + 1):
        splitter = ThinkSplitter()
        answers: list[str] = []
        thoughts: list[str] = []
        for piece in chunked(text, size):
            a, r = splitter.feed(piece)
            answers.append(a)
            thoughts.append(r)
        a, r = splitter.flush()
        answers.append(a)
        thoughts.append(r)
        assert ("".join(answers), "".join(thoughts)) == (answer, reasoning), size
        assert not any("<think>" in p or "</think>" in p for p in answers + thoughts)


def test_a_held_partial_tag_is_flushed_to_the_side_it_was_on() -> None:
    assert ThinkSplitter().feed("a <b>bold") == ("a <b>bold", "")  # nothing held that begins no tag
    outside = ThinkSplitter()
    assert outside.feed("answer <thi") == ("answer ", "")
    assert outside.flush() == ("<thi", "")
    inside = ThinkSplitter()
    assert inside.feed("<think>reason </thi") == ("", "reason ")
    assert inside.flush() == ("", "</thi")
    assert inside.flush() == ("", "")


# --- tool calls written as text -----------------------------------------------------------------

NAMES = ["get_weather", "get_time"]


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        # Hermes/Qwen: one <tool_call> block per call
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>\n'
         '<tool_call>{"name": "get_time", "arguments": {"tz": "UTC"}}</tool_call>',
         [("get_weather", {"city": "Oslo"}), ("get_time", {"tz": "UTC"})]),
        ('```\n{"name": "get_time", "args": {"tz": "CET"}}\n```', [("get_time", {"tz": "CET"})]),
        ('{"type": "function", "function": {"name": "get_time", "arguments": {"tz": "UTC"}}}',
         [("get_time", {"tz": "UTC"})]),
        ('{"name": "get_weather", "parameters": {"city": "Rome"}}', [("get_weather", {"city": "Rome"})]),
        ('<tool_call>{"name": "nope", "arguments": {}}</tool_call><tool_call>{"name": "get_time", '
         '"arguments": {}}</tool_call>', [("get_time", {})]),
        ('<tool_call>{not json}</tool_call><tool_call>{"name": "get_time", "arguments": {}}</tool_call>',
         [("get_time", {})]),
    ],
)  # fmt: skip
def test_calls_in_text_are_recovered_in_order(text: str, calls: list[tuple[str, dict[str, object]]]) -> None:
    result = recover_tool_calls(ChatResult(text=text, finish_reason="stop"), NAMES)
    assert [(c.name, c.arguments) for c in result.tool_calls] == calls
    assert (result.text, result.finish_reason) == ("", "tool_calls")
    assert len({c.id for c in result.tool_calls}) == len(calls)
    assert all(json.loads(c.raw_arguments) == c.arguments and c.parse_error is None for c in result.tool_calls)


def test_a_recovered_calls_id_is_stable_and_depends_on_what_it_calls() -> None:
    def recovered_id(text: str) -> str:
        return recover_tool_calls(ChatResult(text=text, finish_reason="stop"), NAMES).tool_calls[0].id

    time_call = '{"name": "get_time", "arguments": {}}'
    assert recovered_id(time_call) == recovered_id(time_call)  # replays send identical bodies
    assert recovered_id(time_call) != recovered_id('{"name": "get_weather", "arguments": {}}')
    assert recovered_id(time_call) != recovered_id('{"name": "get_time", "arguments": {"tz": "UTC"}}')


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_time", "arguments": ["UTC"]}',  # arguments must be an object
        '{"name": "get_time", "arguments": "[1, 2]"}',
        '["get_time"]',
        '{"name": "get_time"',
        'Here: {"name": "get_time", "arguments": {}} — as text',  # not the whole answer
        '{"function": "get_time", "arguments": {}}',
    ],
)
def test_text_that_is_no_call_to_a_bound_tool_stays_text(text: str) -> None:
    result = recover_tool_calls(ChatResult(text=text, finish_reason="stop"), NAMES)
    assert result.tool_calls == [] and result.text == text and result.finish_reason == "stop"


def test_recovery_never_overrides_real_calls_and_needs_bound_tools() -> None:
    text = '{"name": "get_time", "arguments": {}}'
    real = ToolCall(id="call_1", name="get_weather", arguments={"city": "Oslo"})
    with_call = recover_tool_calls(ChatResult(text=text, tool_calls=[real], finish_reason="tool_calls"), NAMES)
    assert with_call.tool_calls == [real] and with_call.text == text
    unbound = recover_tool_calls(ChatResult(text=text, finish_reason="stop"), [])
    assert unbound.tool_calls == [] and unbound.text == text
    assert recover_tool_calls(ChatResult(text="", finish_reason="stop"), NAMES).tool_calls == []
