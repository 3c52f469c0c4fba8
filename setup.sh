#!/usr/bin/env bash
# One-command set-up on a fresh Debian machine: data and browser from apt, then a virtual environment in
# .venv with PyTorch's CPU build installed FIRST (a loose torch requirement on its own would pull a
# multi-GB CUDA build), then this package with its dev extra.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES="dataset-fashion-mnist chromium chromium-driver postgresql"
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $APT_PACKAGES >/dev/null
else
    echo "setup.sh: no apt-get here; install Fashion-MNIST's IDX files yourself and pass --dataset fashion-mnist:DIR" >&2
fi

PYTHON="${PYTHON:-python3}"
[ -d .venv ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "set-up done: activate with '. .venv/bin/activate'"
