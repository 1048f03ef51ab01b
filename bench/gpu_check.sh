#!/usr/bin/env bash
# The prepared GPU check of issue 10 (item 4), one command on a CUDA machine:
#   bash bench/gpu_check.sh            # results in $OUT (the device tool) or bench/results/
# 1. the Triton LIF kernel against the oracle on the GPU, bit for bit (tests/test_triton_lif.py);
# 2. bench/model_throughput.py at the ~125M config, contexts 512 and 2048, bf16 autocast, 32k tokens
#    per training step: training/prefill/decode tokens/s, peak memory and MFU against the bf16 matmul
#    peak measured in the same run, SymbolicLight fast and oracle beside the matched GPT-2; then the
#    fp32 fast-vs-oracle check on the GPU (exit 1 if it fails).
# It needs only python3 with torch (CUDA), triton, pyyaml and pytest: the package is put on the path
# from this checkout, nothing is installed or downloaded. About 3–5 minutes on one H200.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT:-bench/results}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
pkg=$(mktemp -d)
mkdir -p "$pkg/symboliclight"
for layer in pipeline tokenizer model dags configs; do ln -s "$PWD/$layer" "$pkg/symboliclight/$layer"; done
export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  "$PY" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__,
             torch.cuda.get_device_name() if torch.cuda.is_available() else 'no cuda')"
} 2>&1 | tee "$OUT_DIR/gpu_env.txt"

"$PY" -m pytest -q -p no:cacheprovider tests/test_triton_lif.py 2>&1 | tee "$OUT_DIR/gpu_tests.log"

# DEVICE/CONFIGS/CONTEXTS/TRAIN_TOKENS only for a dry run of this script on a CPU
"$PY" bench/model_throughput.py --device "${DEVICE:-cuda}" --configs "${CONFIGS:-125m}" \
    --contexts "${CONTEXTS:-512,2048}" --train-tokens "${TRAIN_TOKENS:-32768}" --repeats 5 --oracle-repeats 2 --check \
    --json "$OUT_DIR/model_throughput_cuda.json" 2>&1 | tee "$OUT_DIR/model_throughput_cuda.log"
