#!/usr/bin/env bash
# Times chatedit's benchmark turn on one CUDA GPU before and after each speed setting; JSON to $OUT.
#
# Two steps, because the GPU machine has no network:
#   scripts/gpu_bench.sh fetch   on a machine with PyPI: downloads into .whl/ the wheels (Python 3.12,
#                                x86-64 Linux) of what the GPU image lacks: diffusers, langgraph,
#                                langchain-core, pydantic(-settings) and their own needs.
#   scripts/gpu_bench.sh [families|speed]
#                                on the GPU machine, from any folder: installs .whl/ when
#                                diffusers or langgraph is missing, prints the versions, then runs the
#                                turn "remove the cup and make it sunset" (one warm-up turn, then timed
#                                ones), each run in a fresh process, and writes $OUT/results.jsonl,
#                                $OUT/versions.txt, $OUT/log.txt.
#   families (the default)       every model family with full-size random weights (classic, modern:
#                                FLUX.2 klein 4B, max: Qwen-Image-Edit-2511) on a 1024x768 photo,
#                                REPEAT=1 timed turn each, with peak GPU memory.
#   speed                        the classic family under each speed setting below (768x512, 5 turns).
# The .whl/ folder is ignored by git (.git/info/exclude); with the device tool, carry it:
#   run(command="bash scripts/gpu_bench.sh", carry=[".whl"], timeout_s=570)
# SIZE, REPEAT, MODELS, WEIGHTS and DEVICE override the sizes and turns above, random-full (speed),
# random (families) and cuda (WEIGHTS=tiny MODELS=tiny DEVICE=cpu SIZE=160x120 is a smoke test without a GPU).
# Runs start only while BUDGET_S (default 480 s) has the time each needs.
# Speed configurations, in order:
#   eager          the defaults: fp16, SDPA, DPM-Solver++ with 25 inpaint / 20 global steps
#   channels_last  eager + UNet and VAE weights channels-last
#   fewer_steps    channels_last + 15 inpaint / 12 global steps
#   compiled       channels_last + torch.compile(UNet, mode="reduce-overhead"), compiled in the warm-up turn
#   autotuned      channels_last + torch.compile(UNet, mode="max-autotune-no-cudagraphs"), if time is left
set -uo pipefail
cd "$(dirname "$0")/.."

WHEELS=.whl
MODE=${1:-families}
if [[ $MODE == families ]]; then
  SIZE=${SIZE:-1024x768}
  REPEAT=${REPEAT:-1}
else
  SIZE=${SIZE:-768x512}
  REPEAT=${REPEAT:-5}
fi
MODELS=${MODELS:-random-full}
WEIGHTS=${WEIGHTS:-random}
DEVICE=${DEVICE:-cuda}
BUDGET_S=${BUDGET_S:-480}
OUT=${OUT:-out/gpu_bench}

# Exact versions that run together in the project's CPU environment; the GPU image has the rest
# (torch, transformers, huggingface_hub, numpy, pillow, scipy, httpx, anyio, pyyaml, xxhash, zipp, ...).
PACKAGES=(
  diffusers==0.42.1 importlib_metadata==10.2.0
  langgraph==1.2.24 langgraph-checkpoint==4.3.2 langgraph-checkpoint-sqlite==3.1.2 langgraph-prebuilt==1.1.3
  langgraph-sdk==0.4.14 langchain-core==1.8.3 langchain-protocol==0.0.20 langsmith==0.15.1
  jsonpatch==1.48 jsonpointer==3.12 orjson==3.13.0 ormsgpack==1.13.1 pydantic==2.14.4 pydantic_core==2.50.5
  pydantic-settings==2.16.3 python-dotenv==1.2.4 typing-inspection==0.4.5 annotated-types==0.8.0
  tenacity==9.2.1 uuid_utils==0.19.0 zstandard==0.25.0 requests-toolbelt==1.0.0 httpx2==2.16.2
  httpcore2==2.16.2 truststore==0.10.5 distro==1.9.0 sniffio==1.3.1 websockets==17.4 opentelemetry-api==1.45.2
)

fetch() {
  mkdir -p "$WHEELS"
  local platforms=()
  for tag in manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 \
             manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
  done
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$WHEELS" "${PACKAGES[@]}"
}

if [[ $MODE == fetch ]]; then
  fetch
  exit $?
fi
if [[ $MODE != families && $MODE != speed ]]; then
  echo "Unknown mode '$MODE'; use families (the default), speed or fetch." >&2
  exit 2
fi

mkdir -p "$OUT"
started=$SECONDS
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# The checkout imports as `chatedit` (the repository root is the package): link it under that name.
mkdir -p /tmp/pkg && ln -sfn "$PWD" /tmp/pkg/chatedit
export PYTHONPATH="/tmp/pkg${PYTHONPATH:+:$PYTHONPATH}"

