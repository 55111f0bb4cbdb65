"""``make bench``: orbit-local beside raw httpx, the framework floors, ChatOpenAI and OpenAILike.

Starts the instant loopback server (bench/server.py) in its own process, measures every
subject on the same figures, prints the table with each figure's ratio to its limit (raw
httpx plus the framework's own floor: no client can do better), and writes
``bench/results.json`` and the chart ``docs/dev/benchmarks.png``. ``--quick`` runs fewer rounds
(a smoke run, not figures to quote).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import platform
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import measure, report
from bench.subjects import all_subjects

ROOT = Path(__file__).resolve().parent.parent
CONCURRENT = 64
IMPORTS = {
    "langchain_core": "import langchain_core",
    "langchain_core BaseChatModel": "from langchain_core.language_models import BaseChatModel",
    "langchain_orbit_local": "import langchain_orbit_local",
    "langchain_openai": "import langchain_openai",
    "llama_index.core": "import llama_index.core",
    "llamaindex_orbit_local": "import llamaindex_orbit_local",
    "llama_index.llms.openai_like": "import llama_index.llms.openai_like",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def run(quick: bool) -> dict[str, Any]:
    scale = 0.1 if quick else 1.0
    rounds = {name: max(3, int(n * scale)) for name, n in {"call": 400, "s200": 150, "s2000": 30, "ttft": 150}.items()}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.server", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        subjects = all_subjects(f"http://127.0.0.1:{port}/v1")
        print(f"measuring {len(subjects)} subjects ({'quick' if quick else 'full'} run)...", flush=True)
        call = measure.interleaved(subjects, lambda s: measure.timed(s.call), rounds["call"])
        s200 = measure.interleaved(subjects, measure.timed_stream(200), rounds["s200"])
        s2000 = measure.interleaved(subjects, measure.timed_stream(2000), rounds["s2000"])
        ttft = measure.interleaved(subjects, lambda s: s.first_token(), rounds["ttft"])
        print("throughput and memory...", flush=True)
        rounds_async = 2 if quick else 5
        throughput = {s.name: measure.throughput(s, CONCURRENT, 200, rounds_async) for s in subjects}
        memory = {s.name: measure.peak_memory(s, 2000) for s in subjects}
        ours = [s for s in subjects if s.name.startswith("orbit-local")]
        per_token = {s.name: measure.functions_per_token(s, 2000) for s in ours}
    finally:
        server.terminate()
        server.wait()
    print("import times...", flush=True)
    imports = {name: measure.import_time(code, 3 if quick else 9) for name, code in IMPORTS.items()}
    return {
        "machine": _machine(),
        "quick": quick,
        "rounds": rounds,
        "seconds": {"call": call, "stream_200": s200, "stream_2000": s2000, "first_token": ttft},
        "streams_per_second_64": throughput,
        "peak_bytes_2000": memory,
        "functions_per_token": per_token,
        "import_seconds": imports,
    }


def main(argv: list[str] | None = None) -> int:
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints where a stuck run is
    parser = argparse.ArgumentParser(description="orbit-local's hot-path benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    parser.add_argument("--from-json", type=Path, help="redraw the table and chart from saved results")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = run(args.quick)
        (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    chart = ROOT / "docs" / "dev" / "benchmarks.png"
    report.chart(results, chart)
    print(f"\nchart: {chart.relative_to(ROOT)}; results: bench/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
