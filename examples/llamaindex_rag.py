"""A LlamaIndex RAG pipeline on a local server: our embeddings index documents, our LLM answers.

Run it over docs/ (the default) or any folder of text and Markdown files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.base.response.schema import Response

from examples._settings import DEFAULT_SERVER, ExampleServer
from llamaindex_orbit_local import OrbitLocal, OrbitLocalEmbedding

DOCS = Path(__file__).resolve().parent.parent / "docs"


def build_query_engine(folder: Path = DOCS, server: ExampleServer = DEFAULT_SERVER):  # type: ignore[no-untyped-def]
    llm = OrbitLocal(
        provider=server.provider,
        base_url=server.base_url,
        model=server.chat_model,
        temperature=0,
        seed=7,
        max_tokens=64,
    )
    embedding = OrbitLocalEmbedding(
        provider=server.provider, base_url=server.base_url, model=server.embed_model, embed_batch_size=16
    )
    Settings.chunk_size = 256
    # Only the file name as metadata: LlamaIndex embeds metadata with the text, and an absolute
    # path would make the same documents embed differently on every machine.
    documents = SimpleDirectoryReader(
        str(folder),
        required_exts=[".md", ".txt"],
        recursive=True,
        file_metadata=lambda path: {"file_name": Path(path).name},
    ).load_data()
    index = VectorStoreIndex.from_documents(documents, embed_model=embedding)
    return index.as_query_engine(llm=llm, similarity_top_k=2)


def main(
    folder: Path = DOCS,
    question: str = "Which port does the GPT4All API server use?",
    server: ExampleServer = DEFAULT_SERVER,
) -> Response:
    response = build_query_engine(folder, server).query(question)
    print(response)
    for node in response.source_nodes:
        print(f"  source: {node.node.metadata.get('file_name')} (score {node.score:.3f})")
    return response  # type: ignore[return-value]


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS)
