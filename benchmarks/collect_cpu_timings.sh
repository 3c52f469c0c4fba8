#!/usr/bin/env bash
# Timings behind benchmarks/latency_predictors.py, measured on this machine's CPU (run it on a quiet machine:
# anything else running moves the numbers; the drift reference shows by how much).
#   1. ONNX Runtime (platform cpu): 300 random networks of the default space + every reference network,
#      two rounds (each network measured twice, minutes apart), drift reference re-timed every 10 networks.
#   2. ONNX Runtime: every distinct block of the first 60 of those networks, timed alone (lut / learned).
#   3. PyTorch eager (platform cpu-torch): the same networks, two rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/data}
N=${N:-300}
UNITS_N=${UNITS_N:-60}
SEED=${SEED:-11}
mkdir -p "$OUT"
nas measure -p cpu -n "$N" --seed "$SEED" --references --rounds 2 --drift-ref shufflenet_v2_x1_0 \
    -o "$OUT/cpu-onnxruntime-networks.csv"
nas measure -p cpu -n "$UNITS_N" --seed "$SEED" --units --no-networks -o "$OUT/cpu-onnxruntime-units.csv"
nas measure -p cpu-torch -n "$N" --seed "$SEED" --references --rounds 2 --drift-ref shufflenet_v2_x1_0 \
    -o "$OUT/cpu-torch-networks.csv"
