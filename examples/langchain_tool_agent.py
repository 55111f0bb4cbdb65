"""A LangChain tool-calling agent on a local server, in plain langchain-core.

The loop: the model (with the tool bound) asks for a call, the tool runs, its result goes
back as a ToolMessage, and the model answers. The first step requires a tool call (with one
tool, that is the same as naming it, which llama-cpp-python honours).
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from examples._settings import DEFAULT_SERVER, ExampleServer
from langchain_orbit_local import ChatOrbitLocal


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is 21 degrees and sunny in {city}."


def run_agent(question: str, server: ExampleServer = DEFAULT_SERVER, max_steps: int = 3) -> list[BaseMessage]:
    model = ChatOrbitLocal(
        provider=server.provider,
        base_url=server.base_url,
        model=server.tools_model,
        temperature=0,
        seed=7,
        max_tokens=64,
    )
    tools = {"get_weather": get_weather}
    messages: list[BaseMessage] = [SystemMessage("Use the tools to answer."), HumanMessage(question)]
    for step in range(max_steps):
        bound = model.bind_tools(list(tools.values()), tool_choice="any" if step == 0 else "none")
        reply = bound.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            result = tools[call["name"]].invoke(call)
            messages.append(
                result if isinstance(result, ToolMessage) else ToolMessage(str(result), tool_call_id=call["id"])
            )
    return messages


def main(server: ExampleServer = DEFAULT_SERVER) -> list[BaseMessage]:
    messages = run_agent("What is the weather in Paris?", server)
    for message in messages:
        print(f"{message.type:>6}: {message.content or getattr(message, 'tool_calls', '')}")
    return messages


if __name__ == "__main__":
    main()
