"""A LlamaIndex ``FunctionAgent(streaming=True)`` run against real servers, replayed.

Recorded with ``make record PROVIDER=agent-llama-cpp-python`` and ``PROVIDER=agent-llamacpp``:

- agent-llama-cpp-python: ``initial_tool_choice`` names the tool, so llama-cpp-python constrains
  the first turn with a grammar and streams the call; the second turn (``tool_choice="auto"``,
  which that server cannot stream, so orbit-local asks for it whole) answers from the tool's
  output. The model is ``smollm2`` (SmolLM2's own template): under ``chatml-function-calling``
  (``smollm2-tools``) the automatic second turn calls the tool again until the agent's 20
  iterations run out.
- agent-llamacpp: llama-server's chat template opens a ``<think>`` block, so the answer starts
  with reasoning, streamed as ``reasoning_content``; the server closes the block after 16
  tokens (``--reasoning-budget``), then SmolLM2 answers (tests/live/servers.py). That
  template has no tool section: the model answers in text.

Only :func:`test_agent_run` is recorded; the other tests replay its cassette and check what
the stream events carry. Expected values are what the recordings show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from llama_index.core.agent.workflow import (
    AgentInput,
    AgentOutput,
    AgentStream,
    FunctionAgent,
    ToolCall,
    ToolCallResult,
)
from llama_index.core.base.llms.types import ThinkingBlock

from llamaindex_orbit_local import OrbitLocal
from tests.targets import Target, agent_targets

pytestmark = pytest.mark.vcr

TOOL_TARGET = "agent-llama-cpp-python"
THINK_TARGET = "agent-llamacpp"
QUESTION = "What is the weather in Paris?"
SYSTEM = {
    TOOL_TARGET: "Answer the user's question with the weather the tool reports.",
    THINK_TARGET: "You are a helpful assistant. Think step by step, then answer in one sentence.",
}
# What the recordings show (cassettes/<target>/test_agent_run.yaml).
ANSWER = {
    TOOL_TARGET: "The weather report in Paris is sunny and 21 degrees Celsius.",
    # llama-server's content after the closed think block starts with the two newlines SmolLM2 wrote
    THINK_TARGET: "\n\nThe weather in Paris is a mix of warm and cool, with a mix of both.",
}
# agent-llamacpp's reasoning_content, whole: cut after 16 tokens by the reasoning budget
REASONING = "\n\nThe weather in Paris is a mix of warm and cool, with a"


def _params(names: tuple[str, ...]) -> list[Any]:
    found = [pytest.param(t, id=t.name) for t in agent_targets() if t.name in names]
    return found or [pytest.param(None, marks=pytest.mark.skip(reason="no agent cassettes recorded yet"), id="none")]


@pytest.fixture
def default_cassette_name() -> str:
    """Every test replays the one recorded run."""
    return "test_agent_run"


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is sunny and 21 degrees Celsius in {city}."


@dataclass
class Run:
    answer: str
    turns: list[list[AgentStream]] = field(default_factory=list)  # per LLM call, in order
    outputs: list[AgentOutput] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolCallResult] = field(default_factory=list)
    final: Any = None  # the run's result (an AgentOutput)


async def run_agent(target: Target) -> Run:
    llm = OrbitLocal(
        provider=target.provider,
        base_url=target.base_url,
        model=target.chat_model,
        temperature=0,
        seed=7,
        max_tokens=80,
    )
    agent = FunctionAgent(
        tools=[get_weather],
        llm=llm,
        system_prompt=SYSTEM[target.name],
        streaming=True,
        initial_tool_choice="get_weather" if target.name == TOOL_TARGET else None,
    )
    handler = agent.run(user_msg=QUESTION)
    run = Run(answer="")
    async for event in handler.stream_events():
        if isinstance(event, AgentInput):
            run.turns.append([])
        elif isinstance(event, AgentStream):
            run.turns[-1].append(event)
        elif isinstance(event, AgentOutput):
            run.outputs.append(event)
        elif isinstance(event, ToolCallResult):
            run.results.append(event)
        elif isinstance(event, ToolCall):
            run.calls.append(event)
    run.final = await handler
    run.answer = str(run.final)
    return run


@pytest.mark.parametrize("target", _params((TOOL_TARGET, THINK_TARGET)))
async def test_agent_run(target: Target) -> None:
    run = await run_agent(target)
    assert run.answer == ANSWER[target.name]
    for turn, output in zip(run.turns, run.outputs, strict=True):
        assert turn, "every LLM call streams"
        assert turn[-1].delta == "" and turn[-1].response == (output.response.content or "")
        assert "".join(e.delta for e in turn) == turn[-1].response
    if target.name == TOOL_TARGET:
        assert len(run.outputs) == 2
        (selection,) = run.outputs[0].tool_calls
        assert (selection.tool_name, selection.tool_kwargs) == ("get_weather", {"city": "Paris"})
        assert [(c.tool_name, c.tool_kwargs) for c in run.calls] == [("get_weather", {"city": "Paris"})]
        assert [r.tool_output.content for r in run.results] == [get_weather("Paris")]
        # the run's result lists the tool calls it made, with their results
        assert [(r.tool_name, r.tool_output.content) for r in run.final.tool_calls] == [
            ("get_weather", get_weather("Paris"))
        ]
        assert run.turns[0][-1].tool_calls == run.outputs[0].tool_calls  # the closing response carries it
    else:
        assert len(run.outputs) == 1 and run.calls == [] and run.final.tool_calls == []
        thinking = [b for b in run.outputs[0].response.blocks if isinstance(b, ThinkingBlock)]
        assert [(b.content or "").strip() for b in thinking] == [REASONING.strip()]


@pytest.mark.parametrize("target", _params((TOOL_TARGET,)))
async def test_stream_carries_the_tool_call_before_the_closing_response(target: Target) -> None:
    run = await run_agent(target)
    streamed = run.turns[0][:-1]  # the closing response is the last event of the turn
    with_calls = [e for e in streamed if e.tool_calls]
    assert with_calls, "no streamed event before the closing response carries the tool call"
    assert all([c.tool_name for c in e.tool_calls] == ["get_weather"] for e in with_calls)
    assert with_calls[-1].tool_calls[0].tool_kwargs == {"city": "Paris"}


@pytest.mark.parametrize("target", _params((THINK_TARGET,)))
async def test_stream_carries_thinking_deltas(target: Target) -> None:
    run = await run_agent(target)
    (turn,) = run.turns
    pieces = [e.thinking_delta for e in turn if e.thinking_delta]
    assert len(pieces) > 1, "the reasoning is streamed in pieces"
    assert "".join(pieces).strip() == REASONING.strip()
    first_thinking = next(i for i, e in enumerate(turn) if e.thinking_delta)
    first_answer = next(i for i, e in enumerate(turn) if e.delta.strip())
    assert first_thinking < first_answer
