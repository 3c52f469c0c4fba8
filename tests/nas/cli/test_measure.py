"""`nas measure`: one network as JSON, timings files, units, interrupts and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import torch

from latency_models.backends.torch_cpu import TorchCPUBackend
from latency_models.timings import load_timings, meta_path
from nas.cli.main import main

FAST = ("--repeats", "2", "--warmup", "0", "--resolution", "32")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_one_network_as_json(capsys, in_tmp):
    pytest.importorskip("onnxruntime")
    code, out, err = run(capsys, "measure", "--platform", "cpu", "--arch", "shufflenet_v2_x0_5", "--json",
                         "--repeats", "3", "--warmup", "1", "--resolution", "32")
    assert code == 0, err
    d = json.loads(out)
    assert d["kind"] == "measured" and d["network"] == "shufflenet_v2_x0_5"
    assert d["latency_ms"] > 0 and d["cv"] >= 0 and d["iqr_ms"] >= 0 and isinstance(d["noisy"], bool)
    assert (d["samples"], d["platform"], d["runtime"], d["batch"], d["resolution"]) == (3, "cpu", "onnxruntime", 1, 32)
    assert list(in_tmp.iterdir()) == []  # --arch alone writes no file unless --out is given


def test_table_output_and_overrides(capsys):
    code, out, err = run(capsys, "measure", "-p", "cpu-torch", "-a", "shufflenet_v2_x0_5", "--threads", "2",
                         "--batch", "2", *FAST)
    assert code == 0, err
    assert "shufflenet_v2_x0_5" in out and "2 threads, batch 2" in out


def test_sample_writes_a_timings_file(capsys, in_tmp):
    code, out, err = run(capsys, "measure", "-p", "cpu-torch", "--sample", "1", "--seed", "0", "--out", "t.csv",
                         "--rounds", "2", "--drift-ref", "shufflenet_v2_x0_5", "--json", *FAST)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["kind"] == "timings" and summary["out"] == "t.csv"
    t = load_timings(in_tmp / "t.csv")
    assert len(t) == summary["rows"]
    nets = t.networks()
    assert sorted(nets[nets["role"] == "sample"]["round"].tolist()) == [1, 2]
    assert (nets["role"] == "drift_ref").sum() == 4  # start and end of each of the 2 rounds
    assert (nets["resolution"] == 32).all() and (nets["latency_ms"] > 0).all()
    assert t.meta.platform.name == "cpu-torch" and t.meta.settings["rounds"] == 2


def test_units_with_the_default_out_file(capsys, in_tmp):
    code, out, err = run(capsys, "measure", "-p", "cpu-torch", "-a", "shufflenet_v2_x0_5", "--units", "--no-networks",
                         *FAST)
    assert code == 0, err
    files = sorted(p.name for p in in_tmp.iterdir())
    assert len(files) == 2 and files[0].startswith("timings-cpu-torch-") and files[0].endswith(".csv")
    t = load_timings(in_tmp / files[0])
    assert len(t.units()) == 10 and len(t.networks()) == 0
    assert meta_path(in_tmp / files[0]).name == files[1]


def test_parquet_out(capsys, in_tmp):
    pytest.importorskip("pyarrow")
    code, _, err = run(capsys, "measure", "-p", "cpu-torch", "-a", "shufflenet_v2_x0_5", "-o", "t.parquet", *FAST)
    assert code == 0, err
    assert len(load_timings(in_tmp / "t.parquet")) == 1


def test_existing_out_needs_append(capsys, in_tmp):
    args = ("measure", "-p", "cpu-torch", "-a", "shufflenet_v2_x0_5", "-o", "t.csv", *FAST)
    assert run(capsys, *args)[0] == 0
    code, out, err = run(capsys, *args)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    assert run(capsys, *args, "--append")[0] == 0
    assert len(load_timings(in_tmp / "t.csv")) == 2


def test_ctrl_c_keeps_what_was_measured(capsys, in_tmp, monkeypatch):
    real, calls = TorchCPUBackend.time, []

    def interrupted(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *a, **k)
    monkeypatch.setattr(TorchCPUBackend, "time", interrupted)
    code, out, err = run(capsys, "measure", "-p", "cpu-torch", "-a", "shufflenet_v2_x0_5", "-a",
                         "shufflenet_v2_x1_0", "-o", "t.csv", "--retries", "0", *FAST)
    assert code == 130
    assert "interrupted; 1 measurement(s) kept in t.csv" in err
    assert len(load_timings(in_tmp / "t.csv")) == 1


@pytest.mark.parametrize("args,message", [
    (("--platform", "tpu", "--arch", "shufflenet_v2_x0_5"),
     "error: unknown platform 'tpu' (known: cpu, cpu-torch, gpu, arm, gpu-1080ti)"),
    (("--platform", "arm", "--arch", "shufflenet_v2_x0_5"), "error: platform arm cannot be measured here"),
    (("--platform", "cpu"), "error: nothing to measure"),
    (("--platform", "cpu-torch", "--arch", "no_such_net"), "error: unknown network 'no_such_net'"),
    (("--platform", "cpu-torch", "--arch", "shufflenet_v2_x0_5", "--no-networks"), "error: --no-networks needs"),
    (("--platform", "cpu-torch", "--arch", "shufflenet_v2_x0_5", "-o", "t.xlsx"), "error: t.xlsx: unknown timings"),
])
def test_bad_input_is_one_line(capsys, args, message):
    code, out, err = run(capsys, "measure", *args)
    assert code == 2
    assert err.startswith(message) and len(err.strip().splitlines()) == 1
    assert out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_gpu_without_cuda_is_one_line(capsys):
    code, _, err = run(capsys, "measure", "--platform", "gpu", "--arch", "shufflenet_v2_x0_5")
    assert code == 2 and err.startswith("error: platform gpu cannot be measured here:")
    assert len(err.strip().splitlines()) == 1


def test_failure_mid_run_keeps_earlier_rows(capsys, in_tmp, monkeypatch):
    from latency_models.backends import MeasurementError

    real, calls = TorchCPUBackend.prepare, []

    def failing(self, target, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise MeasurementError("net2: unsupported operator")
        return real(self, target, *a, **k)
    monkeypatch.setattr(TorchCPUBackend, "prepare", failing)
    code, _, err = run(capsys, "measure", "-p", "cpu-torch", "-a", "shufflenet_v2_x0_5", "-a", "shufflenet_v2_x1_0",
                       "-o", "t.csv", *FAST)
    assert code == 2
    assert "net2: unsupported operator (1 measurement(s) before it kept in t.csv)" in err
    assert len(load_timings(in_tmp / "t.csv")) == 1


@pytest.mark.skipif(shutil.which("nas") is None, reason="console script not installed")
def test_console_script_bad_platform():
    out = subprocess.run(["nas", "measure", "--platform", "nope", "--arch", "shufflenet_v2_x0_5"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == "error: unknown platform 'nope' (known: cpu, cpu-torch, gpu, arm, gpu-1080ti)"


def test_failure_before_any_row_leaves_no_file(capsys, in_tmp, monkeypatch):
    from latency_models.backends import MeasurementError

    def failing(self, target, *a, **k):
        raise MeasurementError("net1: unsupported operator")
    monkeypatch.setattr(TorchCPUBackend, "prepare", failing)
    code, _, err = run(capsys, "measure", "-p", "cpu-torch", "-a", "shufflenet_v2_x0_5", "-o", "t.csv", *FAST)
    assert code == 2 and err.strip() == "error: net1: unsupported operator"
    assert list(in_tmp.iterdir()) == []
