"""Times in-process planning: the editor's own text encoder planning a two-step instruction.

    python scripts/plan_bench.py --models modern --weights random --device cuda   # Qwen3-4B, full size
    python scripts/plan_bench.py --models max --weights tiny --device cpu         # a smoke run

Prints one JSON line per measurement:

- `grammar`: xgrammar's cost per generated token for the Plan schema over a vocabulary of Qwen's size
  (151,936 ids; a synthetic vocabulary, since no tokenizer can be downloaded here), and the schema's
  compile time. This is CPU work on every device.
- `fixed`: the encoder's prefill of a PROMPT_TOKENS-token prompt plus REPLY_TOKENS greedy steps with
  the KV cache (the length of a real two-step plan with a real tokenizer: the plan prompt and schema
  are about 8,700 characters, some 2,200 Qwen tokens; a two-step plan is about 160 tokens). Random
  weights do not decide the length: `min_new_tokens` does.
- `plan`: one whole `plan_with_llm` call through the real path (chat template, constrained decoding,
  validation), with the tokens it generated. The tiny and random builds use a byte-level tokenizer, so
  their prompts are about four times longer than a real tokenizer's: read `fixed` for the goal.

The goal is under 1.5 s per two-step plan for Qwen3-4B on a GPU: `fixed` seconds plus `grammar`
milliseconds per token times REPLY_TOKENS.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import time

import torch

PROMPT_TOKENS = 2200
REPLY_TOKENS = 160
QWEN_VOCAB = 151_936


def grammar_cost() -> dict:
    """Gives back xgrammar's compile time and per-token mask time for the Plan schema over a Qwen-sized vocabulary."""
    import xgrammar

    from chatedit.agent.grammar import bounded
    from chatedit.agent.plan import Plan

    rng = random.Random(0)
    vocab = [bytes([i]).decode("latin-1") for i in range(256)]
    letters = string.ascii_letters + string.digits + ' ,.:{}"[]'
    while len(vocab) < QWEN_VOCAB - 3:
        vocab.append("".join(rng.choice(letters) for _ in range(rng.randint(2, 8))))
    vocab += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    info = xgrammar.TokenizerInfo(
        vocab, vocab_type=xgrammar.VocabType.RAW, vocab_size=QWEN_VOCAB, stop_token_ids=[QWEN_VOCAB - 1]
    )
    started = time.perf_counter()
    compiled = xgrammar.GrammarCompiler(info).compile_json_schema(
        json.dumps(bounded(Plan.model_json_schema())), any_whitespace=False
    )
    compile_ms = (time.perf_counter() - started) * 1000
    plan = {
        "steps": [
            {
                "category": "remove",
                "target": "cup",
                "prompt": "the bare table",
                "instruction": "remove the cup",
                "anchor": None,
                "relation": None,
                "box": None,
            },
            {
                "category": "global",
                "target": None,
                "prompt": "make it sunset",
                "instruction": "make it sunset",
                "anchor": None,
                "relation": None,
                "box": None,
            },
        ],
        "message": None,
    }
    matcher = xgrammar.GrammarMatcher(compiled)
    bitmask = xgrammar.allocate_token_bitmask(1, QWEN_VOCAB)
    tokens = [ord(c) for c in json.dumps(plan)]  # one character per token: the worst case for the matcher
    started = time.perf_counter()
    for token in tokens:
        matcher.fill_next_token_bitmask(bitmask)
        if not matcher.accept_token(token):
            raise RuntimeError("the benchmark's plan does not follow the schema")
    per_token_ms = (time.perf_counter() - started) * 1000 / len(tokens)
    return {"grammar": {"compile_ms": round(compile_ms, 1), "mask_ms_per_token": round(per_token_ms, 3)}}


def fixed_length(encoder, device: torch.device, prompt_tokens: int, reply_tokens: int) -> dict:
    """Gives back the seconds of a prefill of `prompt_tokens` and `reply_tokens` greedy steps (KV cache)."""
    vocab = encoder.get_output_embeddings().weight.shape[0]
    ids = torch.randint(0, min(vocab, 30_000), (1, prompt_tokens), device=device)
    args = dict(do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)
    with torch.inference_mode():
        encoder.generate(ids, max_new_tokens=8, min_new_tokens=8, **args)  # kernels, allocator
        _sync(device)
        started = time.perf_counter()
        encoder.generate(ids, max_new_tokens=1, min_new_tokens=1, **args)
        _sync(device)
        prefill = time.perf_counter() - started
        started = time.perf_counter()
        out = encoder.generate(ids, max_new_tokens=reply_tokens, min_new_tokens=reply_tokens, **args)
        _sync(device)
        total = time.perf_counter() - started
    made = out.shape[1] - prompt_tokens
    return {
        "fixed": {
            "prompt_tokens": prompt_tokens,
            "reply_tokens": made,
            "prefill_s": round(prefill, 3),
            "decode_ms_per_token": round((total - prefill) * 1000 / max(made - 1, 1), 2),
            "total_s": round(total, 3),
        }
    }


def whole_plan(chat, device: torch.device) -> dict:
    """Gives back one plan through the real path: seconds, tokens, and whether it was usable."""
    from PIL import Image

    from chatedit.agent.llm import plan_with_llm

    picture = Image.new("RGB", (768, 512), (120, 140, 160))
    started = time.perf_counter()
    result = plan_with_llm(chat, picture, "remove the cup and make it sunset", [])
    _sync(device)
    return {
        "plan": {
            "seconds": round(time.perf_counter() - started, 3),
            "calls": result.calls,
            "tokens": result.tokens,
            "usable": result.value is not None,
            "error": result.error,
        }
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="modern", choices=["modern", "max"])
    parser.add_argument("--weights", default="random", choices=["random", "tiny"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--prompt-tokens", type=int, default=PROMPT_TOKENS)
    parser.add_argument("--reply-tokens", type=int, default=REPLY_TOKENS)
    args = parser.parse_args()

    from chatedit.agent.local_models import editor_chat_model
    from chatedit.tools.models import get_models

    print(json.dumps(grammar_cost()), flush=True)
    models = get_models(f"{args.models}:{args.weights}", args.device)
    chat = editor_chat_model(models)
    encoder = chat.lm.model
    device = next(encoder.parameters()).device
    about = {"models": args.models, "weights": args.weights, "device": str(device), "dtype": str(encoder.dtype)}
    if device.type == "cuda":
        about["device_name"] = torch.cuda.get_device_name(device)
    print(json.dumps({"encoder": {**about, "class": type(encoder).__name__}}), flush=True)
    print(json.dumps(fixed_length(encoder, device, args.prompt_tokens, args.reply_tokens)), flush=True)
    print(json.dumps(whole_plan(chat, device)), flush=True)


if __name__ == "__main__":
    main()