if ! python3 -c "import diffusers, langgraph.checkpoint.sqlite, langchain_core, pydantic_settings" 2>/dev/null; then
  if ! compgen -G "$WHEELS/*.whl" >/dev/null; then
    echo "diffusers or langgraph is missing and $WHEELS/ holds no wheels: run 'scripts/gpu_bench.sh fetch' first." >&2
    exit 2
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$WHEELS"/*.whl || exit 2
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  python3 - <<'EOF'
import platform, torch, diffusers, transformers, langgraph
from importlib.metadata import version
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda,
      "| cudnn", torch.backends.cudnn.version(), "| diffusers", diffusers.__version__,
      "| transformers", transformers.__version__, "| langgraph", version("langgraph"))
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), "| sdpa flash", torch.backends.cuda.flash_sdp_enabled(),
          "| mem-efficient", torch.backends.cuda.mem_efficient_sdp_enabled())
EOF
} 2>&1 | tee "$OUT/versions.txt"

# A run's JSON line, tagged with its configuration name, appended to results.jsonl.
record() {
  CONFIG=$1 python3 -c 'import json, os, sys; print(json.dumps({"config": os.environ["CONFIG"], **json.loads(sys.stdin.read())}))' \
    <<<"$2" >>"$OUT/results.jsonl"
}

# One run: name, seconds it needs to be started, what it is, then the command that prints its JSON line
# last. It starts only when the budget has that time left, and may use all of what is left.
attempt() {
  local name=$1 needs=$2 what=$3
  shift 3
  local left=$((BUDGET_S - (SECONDS - started)))
  if ((left < needs)); then
    echo "skipped $name: ${left}s of the budget left, it needs about ${needs}s" | tee -a "$OUT/log.txt"
    return
  fi
  echo "== $name ($what), ${left}s left" | tee -a "$OUT/log.txt"
  local result status
  result=$(timeout "$left" "$@" 2>>"$OUT/log.txt" | tail -n 1)
  status=$?
  [[ $status == 0 ]] && record "$name" "$result"
  echo "   exit $status after $((SECONDS - started))s" | tee -a "$OUT/log.txt"
}

# family, seconds it needs to be started (building the random weights, the warm-up and timed turns)
FAMILIES=("classic 90" "modern 150" "max 330")
[[ $MODE == families ]] || FAMILIES=()
export SIZE REPEAT DEVICE
for entry in "${FAMILIES[@]}"; do
  read -r family needs <<<"$entry"
  attempt "$family" "$needs" "$WEIGHTS weights" python3 - "$family:$WEIGHTS" <<'EOF'
import json, os, sys

from chatedit.agent.bench import run_bench

width, height = (int(side) for side in os.environ["SIZE"].split("x"))
result = run_bench(models=sys.argv[1], device=os.environ["DEVICE"], size=(width, height), repeat=int(os.environ["REPEAT"]))
print(json.dumps(result))
EOF
done

# config name, seconds it needs to be started, then the environment that selects it
CONFIGS=(
  "eager 60"
  "channels_last 60 CHATEDIT_CHANNELS_LAST=1"
  "fewer_steps 60 CHATEDIT_CHANNELS_LAST=1 CHATEDIT_INPAINT_STEPS=15 CHATEDIT_GLOBAL_STEPS=12"
  "compiled 150 CHATEDIT_CHANNELS_LAST=1 CHATEDIT_COMPILE_MODE=reduce-overhead"
  "autotuned 240 CHATEDIT_CHANNELS_LAST=1 CHATEDIT_COMPILE_MODE=max-autotune-no-cudagraphs"
)
[[ $MODE == speed ]] || CONFIGS=()
for entry in "${CONFIGS[@]}"; do
  read -r name needs settings <<<"$entry"
  attempt "$name" "$needs" "$settings" env $settings python3 -m chatedit.agent.cli bench --models "$MODELS" \
    --device "$DEVICE" --size "$SIZE" --repeat "$REPEAT" --json
done

python3 - "$OUT/results.jsonl" <<'EOF'
import json, sys

try:
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
except FileNotFoundError:
    rows = []
stages = ["turn", "model", "overhead", "inpaint", "global_edit", "detect", "segment", "verify", "store_checkpoint"]
print(f"{'config':14s}" + "".join(f"{s[:11]:>12s}" for s in stages) + f"{'peak GiB':>10s}{'load s':>8s}")
for row in rows:
    cells = "".join(f"{row['stages_ms'].get(s, {'median': float('nan')})['median']:12.1f}" for s in stages)
    peak = row["gpu_memory_peak_gib"]
    print(f"{row['config']:14s}{cells}{peak if peak is not None else float('nan'):10.2f}{row['load_ms'] / 1000:8.1f}")
print("medians in ms over", rows[0]["repeat"] if rows else 0, "turns;", rows[0]["device_name"] if rows else "no results")
EOF
