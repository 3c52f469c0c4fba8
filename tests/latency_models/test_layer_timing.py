"""Layers timed inside their network: ONNX Runtime's per-node profile, its matching to the cost model's layers, paired
timing beside the drift reference, layer rows in timings files and in training sets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from latency_models.backends import NodeTiming, get_backend
from latency_models.backends.base import RUN_NODE
from latency_models.backends.onnxruntime_cpu import node_timings
from latency_models.dataset import drift_factors, training_set
from latency_models.layer_timing import match_layers
from latency_models.matrix import matrix_layers
from latency_models.measure import measure_networks
from latency_models.platform import builtin_platforms
from latency_models.stats import summarize
from latency_models.timings import (TimingsMeta, TimingsWriter, layer_row, load_timings, meta_path, network_row,
                                    rows_frame)
from search_space.plan import plan
from search_space.references import reference_spec
from tests.latency_models.conftest import TINY_RES

ORT = builtin_platforms()["cpu"].with_(warmup=1, repeats=3)


def timing(ms: float) -> object:
    return summarize([ms, ms * 1.01, ms * 0.99])


def test_the_profilers_events_become_node_timings():
    def ev(name: str, dur: float, op: str = "Conv") -> dict:
        return {"cat": "Node", "name": f"{name}_kernel_time", "dur": dur,
                "args": {"op_name": op, "input_type_shape": [{"float": [1, 8, 4, 4]}, {"float": [16, 8, 1, 1]}],
                         "output_type_shape": [{"float": [1, 16, 4, 4]}]}}
    events = [{"cat": "Session", "name": "model_run", "dur": 99}]
    events += [ev("/0/conv/Conv", d) for d in (900.0, 10.0, 12.0, 11.0)] + [ev("/1/Relu", 2.0, "Relu")]
    nodes = node_timings(events, runs=3)
    assert [n.name for n in nodes] == [RUN_NODE, "/0/conv/Conv", "/1/Relu"]  # whole passes, then the nodes
    assert nodes[0].timing.latency_ms == pytest.approx(0.099)
    conv = nodes[1]
    assert conv.op == "Conv" and conv.inputs == ((1, 8, 4, 4), (16, 8, 1, 1)) and conv.outputs == ((1, 16, 4, 4),)
    assert conv.timing.samples == 3 and conv.timing.latency_ms == pytest.approx(0.011)  # the warm-up run is left out


def test_nodes_padded_by_the_runtime_are_matched_to_their_layers():
    spec = reference_spec("shufflenet_v2_x1_0").with_resolution(64)  # 58-channel branches: NCHWc pads them to 64
    layers = matrix_layers(spec)
    nodes = []
    for i, layer in enumerate(layers):
        block = next(j for j, b in enumerate(plan(spec)) if b.name == layer.block)
        pad = (lambda c: c + (-c % 16))
        if layer.kind == "fc" and layer.h_in == 1 and layer.block.startswith("head"):
            nodes.append(NodeTiming(f"/{block}/fc/Gemm", "Gemm", ((1, layer.cin),), ((1, layer.cout),), timing(0.1)))
            continue
        w = (pad(layer.cout), 1 if layer.kind == "dwconv" else layer.cin // layer.groups, layer.kernel, layer.kernel)
        nodes.append(NodeTiming(f"/{block}/x{i}/Conv", "FusedConv", ((1, pad(layer.cin), layer.h_in, layer.w_in), w),
                                ((1, pad(layer.cout), layer.h_out, layer.w_out),), timing(0.1 + i)))
    nodes.append(NodeTiming("/3/Transpose", "Transpose", ((1, 58, 8, 8),), ((1, 8, 8, 58),), timing(0.01)))
    pairs = match_layers(spec, list(reversed(nodes)))  # order within the network does not matter
    assert len(pairs) == len(layers)
    assert {layer.name for layer, _ in pairs} == {layer.name for layer in layers}
    assert all(node.op in ("FusedConv", "Gemm") for _, node in pairs)


@pytest.fixture(scope="module")
def profiled():
    """ShuffleNet v2 0.5x at 32 px through ONNX Runtime's profiler."""
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(TINY_RES)
    backend = get_backend("onnxruntime")
    with backend.prepare(spec, (1, 3, TINY_RES, TINY_RES), ORT) as prepared:
        return spec, backend.profile_nodes(prepared, runs=3, warmup_s=0.0)


