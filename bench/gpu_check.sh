#!/usr/bin/env bash
# The prepared GPU check of issue 10 (item 4), one command on a CUDA machine:
#   bash bench/gpu_check.sh            # results in $OUT (the device tool) or bench/results/
# 1. the Triton LIF kernel against the oracle on the GPU, bit for bit (tests/test_triton_lif.py);
# 2. bench/model_throughput.py at the ~125M config, contexts 512 and 2048, bf16 autocast, 32k tokens
#    per training step: training/prefill/decode tokens/s, peak memory and MFU against the bf16 matmul
#    peak measured in the same run, SymbolicLight fast and oracle beside the matched GPT-2; then the
#    fp32 fast-vs-oracle check on the GPU (exit 1 if it fails).
# 3. with SHARDS=<a shards artifact dir>: a real Lightning training run of TRAIN_CONFIG (default 194m,
#    vocabulary from the shards, bf16-mixed, no accumulation) for 40 steps, and the same run stopped
#    at 20 and resumed; bench/train_resume_check.py compares them (losses, tokens/s, MFU, memory).
# It needs only python3 with torch (CUDA), triton, lightning, pyyaml and pytest, as the device image
# has them: the package is put on the path from this checkout, nothing is installed or downloaded.
# About 3–5 minutes on one H200; step 3 adds 2–4.
# For step 3 carry the shards (git ignores work/), e.g. carry ["work/shards/<version>"] and
# SHARDS=work/shards/<version>; `symboliclight run` here makes them (20 MB for the default sample).
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

"$PY" -m pytest -q tests/test_triton_lif.py 2>&1 | tee "$OUT_DIR/gpu_tests.log"

# DEVICE/CONFIGS/CONTEXTS/TRAIN_TOKENS only for a dry run of this script on a CPU
"$PY" bench/model_throughput.py --device "${DEVICE:-cuda}" --configs "${CONFIGS:-125m}" \
    --contexts "${CONTEXTS:-512,2048}" --train-tokens "${TRAIN_TOKENS:-32768}" --repeats 5 --oracle-repeats 2 --check \
    --json "$OUT_DIR/model_throughput_cuda.json" 2>&1 | tee "$OUT_DIR/model_throughput_cuda.log"

if [ -n "${SHARDS:-}" ]; then
  runs=$(mktemp -d)
  # the model layer's own entry point: the GPU image has no datatrove, orjson or zstandard
  train=("$PY" -m symboliclight.model.train_cli --config "${TRAIN_CONFIG:-194m}" --shards "$SHARDS"
         --set model.vocab_from_shards=true trainer.accumulate_grad_batches=1 trainer.val_every_n_steps=20
         trainer.ckpt_every_n_steps=20 trainer.log_every_n_steps=5 trainer.keep_last_k=1
         trainer.progress_bar=false data.num_workers=2 schedule.warmup_steps=10 schedule.decay_steps=40
         ${TRAIN_SET:-})
  { "${train[@]}" --max-steps 40 --out "$runs/full"
    "${train[@]}" --max-steps 20 --out "$runs/resumed"
    "${train[@]}" --max-steps 40 --out "$runs/resumed" --resume
  } 2>&1 | tee "$OUT_DIR/train.log"
  "$PY" bench/train_resume_check.py "$runs/full" "$runs/resumed" --json "$OUT_DIR/train_resume_check.json"
fi
