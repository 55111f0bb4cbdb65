"""Timing, throughput, memory and import figures, each the median of many runs.

Runs of different subjects are interleaved (every round times each subject once, in a new
random order), so a noisy moment on the machine spreads over all of them instead of landing
on one.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench.subjects import Subject


def interleaved(subjects: list[Subject], run: Callable[[Subject], float], rounds: int) -> dict[str, float]:
    """Median seconds of ``run`` per subject over ``rounds`` rounds (after one warm-up each)."""
    for subject in subjects:
        run(subject)
    samples: dict[str, list[float]] = {s.name: [] for s in subjects}
    order = list(subjects)
    for _ in range(rounds):
        random.shuffle(order)
        for subject in order:
            samples[subject.name].append(run(subject))
    return {name: statistics.median(values) for name, values in samples.items()}


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def timed_stream(tokens: int) -> Callable[[Subject], float]:
    def run(subject: Subject) -> float:
        started = time.perf_counter()
        got = subject.stream(tokens)
        elapsed = time.perf_counter() - started
        if got != tokens:
            raise AssertionError(f"{subject.name}: {got} tokens arrived, {tokens} were sent")
        return elapsed

    return run


def throughput(subject: Subject, streams: int, tokens: int, rounds: int) -> float:
    """Streams a second with ``streams`` async streams in flight at once (median round)."""
    assert subject.astream is not None

    async def one_round() -> float:
        started = time.perf_counter()
        counts = await asyncio.gather(*(subject.astream(tokens) for _ in range(streams)))
        elapsed = time.perf_counter() - started
        if counts != [tokens] * streams:
            raise AssertionError(f"{subject.name}: cross-talk or loss in concurrent streams")
        return streams / elapsed

    async def run() -> float:
        await one_round()  # warm-up: connections opened, first-call work done
        return statistics.median([await one_round() for _ in range(rounds)])

    return asyncio.run(run())


def peak_memory(subject: Subject, tokens: int) -> int:
    """Peak bytes Python allocated during one stream of ``tokens`` tokens (after a warm-up)."""
    subject.stream(tokens)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        subject.stream(tokens)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def import_time(statement: str, runs: int) -> float:
    """Median seconds a fresh interpreter takes to run ``statement`` (an import)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    values = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        values.append(float(out.strip().splitlines()[-1]))
    return statistics.median(values)


OUR_PACKAGES = frozenset({"orbit_local", "langchain_orbit_local", "llamaindex_orbit_local"})


def functions_per_token(subject: Subject, tokens: int) -> int:
    """How many of our functions one streamed token passes through: those called at least
    once per token during a stream of ``tokens`` tokens (profiled, so not timed)."""
    import cProfile
    import pstats
    from pathlib import Path

    subject.stream(tokens)
    profile = cProfile.Profile()
    profile.enable()
    try:
        subject.stream(tokens)
    finally:
        profile.disable()
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return sum(
        1
        for (file, _line, _name), (_primitive, calls, *_times) in stats.items()
        if calls >= tokens and OUR_PACKAGES.intersection(Path(file).parts)
    )


def opcodes_per_call(subject: Subject, calls: int = 20) -> int:
    """How much Python bytecode of ours one call executes (``sys.settrace`` opcode events, not
    timed): a measure of the call path's work that no machine noise moves, so it can be
    compared across runs and machines. Step 12's rewrite took it from about 2100 to about 1400."""
    import sys
    from pathlib import Path
    from types import FrameType

    counted = 0
    ours: dict[str, bool] = {}

    def is_ours(filename: str) -> bool:
        if filename not in ours:
            ours[filename] = bool(OUR_PACKAGES.intersection(Path(filename).parts))
        return ours[filename]

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal counted
        if event == "opcode":
            counted += 1
        return local

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if not is_ours(frame.f_code.co_filename):
            return None
        frame.f_trace_opcodes = True
        return local

    subject.call()
    sys.settrace(trace)
    try:
        for _ in range(calls):
            subject.call()
    finally:
        sys.settrace(None)
    return round(counted / calls)
