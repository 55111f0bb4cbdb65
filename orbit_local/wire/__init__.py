"""Text to typed values and back, with no I/O: SSE and NDJSON decoding, stop sequences,
``<think>`` splitting, content parts, bounded YAML, hot-path object filling. Imports
:mod:`orbit_local.facts` only."""
