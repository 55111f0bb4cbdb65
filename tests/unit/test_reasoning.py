"""Reasoning in <think> tags is split out of answers, whole or streamed at any boundary."""

from __future__ import annotations

import json

import pytest

from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.protocols.accumulate import StreamAccumulator
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.wire.reasoning import ThinkSplitter, split_think
from orbit_local.wire.streams import SSEEvent


@pytest.mark.parametrize(
    ("text", "answer", "reasoning"),
    [
        ("<think>2+2 is 4</think>The answer is 4.", "The answer is 4.", "2+2 is 4"),
        ("2+2 is 4</think>The answer is 4.", "The answer is 4.", "2+2 is 4"),  # only a closing tag
        ("<think>\nhmm\n</think>\n\n4", "4", "hmm"),
        ("<think>all thought, no answer</think>", "", "all thought, no answer"),
        ("plain answer", "plain answer", ""),
        ("a <b>bold</b> answer", "a <b>bold</b> answer", ""),
    ],
)
def test_split_think(text: str, answer: str, reasoning: str) -> None:
    assert split_think(text) == (answer, reasoning)


@pytest.mark.parametrize(
    "text", ["<think>I reason carefully</think>The answer <b>is</b> 4.", "No thinking < here > at all"]
)
def test_splitter_is_independent_of_chunk_boundaries(text: str) -> None:
    expected_answer, expected_reasoning = split_think(text)
    for size in range(1, len(text) + 1):
        splitter = ThinkSplitter()
        answer = reasoning = ""
        for start in range(0, len(text), size):
            a, r = splitter.feed(text[start : start + size])
            answer += a
            reasoning += r
        a, r = splitter.flush()
        answer += a
        reasoning += r
        assert "<think>" not in answer and "</think>" not in answer
        assert answer.strip() == expected_answer
        assert reasoning.strip() == expected_reasoning


def test_stream_parser_splits_tags_across_chunks() -> None:
    protocol = OpenAIProtocol(get_provider("fastchat"))
    parser = protocol.stream_parser(ChatRequest(model="m", messages=[Message(role="user", content="q")]))
    pieces = ["<thi", "nk>let me ", "see</th", "ink>It is ", "4."]
    accumulated = StreamAccumulator()
    for index, piece in enumerate(pieces):
        finish = "stop" if index == len(pieces) - 1 else None
        frame = {"choices": [{"delta": {"content": piece}, "finish_reason": finish}]}
        delta = parser.feed(SSEEvent(data=json.dumps(frame)))
        assert delta is not None
        accumulated.add(delta)
    result = accumulated.result()
    assert result.text == "It is 4."
    assert result.reasoning == "let me see"


def test_whole_response_with_think_tags() -> None:
    payload = {"choices": [{"message": {"content": "<think>why</think>Because."}, "finish_reason": "stop"}]}
    result = OpenAIProtocol(get_provider("lmstudio")).parse_chat(payload)
    assert (result.text, result.reasoning) == ("Because.", "why")


# --- several, unclosed and stray tags, whole and streamed ---------------------------------------
# The streamed form must agree with the whole-text form at every chunk boundary, and must never let
# a think tag through.


def chunked(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


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


def test_a_servers_own_reasoning_field_wins_and_the_text_is_left_whole() -> None:
    """Where the server returns the reasoning in its own field (llama.cpp's reasoning_content),
    that is the reasoning; ``<think>`` tags still in the text are not split a second time, so
    neither the field nor the text loses anything."""
    protocol = OpenAIProtocol(get_provider("llamacpp"))
    message = {"role": "assistant", "content": "<think>draft</think>Paris.", "reasoning_content": "Capital of France."}
    result = protocol.parse_chat({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    assert (result.reasoning, result.text) == ("Capital of France.", "<think>draft</think>Paris.")
