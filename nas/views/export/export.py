"""Export a found network in its inference form as ONNX, TorchScript or a PyTorch state dict, checked on the way.

Output layout, chosen by the path (SUFFIXES: onnx .onnx, torchscript .ts, pytorch .pt; case-insensitive):

    PATH (a folder: any path not ending in a format's suffix, or ending in a path separator)
    PATH/model.onnx | model.ts | model.pt   the network (inference form; ONNX with a free batch dimension)
    PATH/spec.json                          ArchSpec JSON of exactly that network (`nas arch show PATH/spec.json`)
    PATH/metadata.json                      source, latency, accuracy, preprocessing, cost, checks, versions

    DIR/NAME.onnx (a path ending in the format's own suffix: the model file itself, the others beside it)
    DIR/NAME.onnx | NAME.ts | NAME.pt       the network
    DIR/NAME.spec.json                      its ArchSpec JSON
    DIR/NAME.metadata.json                  its metadata

A path ending in another format's suffix (`--format onnx --out m.pt`) is refused. Everything is written into a
temporary sibling folder and renamed into place only after the checks pass (the folder as a whole; the three files
one by one, the model file last), so a refused or interrupted export leaves nothing half-written, and it never
replaces an existing non-empty folder or existing files unless `force`. An existing folder is never replaced by a
file, nor a file by a folder.

Without trained weights the network carries its seeded initial weights (metadata: "untrained"). With weights from
`nas train` it is the trained network: the searched body at the training input (the proxy input unless trained
with --resolution equal to the deployment input); metadata then gives the searched network's latency and, when the
platform has a profile, the exported network's predicted latency.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from search_space.build import build_model
from search_space.modules import to_inference
from search_space.spec import ArchSpec, NetSpec

from nas.evaluators.proxy_net import build_proxy_model
from nas.views.export.check import CheckResult, compare
from nas.views.export.errors import ExportError
from nas.views.export.load import (FORMATS, METADATA_FILE, MODEL_FILES, SPEC_FILE, SUFFIXES, beside, format_of_suffix,
                                   load_exported, save_state_dict)
from nas.views.export.metadata import build_metadata
from nas.views.train.checkpoint import TrainedWeights, save_json
from nas.views.source import LatencyRecord, Source, profile_latency


TRACE_BATCH = 2  # torch.export specialises a dimension of size 1; tracing at 2 keeps the batch free
RUNTIMES = {"onnx": "ONNX Runtime", "torchscript": "TorchScript (torch.jit.load)",
            "pytorch": "state dict (nas.views.export.load_exported)"}


@dataclass(frozen=True)
class Target:
    """Where an export goes: `out` (absolute) is the folder ("folder" layout) or the model file ("file" layout)."""

    out: Path
    layout: str
    model: Path
    spec: Path
    metadata: Path

    @property
    def files(self) -> tuple[Path, Path, Path]:
        return self.model, self.spec, self.metadata


def target_of(out: str | Path, fmt: str) -> Target:
    """The layout of `out` for format `fmt`: a path ending in SUFFIXES[fmt] is the model file, a path ending in another
    format's suffix is refused (ExportError), any other path (or one ending in a separator) is a folder."""
    folder = isinstance(out, str) and out.endswith(("/", os.sep))
    path = Path(out).expanduser().absolute()
    named = None if folder else format_of_suffix(path)
    if named is None:
        return Target(path, "folder", path / MODEL_FILES[fmt], path / SPEC_FILE, path / METADATA_FILE)
    if named != fmt:
        raise ExportError(f"--out {out} ends in {path.suffix}, the suffix of {named} exports; {fmt} export files "
                          f"end in {SUFFIXES[fmt]} (or give a folder path)")
    spec, meta = beside(path)
    return Target(path, "file", path, spec, meta)


@dataclass(frozen=True)
class ExportResult:
    """A written export: where it went (`out`: the folder, or the model file itself), its three files, the metadata
    written and the checks that passed."""

    out: Path
    layout: str
    model_path: Path
    spec_path: Path
    metadata_path: Path
    metadata: dict[str, Any]
    checks: tuple[CheckResult, ...]

    @property
    def out_dir(self) -> Path:
        """The folder holding the three files."""
        return self.model_path.parent


def network_of(source: Source, weights: TrainedWeights | None, seed: int = 0) -> nn.Module:
    """The inference-form module to export: the trained network of `weights`, else `source.spec` seeded."""
    if weights is None:
        return build_model(source.spec, form="inference", seed=seed)
    if weights.setup.source.spec.arch_id != source.spec.arch_id:
        raise ExportError(f"weights {weights.path} were trained for architecture {weights.setup.source.spec.arch_id}, "
                          f"not {source.spec.arch_id} ({source.origin.describe()})")
    if not isinstance(weights.spec, ArchSpec):
        raise ExportError(f"weights {weights.path} are a {weights.spec.family} network trained as its proxy (stem "
                          f"adapted to {weights.task.resolution} px), which a spec file cannot describe; export the "
                          f"deployment network with --arch {weights.setup.source.spec.label()}")
    model = build_proxy_model(weights.setup.source.spec, weights.task, seed=0, channels_last=False)  # as trained
    if model.spec.arch_id != weights.spec.arch_id:
        raise ExportError(f"weights {weights.path} hold network {weights.spec.arch_id}, not the proxy network "
                          f"{model.spec.arch_id} of {weights.setup.source.spec.label()}")
    try:
        model.load_state_dict(weights.state_dict, strict=True)
    except RuntimeError as exc:
        raise ExportError(f"weights {weights.path} do not fit their network ({str(exc).splitlines()[0]})") from None
    return to_inference(model.eval())


