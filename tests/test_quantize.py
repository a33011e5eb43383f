"""Quantized and offloaded families on tiny weights, auto's choice by free memory, and out of memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from chatedit.agent import Editor
from chatedit.agent.server import create_app
from chatedit.agent.server.settings import ServerSettings
from chatedit.tools import memory
from chatedit.tools.errors import InputError, OutOfMemoryError
from chatedit.tools.images import to_data_url
from chatedit.tools.models import ModelSet
from chatedit.tools.quantize import check_quantize, quantize_built, weight_bytes
from tests.test_faults import PHOTO, WATERCOLOR, oom_editor, oom_toolbox

CPU = torch.device("cpu")


def _turn(tmp_path, models: str, **kwargs):
    editor = Editor(models=models, planner="rules", data_dir=tmp_path, max_attempts=1, **kwargs)
    try:
        turn = editor.session().send("make it look like winter", image=PHOTO)
    finally:
        editor.close()
    return editor.toolbox.models, turn


def _stored_as(module: torch.nn.Module) -> set[str]:
    """Gives back the class names of the linear layers' weights (torchao's quantized tensors, or Tensor)."""
    return {type(m.weight).__name__ for m in module.modules() if isinstance(m, torch.nn.Linear)}


@pytest.mark.parametrize(
    "models, quantize, stored",
    [
        ("modern:tiny", "int8", "Int8Tensor"),
        ("modern:tiny", "fp8", "Float8Tensor"),
        ("max:tiny", "int8", "Int8Tensor"),
        ("classic:tiny", "int8", "Int8Tensor"),
    ],
)
def test_each_quantization_that_runs_on_a_cpu_gives_a_turn(tmp_path, models, quantize, stored, one_torch_thread):
    model_set, turn = _turn(tmp_path, models, quantize=quantize)
    assert turn.report["version"] == 1 and turn.report["models"]["quantize"] == quantize
    pipe = model_set.global_editor
    denoiser = pipe.unet if model_set.family == "classic" else pipe.transformer
    assert _stored_as(denoiser) == {stored}
    assert stored in _stored_as(pipe.text_encoder)
    # The VAE keeps its full-precision weights.
    assert {type(p).__name__ for p in pipe.vae.parameters()} == {"Parameter"}
    assert not np.array_equal(np.asarray(turn.image), np.asarray(PHOTO))


def test_quantization_is_a_property_of_the_models_not_of_the_turn(tmp_path):
    plain = ModelSet("modern", "cpu", weights="tiny", quantize="none")
    packed = ModelSet("modern", "cpu", weights="tiny", quantize="int8")
    assert plain.report()["quantize"] == "none" and packed.report()["quantize"] == "int8"
    assert weight_bytes(packed.global_editor.transformer) < weight_bytes(plain.global_editor.transformer)


@pytest.mark.parametrize(
    "mode, device, capability, said",
    [
        ("nf4", "cpu", None, "needs a CUDA GPU"),
        ("nf4", "mps", None, "needs a CUDA GPU"),
        ("fp8", "mps", None, "MPS lacks"),
        ("fp8", "cuda", (8, 6), "compute capability 8.9 or more"),
        ("q3", "cpu", None, "Unknown quantization"),
    ],
)
def test_modes_a_device_cannot_run_are_refused_with_what_would(monkeypatch, mode, device, capability, said):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    with pytest.raises(InputError, match=said):
        check_quantize(mode, torch.device(device))


def test_nf4_on_this_cpu_stops_the_start_before_anything_loads(tmp_path):
    with pytest.raises(InputError, match="nf4 needs a CUDA GPU"):
        Editor(models="modern:tiny", quantize="nf4", data_dir=tmp_path)


@pytest.mark.parametrize("mode", ["int8", "fp8", "nf4"])
def test_a_built_module_is_quantized_in_place_and_holds_fewer_bytes(mode):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
    module = module.to(torch.bfloat16)
    before = weight_bytes(module)
    inputs = torch.randn(3, 256, dtype=torch.bfloat16)
    expected = module(inputs)
    quantize_built(module, mode, torch.bfloat16)
    assert weight_bytes(module) < (0.6 if mode == "nf4" else 0.55) * before
    # Quantized, not broken: the outputs stay close to the full-precision ones.
    error = (module(inputs) - expected).abs().mean() / expected.abs().mean()
    assert error < 0.2


@pytest.mark.parametrize("offload, hook", [("model", "_hf_hook"), ("group", "_diffusers_hook")])
def test_offloading_goes_through_diffusers_hooks_and_gives_a_turn(tmp_path, offload, hook):
    model_set, turn = _turn(tmp_path, "modern:tiny", offload=offload)
    assert turn.report["version"] == 1 and turn.report["models"]["offload"] == offload
    assert hasattr(model_set.global_editor.transformer, hook)


# ---- auto: the best family and quantization that fit the free memory ------------------------------------


GIB = 2**30
FIGURES = {
    "totals": {
        "classic": {"none": 3 * GIB},
        "modern": {"none": 17 * GIB, "int8": 9 * GIB, "fp8": 9 * GIB, "nf4": 6 * GIB},
        "max": {"none": 58 * GIB, "int8": 30 * GIB, "fp8": 30 * GIB, "nf4": 17 * GIB},
    },
    "activations": {"classic": 1 * GIB, "modern": 3 * GIB, "max": 4 * GIB},
}


@pytest.mark.parametrize(
    "free_gib, capability, expected",
    [
        (80, (9, 0), ("max", "none")),
        (40, (9, 0), ("max", "fp8")),
        (40, (8, 6), ("max", "int8")),
        (22, (8, 9), ("max", "nf4")),
        (16, (8, 6), ("modern", "int8")),
        (12.5, (8, 6), ("modern", "int8")),
        (11.5, (8, 6), ("modern", "nf4")),
        (10, (8, 6), ("modern", "nf4")),
        (6, (7, 5), ("classic", "none")),
    ],
)
def test_auto_picks_by_free_memory(free_gib, capability, expected):
    choice = memory.choose(int(free_gib * GIB), torch.device("cuda"), capability=capability, figures=FIGURES)
    assert (choice.family, choice.quantize) == expected
    assert choice.line.startswith(f"{expected[0]}, ") and f"{free_gib:.1f} GiB free" in choice.line


def test_auto_with_a_family_given_picks_its_least_quantization_that_fits():
    choice = memory.choose(14 * GIB, torch.device("cuda"), family="modern", capability=(9, 0), figures=FIGURES)
    assert (choice.family, choice.quantize) == ("modern", "fp8")
    tight = memory.choose(2 * GIB, torch.device("cuda"), family="modern", capability=(9, 0), figures=FIGURES)
    assert tight.quantize == "nf4" and "less than" in tight.line


def test_the_smallest_gpu_auto_gives_each_option():
    assert memory.smallest_gpu("classic", "none", FIGURES) == 4
    assert memory.smallest_gpu("modern", "nf4", FIGURES) == 9
    assert memory.smallest_gpu("max", "none", FIGURES) == 62
    assert memory.smallest_gpu("modern", "fp8", FIGURES) == 12
    assert memory.smallest_gpu("modern", "none", FIGURES) == 20
    # int8 holds as much as fp8, which auto prefers where it runs: int8 is its pick on GPUs without fp8.
    assert memory.smallest_gpu("modern", "int8", FIGURES) == 12
    # classic is auto's pick only unquantized.
    assert memory.smallest_gpu("classic", "nf4", FIGURES) is None


def test_auto_on_a_gpu_reads_the_free_memory_and_says_its_choice(monkeypatch):
    monkeypatch.setattr(memory, "free_bytes", lambda device: 12 * GIB)
    monkeypatch.setattr(memory, "table", lambda: FIGURES)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 6))
    from chatedit.tools.models import resolve_quantize

    assert resolve_quantize("auto", "modern", "real", torch.device("cuda")) == (
        "int8",
        "modern, int8: 12.0 GiB free, 12.0 GiB needed",
    )
    assert resolve_quantize("auto", "modern", "tiny", torch.device("cuda")) == ("none", None)
    assert resolve_quantize("auto", "modern", "real", CPU) == ("none", None)


# ---- out of memory ------------------------------------------------------------------------------------


def test_out_of_memory_twice_names_what_would_fit_and_keeps_the_session(tmp_path, monkeypatch):
    toolbox = oom_toolbox(failures=2)
    monkeypatch.setattr(toolbox.models, "memory_advice", lambda: "Settings that fit: --quantize nf4.", raising=False)
    session = oom_editor(tmp_path, toolbox).session()
    session.send("", image=PHOTO)
    with pytest.raises(OutOfMemoryError, match="reduced size. Settings that fit: --quantize nf4"):
        session.send(WATERCOLOR)
    assert [v.instruction for v in session.history()] == ["uploaded"]


def test_the_advice_on_a_gpu_names_the_family_and_quantization_that_fit(monkeypatch):
    monkeypatch.setattr(memory, "free_bytes", lambda device: 20 * GIB)
    monkeypatch.setattr(memory, "table", lambda: FIGURES)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 9))
    models = ModelSet("modern", "cpu", weights="tiny")
    models.device = torch.device("cuda")
    advice = models.memory_advice()
    assert "--models modern --quantize none" in advice and "--models max --quantize nf4" not in advice
    assert "--offload model" in advice


def test_out_of_memory_twice_is_a_503_and_the_server_stays_healthy(tmp_path):
    toolbox = oom_toolbox(failures=2)
    toolbox.models.availability = lambda: ([], None)
    editor = oom_editor(tmp_path, toolbox)
    with TestClient(create_app(editor, ServerSettings())) as http:
        parts = [{"type": "text", "text": WATERCOLOR}, {"type": "image_url", "image_url": {"url": to_data_url(PHOTO)}}]
        body = {"model": "chatedit", "messages": [{"role": "user", "content": parts}]}
        reply = http.post("/v1/chat/completions", json=body)
        assert reply.status_code == 503 and "ran out of memory" in reply.json()["error"]["message"]
        assert http.get("/health").status_code == 200


def test_with_the_measured_table_a_bigger_gpu_never_gets_a_lesser_choice():
    rank = {option: index for index, option in enumerate(memory.PREFERENCE)}
    for capability in [(8, 6), (9, 0)]:
        picks = [
            memory.choose(gib * GIB, torch.device("cuda"), capability=capability)
            for gib in (4, 6, 8, 12, 16, 24, 48, 80, 141)
        ]
        ranks = [rank[(pick.family, pick.quantize)] for pick in picks]
        assert ranks == sorted(ranks, reverse=True), picks
        assert (picks[-1].family, picks[-1].quantize) == ("max", "none")
        assert picks[2].family == "modern"  # an 8 GiB card gets the modern family, quantized


def test_models_list_shows_the_memory_each_family_needs(monkeypatch):
    from typer.testing import CliRunner

    from chatedit.agent.cli import app

    result = CliRunner().invoke(app, ["models", "list", "--models", "modern"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("modern ")]
    assert [row[1] for row in rows] == ["none", "int8", "fp8", "nf4"]
    weights = [float(row[2]) for row in rows]
    assert weights[0] > weights[1] > weights[3]
    assert "GiB free" in result.stdout


def test_the_in_process_planner_plans_with_the_quantized_encoder_as_it_is(tmp_path):
    from PIL import Image

    from chatedit.agent.llm import plan_with_llm

    editor = Editor(models="max:tiny", llm="editor", quantize="int8", data_dir=tmp_path)
    editor.llm.text_limit, editor.llm.items_limit = 10, 1
    result = plan_with_llm(editor.llm, Image.new("RGB", (96, 64), "red"), "remove the cup", [])
    encoder = editor.llm.lm.model
    assert encoder is editor.toolbox.models.global_editor.text_encoder
    assert "Int8Tensor" in _stored_as(encoder)
    assert result.value is not None and result.tokens > 0
    editor.close()
