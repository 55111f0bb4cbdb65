"""A LlamaIndex FunctionAgent on a local server, using orbit-local's FunctionCallingLLM.

``initial_tool_choice`` makes the first step call the tool (small local models rarely decide
to on their own), and ``return_direct`` ends the run with the tool's answer: a 135M model left
to choose freely keeps calling the tool instead of answering.
"""

from __future__ import annotations

import asyncio

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.tools import FunctionTool

from examples._settings import DEFAULT_SERVER, ExampleServer
from llamaindex_orbit_local import OrbitLocal


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is 21 degrees and sunny in {city}."


async def run(question: str = "What is the weather in Paris?", server: ExampleServer = DEFAULT_SERVER) -> str:
    llm = OrbitLocal(
        provider=server.provider,
        base_url=server.base_url,
        model=server.tools_model,
        temperature=0,
        seed=7,
        max_tokens=64,
    )
    tool = FunctionTool.from_defaults(fn=get_weather, return_direct=True)
    agent = FunctionAgent(tools=[tool], llm=llm, initial_tool_choice="get_weather", streaming=False)
    result = await agent.run(user_msg=question)
    return str(result)


def main(server: ExampleServer = DEFAULT_SERVER) -> str:
    answer = asyncio.run(run(server=server))
    print(answer)
    return answer


if __name__ == "__main__":
    main()
