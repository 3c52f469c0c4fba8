"""ONNX Runtime on the CPU: export to ONNX, one InferenceSession (threads = platform.threads, sequential)."""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from latency_models.backends.base import (MIN_WARMUP_S, RUN_NODE, Backend, MeasurementError, NodeTiming, Prepared,
                                          Target, check_dtype, example_input, perf_counter_samples, register_backend,
                                          target_label, torch_module)
from latency_models.stats import summarize
from latency_models.backends.onnx_export import ExportError, export_onnx
from latency_models.pinning import pinned
from latency_models.platform import Platform

INSTALL_HINT = "pip install onnxruntime"


def import_onnxruntime() -> Any:
    """The onnxruntime module, or MeasurementError saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise MeasurementError(f"ONNX Runtime is not installed ({INSTALL_HINT}); or measure with PyTorch: "
                               "--platform cpu-torch") from None
    return onnxruntime


def session_options(ort: Any, threads: int) -> Any:
    """intra-op threads = `threads`, inter-op 1, all graph optimisations, sequential execution."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3  # errors only
    return so


@register_backend
class OnnxRuntimeCPUBackend(Backend):
    """Exports the inference-form module (or takes an .onnx file) and times `session.run` on the CPU."""

    name = "onnxruntime"

    def __init__(self, exporter: str = "auto"):
        self.exporter = exporter

    def available(self) -> tuple[bool, str]:
        try:
            import_onnxruntime()
        except MeasurementError as exc:
            return False, str(exc)
        return True, ""

    def prepare(self, target: Target, input_shape: tuple[int, ...], platform: Platform, label: str = "") -> Prepared:
        check_dtype(platform, "ONNX Runtime CPU")
        ort = import_onnxruntime()
        label = target_label(target, label)
        x = example_input(input_shape)
        exporter = "file"
        with tempfile.TemporaryDirectory(prefix="nas-measure-") as tmp:
            if isinstance(target, Path):
                onnx_path = target
            else:
                onnx_path = Path(tmp) / "model.onnx"
                model = torch_module(target)
                try:
                    with torch.inference_mode():
                        model(x)  # a network that does not run in PyTorch is not worth exporting
                except Exception as exc:  # noqa: BLE001
                    raise MeasurementError(f"{label}: cannot run at input {tuple(input_shape)}: "
                                           f"{_first_line(exc)}") from None
                try:
                    exporter = export_onnx(model, x, onnx_path, self.exporter)
                except ExportError as exc:
                    raise MeasurementError(f"{label}: ONNX export failed: {exc}") from None
            model_bytes = onnx_path.read_bytes()  # kept: a profiling session of the same graph may follow
            try:
                sess = ort.InferenceSession(model_bytes, session_options(ort, platform.threads),
                                            providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - e.g. an operator ONNX Runtime does not implement
                raise MeasurementError(f"{label}: ONNX Runtime cannot load the network: {_first_line(exc)}") from None
        inputs = sess.get_inputs()
        if len(inputs) != 1:
            raise MeasurementError(f"{label}: expected one network input, the ONNX file has {len(inputs)}")
        feed = {inputs[0].name: np.ascontiguousarray(x.numpy())}
        state: dict[str, Any] = {"sess": sess, "feed": feed, "model": model_bytes}
        try:
            sess.run(None, feed)
        except Exception as exc:  # noqa: BLE001
            raise MeasurementError(f"{label}: ONNX Runtime cannot run the network at input {tuple(input_shape)}: "
                                   f"{_first_line(exc)}") from None

        def run() -> Any:
            return state["sess"].run(None, state["feed"])

        def output() -> np.ndarray:
            return run()[0]

        return Prepared(label, input_shape, platform, run, output, cleanup=[state.clear], runtime="onnxruntime",
                        exporter=exporter, state=state)

    @contextmanager
    def context(self, prepared: Prepared) -> Iterator[None]:
        with pinned(prepared.platform.threads):
            yield

    def sample(self, prepared: Prepared, runs: int) -> list[float]:
        return perf_counter_samples(prepared.run, runs)

    def profile_nodes(self, prepared: Prepared, runs: int, warmup_s: float = MIN_WARMUP_S) -> list[NodeTiming]:
        """Per-node times from ONNX Runtime's profiler: a second session of the same graph with profiling on, warmed
        up for `warmup_s`, then `runs` forward passes; each node's statistics over those runs (the profiler's own
        per-node record, so the graph optimiser's fusions and layout changes are what is timed)."""
        ort = import_onnxruntime()
        state = prepared.info["state"]
        with tempfile.TemporaryDirectory(prefix="nas-profile-") as tmp:
            so = session_options(ort, prepared.platform.threads)
            so.enable_profiling = True
            so.profile_file_prefix = str(Path(tmp) / "ort")
            sess = ort.InferenceSession(state["model"], so, providers=["CPUExecutionProvider"])
            feed = state["feed"]
            with self.context(prepared):
                t0 = time.perf_counter()
                warm = 0
                while warm < 2 or time.perf_counter() - t0 < warmup_s:
                    sess.run(None, feed)
                    warm += 1
                for _ in range(runs):
                    sess.run(None, feed)
            events = json.loads(Path(sess.end_profiling()).read_text())
        return node_timings(events, runs)


def node_timings(events: list[dict[str, Any]], runs: int) -> list[NodeTiming]:
    """The last `runs` executions of every node in an ONNX Runtime profile (its JSON trace events), in the order
    the nodes first ran; the whole forward passes of the profiled session as a node named RUN_NODE."""
    durations: dict[str, list[float]] = {}
    first: dict[str, dict[str, Any]] = {}
    for e in events:
        name = str(e.get("name", ""))
        if e.get("cat") == "Session" and name == "model_run":  # one whole forward pass: the node RUN_NODE
            first.setdefault(RUN_NODE, {"args": {"op_name": RUN_NODE}})
            durations.setdefault(RUN_NODE, []).append(max(float(e.get("dur", 0.0)), 0.5) / 1e3)
            continue
        if e.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        node = name[:-len("_kernel_time")]
        first.setdefault(node, e)
        durations.setdefault(node, []).append(max(float(e.get("dur", 0.0)), 0.5) / 1e3)  # us -> ms (>= 0.5 us)
    out = []
    for node, e in first.items():
        args = e.get("args", {})
        out.append(NodeTiming(node, str(args.get("op_name", "")), _shapes(args.get("input_type_shape")),
                              _shapes(args.get("output_type_shape")), summarize(durations[node][-runs:])))
    return out


def _shapes(entries: Any) -> tuple[tuple[int, ...], ...]:
    """[{'float': [1, 24, 56, 56]}, ...] -> ((1, 24, 56, 56), ...)."""
    out = []
    for entry in entries or ():
        for dims in (entry.values() if isinstance(entry, dict) else ()):
            out.append(tuple(int(d) for d in dims))
    return tuple(out)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
