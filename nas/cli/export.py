"""`nas export (--trial N | --best | --arch NAME|SPEC.json | --weights DIR/final.pt) --format F`: a found network as
ONNX / TorchScript / state dict with its spec and metadata (layouts: nas/views/export/export.py): `--out DIR`
writes DIR/model.onnx, DIR/spec.json, DIR/metadata.json; `--out m.onnx` (the format's own suffix: .onnx, .ts, .pt)
writes m.onnx with m.spec.json and m.metadata.json beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nas.cli.common import console, emit_json, load_net
from search_space.errors import UserError

FORMAT_HELP = "onnx (.onnx, checked in ONNX Runtime), torchscript (.ts) or pytorch (state dict + spec, .pt)."
OUT_HELP = ("Output folder (default ./export-<arch_id>-<format>), or the model file itself when the path ends in the "
            "format's suffix (.onnx, .ts, .pt): m.onnx, with m.spec.json and m.metadata.json beside it.")


def select_source(storage: Optional[str], study: Optional[str], trial: Optional[int], best: bool,
                  arch: Optional[str], resolution: Optional[int] = None, classes: Optional[int] = None,
                  platform: Optional[str] = None) -> Any:
    """The Source chosen by exactly one of --trial, --best and --arch (None when none of them is given)."""
    from nas.views.source import source_from_arch, source_from_study

    chosen = [name for name, on in (("--trial", trial is not None), ("--best", best), ("--arch", arch is not None))
              if on]
    if len(chosen) > 1:
        raise UserError(f"choose the network with one of --trial, --best and --arch, not {' and '.join(chosen)}")
    if arch is None and (resolution is not None or classes is not None):
        raise UserError("--resolution and --classes apply to --arch only (a study's network keeps its own)")
    if arch is not None:
        if storage is not None or study is not None:
            raise UserError("--storage / --study select a study's trial; they do not go with --arch")
        return source_from_arch(load_net(arch, resolution, classes), arch, platform)
    if not chosen:
        if storage is not None or study is not None:
            raise UserError("choose the study's network with --trial N or --best")
        return None
    return source_from_study(storage, study, trial, best)


def export(
    trial: Optional[int] = typer.Option(None, "--trial", help="Trial number of the study to export."),
    best: bool = typer.Option(False, "--best", help="The study's most accurate network within its budget."),
    arch: Optional[str] = typer.Option(None, "--arch", help="A registered network name or a spec JSON file."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Trained weights from `nas train` (DIR/final.pt, "
                                          "a checkpoint, or DIR); alone, the network they were trained for."),
    fmt: str = typer.Option(..., "--format", "-f", help=FORMAT_HELP),
    out: Optional[str] = typer.Option(None, "--out", "-o", help=OUT_HELP),
    storage: Optional[str] = typer.Option(None, "--storage", help="Study storage (default ./nas-studies.db); opened "
                                          "read-only."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the only study in the storage)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out folder, or an existing model file "
                               "(and its spec / metadata files)."),
    platform: Optional[str] = typer.Option(None, "--platform", "-p", help="With --arch: predict the latency with this "
                                           "platform's profile."),
    resolution: Optional[int] = typer.Option(None, "--resolution", "-r", help="With --arch: input size (px)."),
    classes: Optional[int] = typer.Option(None, "--classes", help="With --arch: number of classes."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights (exports without --weights)."),
    onnx_exporter: str = typer.Option("auto", "--onnx-exporter", help="auto, torchscript or dynamo."),
    json_out: bool = typer.Option(False, "--json", help="Print the metadata as one JSON object."),
) -> None:
    """Export a found network (inference form) with its ArchSpec JSON and metadata; the export is checked by
    loading it back (ONNX in ONNX Runtime at batch 1 and 3) and refused if its outputs differ from PyTorch's."""
    from nas.views.export.export import export_network
    from nas.views.export.load import FORMATS
    from nas.views.train.checkpoint import load_weights

    if fmt not in FORMATS:
        raise UserError(f"--format: unknown {fmt!r} (known: {', '.join(FORMATS)})")
    if onnx_exporter not in ("auto", "torchscript", "dynamo"):
        raise UserError(f"--onnx-exporter: unknown {onnx_exporter!r} (known: auto, torchscript, dynamo)")
    source = select_source(storage, study, trial, best, arch, resolution, classes, platform)
    trained = load_weights(weights) if weights is not None else None
    if source is None:
        if trained is None:
            raise UserError("choose the network: --trial N or --best (of a study), --arch NAME|SPEC.json, or "
                            "--weights DIR/final.pt")
        source = trained.setup.source
        if platform is not None and source.latency is None:
            from dataclasses import replace

            from nas.views.source import profile_latency

            source = replace(source, latency=profile_latency(source.spec, platform))
    elif platform is not None and arch is None:
        raise UserError("--platform applies to --arch exports (a study's latency is for its own platform)")
    label = trained.spec.arch_id if trained is not None else source.spec.arch_id
    target = out if out else f"export-{label}-{fmt}"  # a str: a trailing "/" keeps --out m.onnx/ a folder
    result = export_network(source, fmt, target, weights=trained, seed=seed, force=force, exporter=onnx_exporter)
    if json_out:
        emit_json({"out": str(result.out), "layout": result.layout, "model": str(result.model_path),
                   "spec": str(result.spec_path), "metadata_file": str(result.metadata_path),
                   "metadata": result.metadata})
        return
    print_export(result)


