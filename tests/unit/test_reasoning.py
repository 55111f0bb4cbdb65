"""Reasoning in <think> tags is split out of answers, whole or streamed at any boundary."""

from __future__ import annotations

import json

import pytest

from orbit_local.accumulate import StreamAccumulator
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.providers import get_provider
from orbit_local.reasoning import ThinkSplitter, split_think
from orbit_local.streams import SSEEvent
from orbit_local.types import ChatRequest, Message


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
