#!/usr/bin/env bash
# GPU check, one script for a CUDA machine (about 8 minutes): the GPU tests, then the `gpu` automatic profile
# built from scratch in a private NAS_HOME, then its held-out figures. Usage, from the repository root after
# ./setup.sh (with a CUDA build of torch installed first):  bash benchmarks/gpu_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-runs/gpu-check}}"
mkdir -p "$OUT"
[ -d .venv ] && . .venv/bin/activate
export NAS_HOME="$OUT/nas-home"
rm -rf "$NAS_HOME"
python - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device: this script is for a GPU machine"
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)
PY
echo "== GPU tests"
timeout 180 python -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee "$OUT/gpu-tests.txt" | tail -5
echo "== gpu profile (automatic, first use)"
start=$(date +%s)
timeout 300 nas latency predict --platform gpu --arch shufflenet_v2_x1_0 --json | tee "$OUT/predict.json"
echo "profile built in $(( $(date +%s) - start )) s"
echo "== held-out figures"
timeout 120 nas latency eval --platform gpu --json | tee "$OUT/eval.json"
cp -r "$NAS_HOME/profiles" "$OUT/" 2>/dev/null || true
echo "results in $OUT"
