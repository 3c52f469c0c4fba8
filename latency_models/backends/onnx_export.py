"""Export a torch module to an ONNX file for ONNX Runtime (fixed input shape or a free batch dimension, opset 17).

Exporter choice ("auto"): the TorchScript-based exporter (`dynamo=False`) first, the torch.export-based one
(`dynamo=True`, needs onnxscript) if that fails or is gone. Both export every network of the search space
(ShuffleNet v2 incl. SE, residual, v2*, Xception-like units, split ratios 1/4..3/4) with outputs equal to
PyTorch's, and ONNX Runtime's optimised graphs of the two are the same (same latency); the TorchScript
exporter is ~5-10x faster to export (0.3 s vs 2-4 s for ShuffleNet v2 1x), needs no onnxscript on the target
device, and also exists in older PyTorch releases (>= 2.2), which matters when measuring hundreds of networks
on a Raspberry Pi or a phone.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

EXPORTERS = ("auto", "torchscript", "dynamo")
OPSET = 17


class ExportError(RuntimeError):
    """Every exporter tried failed; the message lists why."""


#: ONNX axes of a batch dimension left free (`dynamic_batch=True`): dim 0 of input and output is named "batch".
BATCH_AXES = {"input": {0: "batch"}, "output": {0: "batch"}}


def _torchscript(model: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool = False) -> None:
    kwargs = dict(input_names=["input"], output_names=["output"], opset_version=OPSET, do_constant_folding=True,
                  dynamic_axes=BATCH_AXES if dynamic_batch else None)
    try:
        torch.onnx.export(model, (x,), str(path), dynamo=False, **kwargs)
    except TypeError as exc:  # PyTorch < 2.5: no `dynamo` argument, the TorchScript exporter is the default
        if "dynamo" not in str(exc):
            raise
        torch.onnx.export(model, (x,), str(path), **kwargs)


def _dynamo(model: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool = False) -> None:
    torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["input"], output_names=["output"],
                      external_data=False, verbose=False, dynamic_axes=BATCH_AXES if dynamic_batch else None)


_FUNCS = {"torchscript": _torchscript, "dynamo": _dynamo}


@contextlib.contextmanager
def _quiet():
    """Exporters print progress and deprecation notes; keep stdout clean (it may carry `--json` output)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def export_onnx(model: nn.Module, x: torch.Tensor, path: str | Path, exporter: str = "auto",
                dynamic_batch: bool = False) -> str:
    """Write `model` traced at input `x` to `path`; returns the exporter used ("torchscript" | "dynamo").

    `dynamic_batch` leaves dim 0 of input and output free ("batch"); trace with a batch of 2 or more then, since
    torch.export specialises a dimension of size 1.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r} (known: {', '.join(EXPORTERS)})")
    order = ("torchscript", "dynamo") if exporter == "auto" else (exporter,)
    path = Path(path)
    errors = []
    model = model.eval()
    for name in order:
        try:
            with _quiet(), torch.no_grad():
                _FUNCS[name](model, x, path, dynamic_batch)
            return name
        except Exception as exc:  # noqa: BLE001 - try the next exporter, report all if none works
            errors.append(f"{name} exporter: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    raise ExportError("; ".join(errors))
