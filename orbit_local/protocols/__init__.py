"""Each API's requests and answers, with no I/O: the OpenAI and KoboldAI protocols, model
management and reranking on the wire, error bodies, parameters, role order, and what a stream
adds up to (the accumulator), tool calls recovered from text, which server a probe answer
shows. Imports :mod:`orbit_local.facts` and :mod:`orbit_local.wire` only."""
