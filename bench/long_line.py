"""How long the SSE decoder takes for one very long event (issue 10 measured 2.6 s for 16 MB
when each chunk re-joined the line so far). Run: python -m bench.long_line"""

from __future__ import annotations

import json
import time

from orbit_local.wire.streams import SSEDecoder


def main(megabytes: int = 16, chunk: int = 65536) -> float:
    line = b"data: " + json.dumps({"choices": [{"delta": {"content": "x" * megabytes * 1_000_000}}]}).encode() + b"\n\n"
    decoder = SSEDecoder()
    started = time.perf_counter()
    events = []
    for start in range(0, len(line), chunk):
        events += decoder.feed(line[start : start + chunk])
    elapsed = time.perf_counter() - started
    assert len(events) == 1
    print(f"{megabytes} MB event in {chunk // 1024} KB chunks: {elapsed:.3f} s")
    return elapsed


if __name__ == "__main__":
    main()
