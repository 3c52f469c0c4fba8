"""`nas train (--arch NAME|SPEC.json | --trial N | --best) --epochs E --out DIR`: final training from scratch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from nas.cli.common import ProgressBar, console, emit_json
from nas.cli.export import select_source
from search_space.errors import UserError


def _given(**options: Any) -> dict[str, Any]:
    """CLI options by their --name (None: not given)."""
    return {k.replace("_", "-"): v for k, v in options.items()}


def train(
    arch: Optional[str] = typer.Option(None, "--arch", help="A registered network name or a spec JSON file."),
    trial: Optional[int] = typer.Option(None, "--trial", help="Trial number of a study."),
    best: bool = typer.Option(False, "--best", help="The study's most accurate network within its budget."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Study storage (read-only; default "
                                          "./nas-studies.db)."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the only study)."),
    out: str = typer.Option(..., "--out", "-o", help="Folder for checkpoint.pt, final.pt and metrics.json."),
    epochs: Optional[int] = typer.Option(None, "--epochs", "-e", help="Epochs over the training split (required "
                                         "unless --resume)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset spec (default: the study's, else "
                                          "fashion-mnist)."),
    resolution: Optional[int] = typer.Option(None, "--resolution", "-r", help="Training input (px); default the "
                                             "study's proxy resolution, else 32."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of weights, split, batch order (default 0)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size (default 128)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 0.1 x batch/128 for SGD, "
                                       "2e-3 x batch/128 for AdamW)."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd (Nesterov, default) or adamw."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="Default 5e-4 (SGD) / 0.05 (AdamW)."),
    augment: Optional[str] = typer.Option(None, "--augment", help="auto (default: crop+flip, crop only for "
                                          "digits), none, crop or crop+flip."),
    train_examples: Optional[int] = typer.Option(None, "--train-examples", help="Use at most this many training "
                                                 "images (default: all but the validation split)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out exactly."),
    json_out: bool = typer.Option(False, "--json", help="Print metrics.json's content as one JSON object."),
) -> None:
    """Train the found network from scratch (SGD + cosine, label smoothing, light augmentation) at the search's
    proxy input with the proxy network's body; checkpoint every epoch; final test accuracy; then `nas export
    --weights DIR/final.pt`."""
    from nas.views.train import Recipe, plan_run, prepare_out_dir, resume_run, train_network

    out_dir = Path(out).expanduser().absolute()
    if threads is not None and threads < 1:
        raise UserError(f"--threads {threads}: must be at least 1")
    if train_examples is not None and train_examples < 10:
        raise UserError(f"--train-examples {train_examples}: must be at least 10")
    if seed is not None and seed < 0:
        raise UserError(f"--seed {seed}: must be a non-negative integer")
    aug = None if augment == "auto" else augment
    prepare_out_dir(out_dir, resume, create=False)  # refuse early, before any data is loaded
    checkpoint = None
    if resume:
        chosen = select_source(storage, study, trial, best, arch) if (arch or trial is not None or best) else None
        given = _given(arch=chosen.spec if chosen else None, resolution=resolution, seed=seed,
                       train_examples=train_examples, epochs=epochs, batch_size=batch_size, lr=lr,
                       optimizer=optimizer, weight_decay=weight_decay, augment=aug)
        setup, checkpoint, data = resume_run(out_dir, given, dataset)
    else:
        source = select_source(storage, study, trial, best, arch)
        if source is None:
            raise UserError("choose the network: --arch NAME|SPEC.json, or --trial N / --best of a study")
        if epochs is None:
            raise UserError("--epochs is required (how many passes over the training split)")
        options = dict(batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay, augment=aug)
        recipe = Recipe(epochs=epochs, **{k: v for k, v in options.items() if v is not None})
        setup, data = plan_run(source, dataset, resolution, seed or 0, train_examples, recipe)
    prepare_out_dir(out_dir, resume)
    out_print = console()
    if not json_out:
        r = setup.recipe
        out_print.print(f"training {setup.source.origin.describe()} on {setup.dataset} at {setup.resolution} px: "
                        f"{len(data.train)} train / {len(data.val)} val images, {r.epochs} epochs, {r.optimizer} lr "
                        f"{r.lr:g}, batch {r.batch_size}, augment {r.augment}"
                        + (f" (resuming after epoch {checkpoint['epochs_done']})" if checkpoint else ""))
    try:
        with ProgressBar(enabled=not json_out, description="training") as bar:
            result = train_network(setup, data, out_dir, checkpoint=checkpoint, threads=threads, progress=bar)
    except KeyboardInterrupt:
        print(f"error: interrupted; the last finished epoch is kept in {out_dir / 'checkpoint.pt'} "
              f"(continue with `nas train --out {out_dir} --resume`)", file=sys.stderr)
        raise typer.Exit(130) from None
    if json_out:
        import json

        emit_json(json.loads(result.metrics_path.read_text()))
        return
    for h in result.history:
        out_print.print(f"epoch {h.epoch}: train loss {h.train_loss:.4f}, val accuracy {h.val_accuracy:.4f} "
                        f"({h.seconds:.1f} s)")
    test = f"{result.test_accuracy:.4f} ({result.test_examples} test images)" if result.test_accuracy is not None \
        else "n/a (the dataset has no test split)"
    out_print.print(f"final test accuracy: {test}; {result.seconds:.1f} s in all")
    out_print.print(f"wrote {result.final_path} and {result.metrics_path}")
    out_print.print(f"next: nas export --weights {result.final_path} --format onnx")
