"""The benchmark's table (markdown, printed) and chart (PNG, matplotlib) from its results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

RAW = "raw httpx"
FLOORS = {"langchain": "LangChain floor", "llamaindex": "LlamaIndex floor"}
PREBUILT = {framework: f"{floor} (prebuilt)" for framework, floor in FLOORS.items()}
"""The older, looser floors: objects built before timing (no integration can do that)."""
COMPARED = {
    "langchain": ("ChatOpenAI", "orbit-local (LangChain)"),
    "llamaindex": ("OpenAILike", "orbit-local (LlamaIndex)"),
}
TARGET_RATIO = 1.10
TARGET_IMPORT_MS = 50.0
FIGURES = {"call": "call", "stream_200": "200-token stream", "stream_2000": "2000-token stream"}


def limits(results: dict[str, Any], floors: dict[str, str] = FLOORS) -> dict[str, dict[str, float]]:
    """Per framework and figure: raw httpx plus the framework's floor (seconds)."""
    seconds = results["seconds"]
    return {
        framework: {figure: seconds[figure][RAW] + seconds[figure][floor] for figure in FIGURES}
        for framework, floor in floors.items()
        if floor in seconds["call"]
    }


def ratios(results: dict[str, Any], floors: dict[str, str] = FLOORS) -> dict[str, dict[str, float]]:
    bound = limits(results, floors)
    return {
        name: {figure: results["seconds"][figure][name] / bound[framework][figure] for figure in FIGURES}
        for framework, names in COMPARED.items()
        for name in names
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def table(results: dict[str, Any]) -> str:
    seconds = results["seconds"]
    names = list(seconds["call"])
    raw_first = seconds["first_token"][RAW]
    lines = [
        f"Machine: {results['machine']}" + (" (quick run: not figures to quote)" if results.get("quick") else ""),
        "",
        "| client | call ms | 200-token stream ms | 2000-token stream ms | first-token overhead ms "
        "| streams/s (64 concurrent) | peak KiB (2000 tokens) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        lines.append(
            f"| {name} | {_ms(seconds['call'][name])} | {_ms(seconds['stream_200'][name])} "
            f"| {_ms(seconds['stream_2000'][name])} | {_ms(seconds['first_token'][name] - raw_first)} "
            f"| {results['streams_per_second_64'][name]:.0f} | {results['peak_bytes_2000'][name] / 1024:.0f} |"
        )
    bound = limits(results)
    old = ratios(results, PREBUILT) if all(floor in seconds["call"] for floor in PREBUILT.values()) else {}
    lines += ["", "Limit = raw httpx + the framework's floor, which builds its answer and every chunk inside the timed "
              "call with the framework's own constructors; ratio = client / limit (target for orbit-local: call and "
              f"200-token stream <= {TARGET_RATIO:.2f}x). The last two columns: the same against the older floor "
              "whose chunks were built before timing.", ""]  # fmt: skip
    lines += ["| client | limit call ms | call | limit 200 ms | 200-token stream | limit 2000 ms | 2000-token stream "
              "| call, prebuilt floor | 200-token stream, prebuilt floor |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for framework, names_ in COMPARED.items():
        for name in names_:
            r = ratios(results)[name]
            ours = name.startswith("orbit-local")
            marks = {f: (" ✓" if r[f] <= TARGET_RATIO else " ✗") if ours and f != "stream_2000" else "" for f in r}
            before = old.get(name)
            lines.append(
                f"| {name} | {_ms(bound[framework]['call'])} | {r['call']:.2f}x{marks['call']} "
                f"| {_ms(bound[framework]['stream_200'])} | {r['stream_200']:.2f}x{marks['stream_200']} "
                f"| {_ms(bound[framework]['stream_2000'])} | {r['stream_2000']:.2f}x "
                + (f"| {before['call']:.2f}x | {before['stream_200']:.2f}x |" if before else "| | |")
            )
    per_token = results.get("functions_per_token")
    if per_token:
        lines += ["", "| client | our functions per streamed token (target <= 12) |", "|---|---|"]
        lines += [f"| {name} | {count}{' ✓' if count <= 12 else ' ✗'} |" for name, count in per_token.items()]
    imports = results["import_seconds"]
    lines += ["", "| import | ms | over `import langchain_core` | over `BaseChatModel` | over `llama_index.core` |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, value in imports.items():
        over_lc = over_base = over_li = ""
        if name.startswith("langchain_") and name != "langchain_core":
            over_lc = f"{(value - imports['langchain_core']) * 1000:+.0f}"
            over_base = f"{(value - imports['langchain_core BaseChatModel']) * 1000:+.0f}"
            if name == "langchain_orbit_local":
                over_lc += " ✓" if (value - imports["langchain_core"]) * 1000 <= TARGET_IMPORT_MS else " ✗"
        if name.startswith(("llamaindex_", "llama_index.llms")):
            over_li = f"{(value - imports['llama_index.core']) * 1000:+.0f}"
        lines.append(f"| `{name}` | {value * 1000:.0f} | {over_lc} | {over_base} | {over_li} |")
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = results["seconds"]
    bound = limits(results)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for axis, figure in zip(axes, FIGURES, strict=True):
        names = [n for framework in COMPARED for n in (FLOORS[framework], *COMPARED[framework])]
        names = [RAW, *names]
        values = [seconds[figure][n] * 1000 for n in names]
        colours = ["#888888" if n == RAW or "floor" in n else "#2a7ab9" if n.startswith("orbit") else "#d9822b"
                   for n in names]  # fmt: skip
        axis.barh(names, values, color=colours)
        for framework, style in (("langchain", "--"), ("llamaindex", ":")):
            axis.axvline(bound[framework][figure] * 1000, color="black", linestyle=style, linewidth=1,
                         label=f"{framework} limit")  # fmt: skip
        axis.invert_yaxis()
        axis.set_title(f"{FIGURES[figure]} (ms, lower is better)")
        axis.legend(loc="lower right", fontsize=8)
    fig.suptitle("orbit-local vs raw httpx, the framework floors, ChatOpenAI and OpenAILike (instant loopback server)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