def _write_model(model: nn.Module, fmt: str, path: Path, exporter: str) -> dict[str, Any]:
    """Write the model file; returns format details for the metadata (ONNX opset and exporter)."""
    spec: NetSpec = model.spec
    x = torch.randn(TRACE_BATCH, spec.in_channels, spec.resolution, spec.resolution,
                    generator=torch.Generator().manual_seed(0))
    if fmt == "onnx":
        from latency_models.backends.onnx_export import OPSET
        from latency_models.backends.onnx_export import ExportError as OnnxExportError
        from latency_models.backends.onnx_export import export_onnx

        try:
            used = export_onnx(model, x, path, exporter=exporter, dynamic_batch=True)
        except OnnxExportError as exc:
            raise ExportError(f"ONNX export failed: {exc}") from None
        return {"onnx_opset": OPSET, "onnx_exporter": used, "dynamic_batch": True}
    if fmt == "torchscript":
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(model.eval(), x, check_trace=False)
        except Exception as exc:  # noqa: BLE001 - an op TorchScript cannot trace
            raise ExportError(f"TorchScript export failed: {type(exc).__name__}: {str(exc).strip()[:200]}") from None
        traced.save(str(path))
        return {"torchscript": "torch.jit.trace at batch 2 (the batch dimension stays free)"}
    save_state_dict(model, path)
    return {"state_dict": "spec JSON + inference-form state dict; load with nas.views.export.load_exported"}


def _check(model: nn.Module, fmt: str, path: Path) -> CheckResult:
    spec: NetSpec = model.spec
    loaded = load_exported(path, threads=torch.get_num_threads())
    result = compare(model, loaded, (spec.in_channels, spec.resolution, spec.resolution), RUNTIMES[fmt])
    if fmt == "onnx" and result.passed and not isinstance(loaded.input_shape[0], str):  # type: ignore[union-attr]
        return CheckResult(result.runtime, result.batches, result.max_abs_diff, result.output_scale,
                           result.abs_tolerance, result.rel_tolerance, False, "the ONNX batch dimension is fixed")
    return result


def _staging_dir(out: Path) -> Path:
    """A new empty sibling folder of `out` to write into; ExportError when the place is not writable."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        return tmp
    except OSError as exc:
        raise ExportError(f"cannot write to --out {out}: {exc.strerror or exc}") from None


def _check_target(target: Target, fmt: str, force: bool) -> None:
    out = target.out
    if target.layout == "folder":
        if out.exists() and not out.is_dir():
            raise ExportError(f"--out {out} is a file; give a folder path, or a model file path ending in "
                              f"{SUFFIXES[fmt]}")
        if out.is_dir() and any(out.iterdir()) and not force:
            raise ExportError(f"--out {out} exists and is not empty; pass --force to replace it or choose another "
                              f"path")
        return
    for path in target.files:
        if path.is_dir():
            raise ExportError(f"--out {out}: {path} is a folder (a path ending in {SUFFIXES[fmt]} names the model file "
                              f"itself); remove it or choose another path")
    present = [p.name for p in target.files if p.exists() or p.is_symlink()]
    if present and not force:
        raise ExportError(f"--out {out}: {', '.join(present)} already {'exists' if len(present) == 1 else 'exist'}; "
                          f"pass --force to replace the export or choose another path")


def _move_into_place(tmp: Path, target: Target) -> None:
    """Rename the staged export into place: the folder in one rename, or the three files (each in one rename,
    replacing an existing one; the model file last)."""
    if target.layout == "file":
        for path in (target.spec, target.metadata, target.model):
            os.replace(tmp / path.name, path)
        return
    out = target.out
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def exported_latency(source: Source, spec: NetSpec) -> LatencyRecord | None:
    """Predicted latency of the exported network on the source's platform when it is not the searched network."""
    if source.latency is None or spec.arch_id == source.spec.arch_id:
        return source.latency
    try:
        return profile_latency(spec, source.latency.platform, source.latency.predictor)
    except Exception:  # noqa: BLE001 - a platform unknown on this machine, a predictor not in the profile
        return None


def export_network(source: Source, fmt: str, out: str | Path, weights: TrainedWeights | None = None, seed: int = 0,
                   force: bool = False, exporter: str = "auto") -> ExportResult:
    """Export `source`'s network (trained with `weights` when given) as `fmt` to `out`: a folder, or the model file
    itself when `out` ends in the format's suffix (layouts above).

    The model file is loaded back (ONNX in ONNX Runtime, TorchScript with torch.jit.load, the state dict with
    load_exported) and compared with PyTorch at batch 1 and 3; ExportError (nothing written) when that fails.
    """
    if fmt not in FORMATS:
        raise ExportError(f"--format: unknown {fmt!r} (known: {', '.join(FORMATS)})")
    target = target_of(out, fmt)
    out = target.out
    _check_target(target, fmt, force)
    model = network_of(source, weights, seed)
    spec: NetSpec = model.spec
    tmp = _staging_dir(out)
    try:
        model_path = tmp / target.model.name
        details = _write_model(model, fmt, model_path, exporter)
        check = _check(model, fmt, model_path)
        if not check.passed:
            raise ExportError(f"export refused: {check.describe()}; nothing written")
        (tmp / target.spec.name).write_text(spec.to_json(indent=2) + "\n")
        meta = build_metadata(source=source, spec=spec, fmt=fmt, model_file=target.model.name, weights=weights,
                              seed=seed, checks=[check], exported_latency=exported_latency(source, spec),
                              extra_model=details, spec_file=target.spec.name, metadata_file=target.metadata.name)

        save_json(meta, tmp / target.metadata.name)
        _move_into_place(tmp, target)
    except OSError as exc:
        raise ExportError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(out, target.layout, target.model, target.spec, target.metadata, meta, (check,))