def print_export(result: Any) -> None:
    """Where the export went, what it is (weights, latency with its kind, accuracy) and the check that passed."""
    out = console()
    m = result.metadata
    src = m["source"]
    names = ", ".join(Path(p).name for p in (result.spec_path, result.metadata_path))
    if result.layout == "file":
        out.print(f"exported {src['description']} as {m['format']} to {result.model_path} ({names} beside it)")
    else:
        out.print(f"exported {src['description']} as {m['format']} to {result.out_dir}/ "
                  f"({Path(result.model_path).name}, {names})")
    shape = "x".join(str(d) for d in m["model"]["input"]["shape"])
    out.print(f"network {m['model']['arch_id']}: input {shape}, {m['cost']['flops_m']:.1f} MFLOPs, "
              f"{m['cost']['params_m']:.2f} M params; weights {m['weights']['status']}")
    lat = m["latency"]
    out.print(f"latency: {lat['label']} (of {lat['applies_to']})" if lat else "latency: not known (" +
              "; ".join(n for n in m["notes"] if n.startswith("no latency")) + ")")
    if m["latency_exported"] is not None and not src["same_network_as_searched"]:
        out.print(f"         {m['latency_exported']['label']} (of {m['latency_exported']['applies_to']})")
    acc = m["accuracy"]
    if acc["final"] and acc["final"]["test_accuracy"] is not None:
        f = acc["final"]
        out.print(f"accuracy: test top-1 {f['test_accuracy']:.4f} on {f['dataset']} at {f['resolution']} px after "
                  f"{f['epochs']} epochs")
    elif acc["final"] and acc["final"]["val_accuracy"] is not None:
        f = acc["final"]
        out.print(f"accuracy: validation top-1 {f['val_accuracy']:.4f} on {f['dataset']} at {f['resolution']} px "
                  f"after {f['epochs']} epochs (training not finished)")
    if acc["search"] and acc["search"]["value"] is not None:
        s = acc["search"]
        value = f"{s['value']:.4f}" if 0.0 <= s["value"] <= 1.0 else f"{s['value']:.3e}"
        out.print(f"search estimate: {s['metric']} {value} ({s['kind']}, {s['evaluator']}) on {s['dataset']} at "
                  f"{s['proxy_resolution']} px")
    for note in m["notes"]:
        if not note.startswith("no latency"):
            out.print(f"note: {note}")
    for check in m["checks"]:
        out.print(f"check: {check['description']}")
