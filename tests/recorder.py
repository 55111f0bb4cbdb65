"""Record cassettes from a real server: ``make record PROVIDER=<target>``.

Starts the target's server with tests/live/servers.py (or uses ``--base-url`` for a server you
started yourself, e.g. LM Studio), deletes the target's old cassettes, runs the scenario suite
and the langchain-tests integration suite with recording on, writes
``cassettes/<target>/provenance.json`` and stops the server. Authorization and api-key headers
are scrubbed by the VCR configuration. Responses are stored as the server sent them; a wrong
cassette is fixed by recording again, never by editing it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys

import httpx

from orbit_local import __version__
from tests.live.servers import ServerUnavailable, command_line, running
from tests.targets import BY_NAME, Target


def _probe_version(base_url: str) -> str | None:
    """Ask the server for its version where it has a way to say it."""
    origin = base_url.split("/v1")[0].split("/api/")[0]
    for path, key in (("/api/extra/version", "version"), ("/api/version", "version"), ("/version", "version")):
        try:
            response = httpx.get(origin + path, timeout=2)
            if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
                value = response.json().get(key)
                if value:
                    return str(value)
        except (httpx.HTTPError, ValueError, AttributeError):
            continue
    return None


def record(
    target: Target,
    base_url: str,
    server_version: str,
    command: str,
    model_file: str,
    facts: dict[str, str] | None = None,
) -> int:
    for old in target.cassette_dir.rglob("*.yaml"):
        old.unlink()
    target.cassette_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ORBIT_RECORD_TARGET": target.name, "ORBIT_RECORD_BASE_URL": base_url}
    pytest_cmd = [
        sys.executable,
        "-m",
        "pytest",
        *target.suites,
        "--record-mode=once",
        "--force-enable-socket",
        "-q",
        "-p",
        "no:randomly",
    ]
    print("recording:", " ".join(pytest_cmd), flush=True)
    code = subprocess.call(pytest_cmd, env=env)
    provenance = {
        "target": target.name,
        "provider_profile": target.provider,
        "server": server_version,
        "model": model_file,
        "models_requested": {"chat": target.chat_model, "tools": target.tools_model, "embeddings": target.embed_model},
        "base_url": base_url,
        "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "server_command": command,
        **({"server_facts": facts} if facts else {}),
        "recorder_command": f"make record PROVIDER={target.name}",
        "orbit_local_version": __version__,
        "cassettes": sorted(str(p.relative_to(target.cassette_dir)) for p in target.cassette_dir.rglob("*.yaml")),
        "pytest_exit_code": code,
    }
    (target.cassette_dir / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {len(provenance['cassettes'])} cassettes and provenance.json to {target.cassette_dir}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(BY_NAME), help="which target in tests/targets.py")
    parser.add_argument("--base-url", help="use a server you already started instead of launching one")
    parser.add_argument("--server-version", default=None, help="version to write into provenance.json")
    parser.add_argument(
        "--server-command", default="started by the user", help="how the server was started, for provenance.json"
    )
    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, kill) must still run the `finally` that stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    target = BY_NAME[args.target]
    if args.base_url or target.launcher is None:
        base_url = args.base_url or target.base_url
        version = args.server_version or _probe_version(base_url) or "unknown (pass --server-version)"
        return record(target, base_url, version, args.server_command, target.chat_model)
    try:
        with running(target.launcher) as server:
            version = args.server_version or server.version
            return record(target, server.base_url, version, command_line(server), server.model, server.facts)
    except ServerUnavailable as exc:
        print(f"cannot start {target.name}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
