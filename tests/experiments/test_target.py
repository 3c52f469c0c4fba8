"""Measured vs predicted targets, the paper device they compare with, the results folder."""

from __future__ import annotations

import pytest

from experiments.target import MEASURED, PREDICTED_PUBLISHED, default_out_dir, resolve_target
from latency_models.platform import PlatformError


def test_local_cpu_is_measured_and_paper_devices_are_predicted(private_home):
    cpu = resolve_target("cpu")
    assert cpu.source == MEASURED and cpu.measured and cpu.paper_device == "arm"
    assert default_out_dir(cpu).as_posix() == "experiments/results/cpu-onnxruntime"
    assert resolve_target("cpu-torch").tag == "cpu-torch"
    arm = resolve_target("arm")
    assert arm.source == PREDICTED_PUBLISHED == "predicted (profile calibrated from published measurements)"
    assert not arm.measured and arm.paper_device == "arm" and arm.tag == "arm"
    gpu = resolve_target("gpu-1080ti")
    assert gpu.paper_device == "gpu-1080ti" and not gpu.measured


def test_unknown_platform_is_a_user_error(private_home):
    with pytest.raises(PlatformError, match="unknown platform"):
        resolve_target("tpu-v9")


def test_gpu_without_cuda_says_so_in_one_line(private_home):
    import torch

    from search_space.errors import UserError

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(UserError):
        resolve_target("gpu")
