"""A LangChain LCEL chain on a local server: prompt | chat model | output parser, streamed."""

from __future__ import annotations

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from examples._settings import DEFAULT_SERVER, ExampleServer
from langchain_orbit_local import ChatOrbitLocal


def build_chain(server: ExampleServer = DEFAULT_SERVER):  # type: ignore[no-untyped-def]
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer in one short sentence."), ("user", "What is {topic}?")]
    )
    model = ChatOrbitLocal(
        provider=server.provider,
        base_url=server.base_url,
        model=server.chat_model,
        temperature=0,
        seed=7,
        max_tokens=48,
    )
    return prompt | model | StrOutputParser()


def main(server: ExampleServer = DEFAULT_SERVER) -> str:
    chain = build_chain(server)
    pieces = []
    for piece in chain.stream({"topic": "the capital of France"}):
        print(piece, end="", flush=True)
        pieces.append(piece)
    print()
    return "".join(pieces)


if __name__ == "__main__":
    main()
