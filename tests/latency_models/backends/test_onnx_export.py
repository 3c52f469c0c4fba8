"""ONNX export + ONNX Runtime: same outputs as the PyTorch inference form for every unit choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latency_models.backends import MeasurementError, get_backend
from latency_models.backends import onnxruntime_cpu
from latency_models.backends.onnx_export import ExportError, export_onnx
from latency_models.platform import builtin_platforms
from search_space.build import build_model
from search_space.modules import to_inference
from search_space.references import NETWORKS, reference_spec
from search_space.spec import TABLE8_EXTRA_FAMILIES
from tests.latency_models.conftest import TINY_RES, small_variant_specs

pytest.importorskip("onnxruntime")
PLAT = builtin_platforms()["cpu"].with_(warmup=1, repeats=3)
VARIANTS = small_variant_specs()


def torch_output(spec, x):
    model = build_model(spec, form="inference", seed=0)
    with torch.inference_mode():
        return model(x.contiguous(memory_format=torch.channels_last)).numpy()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_onnxruntime_output_equals_pytorch(variant):
    spec = VARIANTS[variant]
    backend = get_backend("onnxruntime")
    with backend.prepare(spec, (1, 3, TINY_RES, TINY_RES), PLAT) as prepared:
        assert prepared.info["exporter"] == "torchscript"
        out = prepared.output()
    from latency_models.backends.base import example_input
    ref = torch_output(spec, example_input((1, 3, TINY_RES, TINY_RES)))
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-4


def test_reference_network_output_equals_pytorch():
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(64)
    from latency_models.backends.base import example_input
    with get_backend("onnxruntime").prepare(spec, (1, 3, 64, 64), PLAT) as prepared:
        out = prepared.output()
    assert np.abs(out - torch_output(spec, example_input((1, 3, 64, 64)))).max() <= 1e-4


#: The rest of Table 8 (issue 14): dense concatenation, unfoldable pre-activation BN, group convs with
#: permutations and index layers, cells with separable convs and pooling branches, all through ONNX Runtime.
TABLE8_EXTRA = [n for n, r in NETWORKS.items() if r.family in TABLE8_EXTRA_FAMILIES]


def _calibrated_inference(spec, res: int) -> torch.nn.Module:
    """The inference form after BN statistics from data and random BN affine: logits of order 1, not ~0."""
    model = build_model(spec, seed=0)
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, res, res, generator=gen))
    return to_inference(model.eval())


@pytest.fixture
def one_thread():
    """Tiny networks run fastest single-threaded (OpenMP spin-up dominates otherwise); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", TABLE8_EXTRA)
def test_table8_network_onnxruntime_output_equals_pytorch(name, one_thread):
    from latency_models.backends.base import example_input

    res = 56  # 28, 14, 7, 4, 2: an odd map on the way down
    spec = reference_spec(name).with_resolution(res)
    model = _calibrated_inference(spec, res)
    with get_backend("onnxruntime").prepare(model, (1, 3, res, res), PLAT, name) as prepared:
        out = prepared.output()
    with torch.inference_mode():
        ref = model(example_input((1, 3, res, res))).numpy()
    scale = np.abs(ref).max()
    assert out.shape == ref.shape == (1, 1000) and scale > 1e-2
    assert np.abs(out - ref).max() <= 1e-4 * max(1.0, scale)


@pytest.mark.slow
def test_dynamo_exporter_gives_the_same_outputs(tmp_path):
    pytest.importorskip("onnxscript")
    import onnxruntime as ort

    spec = VARIANTS["split_0_25_se_residual"]
    model = build_model(spec, form="inference", seed=0)
    x = torch.randn(1, 3, TINY_RES, TINY_RES).contiguous(memory_format=torch.channels_last)
    path = tmp_path / "m.onnx"
    assert export_onnx(model, x, path, exporter="dynamo") == "dynamo"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():
        assert np.abs(out - model(x).numpy()).max() <= 1e-4


def test_export_is_quiet_on_stdout(capsys, tmp_path):
    model = build_model(VARIANTS["v2"], form="inference", seed=0)
    export_onnx(model, torch.randn(1, 3, TINY_RES, TINY_RES), tmp_path / "m.onnx")
    assert capsys.readouterr().out == ""


def test_unknown_exporter():
    with pytest.raises(ValueError, match="known"):
        export_onnx(torch.nn.Identity(), torch.zeros(1), "x.onnx", exporter="tflite")


def test_time_an_onnx_file(tmp_path):
    spec = VARIANTS["v2"]
    path = tmp_path / "net.onnx"
    export_onnx(build_model(spec, form="inference", seed=0), torch.randn(1, 3, TINY_RES, TINY_RES), path)
    backend = get_backend("onnxruntime")
    with backend.prepare(path, (1, 3, TINY_RES, TINY_RES), PLAT) as prepared:
        assert prepared.label == "net.onnx" and prepared.info["exporter"] == "file"
        assert backend.time(prepared, 1, 3).latency_ms > 0


def test_export_failure_names_the_network(monkeypatch, tiny_spec):
    def fail(*a, **k):
        raise ExportError("torchscript exporter: boom; dynamo exporter: boom")
    monkeypatch.setattr(onnxruntime_cpu, "export_onnx", fail)
    with pytest.raises(MeasurementError, match="shufflenet_v2_x0_5: ONNX export failed: .*boom"):
        get_backend("onnxruntime").prepare(tiny_spec, (1, 3, TINY_RES, TINY_RES), PLAT)


def test_all_exporters_failing_raises_export_error(tmp_path):
    class Unexportable(torch.nn.Module):
        def forward(self, x):
            if torch.jit.is_tracing() or torch.compiler.is_compiling():
                raise RuntimeError("no tracing here")
            return x
    with pytest.raises(ExportError, match="torchscript exporter: RuntimeError: no tracing here"):
        export_onnx(Unexportable(), torch.zeros(1, 2), tmp_path / "x.onnx", exporter="torchscript")


def test_operator_onnxruntime_lacks_is_a_clear_error(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("NoSuchOperator", ["input"], ["output"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "odd.onnx"
    onnx.save(model, str(path))
    with pytest.raises(MeasurementError, match="odd.onnx: ONNX Runtime cannot load the network"):
        get_backend("onnxruntime").prepare(path, (1, 3, 8, 8), PLAT)


def test_missing_onnxruntime_is_explained(monkeypatch, tiny_spec):
    import builtins

    real_import = builtins.__import__

    def no_ort(name, *a, **k):
        if name == "onnxruntime" or name.startswith("onnxruntime."):
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_ort)
    backend = get_backend("onnxruntime")
    ok, why = backend.available()
    assert not ok and "pip install onnxruntime" in why
    with pytest.raises(MeasurementError, match="pip install onnxruntime"):
        backend.prepare(tiny_spec, (1, 3, TINY_RES, TINY_RES), PLAT)


def test_temporary_onnx_files_are_removed(monkeypatch, tmp_path, tiny_spec):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with get_backend("onnxruntime").prepare(tiny_spec, (1, 3, TINY_RES, TINY_RES), PLAT):
        pass
    assert list(Path(tmp_path).iterdir()) == []