def test_onnx_runtime_times_every_matrix_layer_inside_the_network(profiled):
    spec, nodes = profiled
    pairs = match_layers(spec, nodes)
    assert len(pairs) == len(matrix_layers(spec))
    assert all(n.timing.samples == 3 and n.timing.latency_ms > 0 for _, n in pairs)


def test_torch_has_no_per_node_profiler(tiny_spec):
    from latency_models.backends import MeasurementError

    plat = builtin_platforms()["cpu-torch"]
    backend = get_backend("torch")
    with backend.prepare(tiny_spec, (1, 3, TINY_RES, TINY_RES), plat) as prepared:
        with pytest.raises(MeasurementError, match="cannot time the layers"):
            backend.profile_nodes(prepared, 3)


def test_paired_timing_with_layers_writes_rows_a_fit_can_use(tmp_path, tiny_spec):
    specs = [tiny_spec, reference_spec("shufflenet_v2_x1_0").with_resolution(TINY_RES)]
    path = tmp_path / "t.csv"
    with TimingsWriter(path, TimingsMeta.collect(ORT, drift_ref="shufflenet_v2_x1_0")) as w:
        rows = measure_networks(specs, ORT, reference=reference_spec("shufflenet_v2_x1_0").with_resolution(TINY_RES),
                                paired=True, layer_runs=3, on_row=w.write)
    kinds = pd.Series([r.kind for r in rows]).value_counts().to_dict()
    refs = [r for r in rows if r.role == "drift_ref"]
    nets = [r for r in rows if r.kind == "network" and r.role != "drift_ref"]
    assert len(refs) == len(nets) == 2 and kinds["layer"] == sum(len(matrix_layers(s)) for s in specs)
    for net, ref in zip(nets, refs):  # each network row carries the reference timed beside it
        assert net.ref_ms == ref.latency_ms == ref.ref_ms and net.ratio_to_ref == net.min_ms / ref.min_ms
        layers = [r for r in rows if r.kind == "layer" and r.arch_id == net.arch_id]
        assert 0.1 * net.latency_ms < sum(r.latency_ms for r in layers) < net.latency_ms  # on its timing
    t = load_timings(path)
    data = training_set([t])
    assert len(data.specs) == 2 and len(data.layers) == kinds["layer"]
    assert {a for a, *_ in data.layers} == {s.arch_id for s in specs}


def test_drift_factors_use_the_paired_reference_timing():
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(TINY_RES)
    t = timing(1.0)
    slow, fast = timing(4.0), timing(2.0)
    rows = [network_row(spec, fast, 1, role="drift_ref", ref=fast),
            network_row(spec, t, 1, ref=fast),
            network_row(spec, slow, 1, role="drift_ref", round=2, ref=slow),
            network_row(spec, t, 1, round=2, ref=slow),
            layer_row(spec, matrix_layers(spec)[0], t, 1, round=2, ref_ms=4.0)]
    assert rows[1].ratio_to_ref == pytest.approx(0.5) and rows[1].ref_ms == 2.0  # fastest runs, and the median
    frame = rows_frame(rows)
    f = drift_factors(frame)  # on the reference's median speed (3 ms): the network at 0.5 x 3 ms, then 0.25 x 3 ms
    assert f[1] == pytest.approx(1.0 / 1.5) and f[3] == pytest.approx(1.0 / 0.75) and f[4] == f[3]
    assert drift_factors(frame, speed_ms=2.0)[3] == pytest.approx(2.0)


def test_files_without_ref_ms_still_load(tmp_path):
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(TINY_RES)
    path = tmp_path / "old.csv"
    rows_frame([network_row(spec, timing(1.0), 1)]).drop(columns=["ref_ms", "ratio_to_ref"]).to_csv(path,
                                                                                                 index=False)
    meta = TimingsMeta.collect(ORT).to_dict()
    meta["schema_version"] = 1
    meta_path(path).write_text(json.dumps(meta))
    t = load_timings(path)
    assert t.frame["ref_ms"].isna().all() and t.frame["ratio_to_ref"].isna().all() and np.isfinite(training_set([t]).latency_ms).all()
