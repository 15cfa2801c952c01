#!/usr/bin/env bash
# Everything Margin measures on a lent GPU, in one device call (at most 8 minutes on an H200
# whose image has torch and transformers, no vLLM, no network): randomly initialised models of
# SmolLM2-135M's shape and of a ~1B shape, so no weights are needed.
#
#   bash bench/gpu_check.sh              # on the GPU machine; figures into $OUT (or bench/out)
#   bash bench/gpu_check.sh --dry-run    # tiny shapes on CPU in a minute: checks the scripts
#
# Parts (each bounded by its own timeout so one slow part cannot eat the others' time; about
# 30 s of start-up and the two limits below stay under 8 minutes):
#   rewardtrain  bench/_gpu_check_rewardtrain.py: rewardtrain under torchrun with FSDP on the
#                GPU, several rows a process (loss falls, equal to DDP), eval and score on the
#                device, training throughput against the bf16 peak
#   ppo          bench/_gpu_check_ppo.py: PPO rollouts/s, seconds split, training share of peak
# Each part writes $OUT/gpu_check_<part>.json; the script exits 1 when a part fails.
set -uo pipefail

cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export TOKENIZERS_PARALLELISM=false
DRY=()
[[ "${1:-}" == "--dry-run" ]] && DRY=(--dry-run)

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"

status=0
part() {  # part NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most ${limit}s)"
    local start=$SECONDS
    timeout --signal=INT --kill-after=15 "$limit" "$@" || { echo "== $name FAILED ($?)"; status=1; }
    echo "== $name took $((SECONDS - start))s"
}

# ---- reward models (issue 16) -----------------------------------------------------------
part rewardtrain 200 "$PY" bench/_gpu_check_rewardtrain.py --out "$OUT/gpu_check_rewardtrain.json" "${DRY[@]}"

# ---- PPO (issue 17) ----------------------------------------------------------------------
part ppo 240 "$PY" bench/_gpu_check_ppo.py --out "$OUT/gpu_check_ppo.json" "${DRY[@]}"

exit $status
