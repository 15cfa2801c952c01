#!/usr/bin/env bash
# The benchmark environment for TRL's last PPO trainer: trl 1.12.0 (trl.experimental.ppo; 1.13
# removed it, trl #7020), in a virtual environment of its own so that its pins never touch the
# project's .venv. bench/ppo_bench.py runs its TRL side with this environment's python.
#
#   bash scripts/trl_ppo_venv.sh [VENV]     # default: .venv-trl-ppo in the checkout; idempotent
#
# torch stays torch==2.13.0 (the CPU wheel, as in .venv). Variables: PYTHON (python3.11),
# TRL_PPO_SPEC (trl==1.12.0), TRL_PPO_TRANSFORMERS (the transformers pin, see below).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${1:-.venv-trl-ppo}"
PYTHON="${PYTHON:-python3.11}"
MARKER="$VENV/.margin-trl-ppo-ready"
# trl 1.12.0 asks for transformers>=4.56.2; this is the newest release its PPO trainer was
# checked against here (its PPO code predates transformers' 5.2x generation changes).
TRANSFORMERS="${TRL_PPO_TRANSFORMERS:-transformers==5.24.0}"

if [[ -f "$MARKER" ]]; then
  echo "TRL PPO environment ready in $VENV"
  exit 0
fi
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "torch==2.13.0" "${TRL_PPO_SPEC:-trl==1.12.0}" "$TRANSFORMERS" \
  "accelerate>=1.4" "datasets>=4.7" "safetensors" "numpy" "pandas" "rich"
"$VENV/bin/python" -c "import torch, transformers, trl; from trl.experimental.ppo import PPOTrainer; print('trl', trl.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
touch "$MARKER"
