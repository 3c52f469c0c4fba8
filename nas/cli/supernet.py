"""`nas supernet train --dataset D --epochs E [--train-examples N] [--platform P --budget X] --out FILE` and
`nas supernet show FILE`: the weight-sharing supernet that `nas search --evaluator supernet --supernet FILE` scores
candidates with."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from nas.cli.common import ProgressBar, console, emit_json
from search_space.errors import UserError

app = typer.Typer(no_args_is_help=True, help="Train and inspect the weight-sharing (single-path one-shot) supernet.")


def _summary(sf: Any, sha256: str) -> dict[str, Any]:
    return {"file": str(sf.path), "sha256": sha256, "epochs_done": sf.epochs_done, "epochs": sf.epochs,
            "complete": sf.complete, "space": sf.space.name, "task": sf.task.to_dict(), "run": sf.run,
            "history": list(sf.history), "seconds": sf.seconds, "resumed_at": list(sf.raw.get("resumed_at") or [])}


@app.command("train")
def train(
    out: str = typer.Option(..., "--out", "-o", help="The supernet file (rewritten after every epoch)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", "-e", help="Epochs over the training split (with "
                                         "--resume: the new total, default the recorded one)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset spec (default fashion-mnist)."),
    train_examples: Optional[int] = typer.Option(None, "--train-examples", help="Use at most this many training "
                                                 "images (default: all but the validation split)."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Only train paths within --budget on this "
                                           "platform (its latency profile's prediction)."),
    budget: Optional[str] = typer.Option(None, "--budget", help="Latency budget of the paths, e.g. 20ms."),
    resolution: Optional[int] = typer.Option(None, "--resolution", "-r", help="Deployment input (px) the budget "
                                             "applies to (default 224)."),
    proxy_resolution: Optional[int] = typer.Option(None, "--proxy-resolution", help="Proxy input (px, default 32; "
                                                   "the search's --proxy-resolution must match)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of weights, split, batch order and paths "
                                       "(default 0; the search's --seed must match: same validation split)."),
    replica: Optional[int] = typer.Option(None, "--replica", help="Another independently trained supernet over the "
                                          "same split (default 0): other initial weights, batch order and paths."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size (default 64)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 0.05)."),
    path_draw: Optional[str] = typer.Option(None, "--path-draw", help="uniform (default: each dimension uniform; "
                                            "under a budget most paths sit near its edge) or spread (sizes spread "
                                            "evenly)."),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Distil from this finished `nas train` run (DIR "
                                          "or DIR/final.pt) on the same proxy task and --seed: its soft targets "
                                          "teach every path as well as the labels."),
    distill_weight: Optional[float] = typer.Option(None, "--distill-weight", help="Share of the loss that is the "
                                                   "teacher's (default 0.5 with --teacher)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the supernet in --out exactly (to --epochs)."),
    json_out: bool = typer.Option(False, "--json", help="Print the file's summary as one JSON object."),
) -> None:
    """Train one supernet over the default search space, one uniformly drawn path per step (only paths within
    the budget with --platform/--budget), optionally distilling from a --teacher; a checkpoint every epoch in --out;
    --resume continues it."""
    from nas.evaluators.supernet import (DEFAULT_DISTILL_WEIGHT, SupernetRun, check_out, check_teacher, prepare_data,
                                         read_supernet, resume_state, train_supernet)
    from nas.search.budget import parse_budget
    from nas.views.train import load_teacher

    path = Path(out).expanduser().absolute()
    if threads is not None and threads < 1:
        raise UserError(f"--threads {threads}: must be at least 1")
    budget_ms = parse_budget(budget) if budget is not None else None
    if platform is not None and budget_ms is not None:
        from latency_models.profiles import require_profile

        require_profile(platform)  # an unknown platform or one without a profile: one line, before any data is read
    check_out(path, resume)
    started = time.perf_counter()
    state = None
    mentor = None
    if resume:
        named = load_teacher(teacher) if teacher is not None else None
        given = {"train-examples": train_examples, "platform": platform, "budget": budget_ms,
                 "resolution": resolution, "proxy-resolution": proxy_resolution, "seed": seed,
                 "replica": replica, "batch-size": batch_size, "lr": lr, "distill-weight": distill_weight,
                 "path-draw": path_draw,
                 "teacher": None if named is None else str(named.path)}
        run, state, data, epochs = resume_state(path, epochs, given, dataset)
        if run.teacher is not None:  # the file named again is the recorded one (check_same); read it once
            mentor = named if named is not None and named.sha256 == run.teacher_sha256 else \
                load_teacher(run.teacher, run.teacher_sha256)
    else:
        if epochs is None:
            raise UserError("--epochs is required (how many passes over the training split)")
        if teacher is not None:
            mentor = load_teacher(teacher)
        elif distill_weight is not None:
            raise UserError("--distill-weight needs --teacher (the network whose soft targets are mixed in)")
        given = dict(train_examples=train_examples, platform=platform, budget_ms=budget_ms, resolution=resolution,
                     proxy_resolution=proxy_resolution, seed=seed, replica=replica, batch_size=batch_size, lr=lr,
                     path_draw=path_draw)
        if mentor is not None:
            given.update(teacher=str(mentor.path), teacher_sha256=mentor.sha256,
                         distill_weight=DEFAULT_DISTILL_WEIGHT if distill_weight is None else distill_weight)
        run = SupernetRun(dataset=dataset or "fashion-mnist", **{k: v for k, v in given.items() if v is not None})
        data, ds = prepare_data(run)
        run = SupernetRun.from_dict({**run.to_dict(), "dataset": ds.spec})
    if mentor is not None:
        check_teacher(run, mentor, data)  # before any training: another task or split is one line
    first = state.epochs_done if state is not None else 0
    out_print = console()
    if not json_out:
        draw = "paths of sizes spread evenly" if run.path_draw == "spread" else "uniform paths"
        paths = f"{draw} within {run.budget_ms:g} ms on {run.platform} at {run.resolution} px" \
            if run.budget_ms is not None else draw
        if mentor is not None:
            paths += f", distilling from {mentor.spec.name or mentor.spec.arch_id} at weight {run.distill_weight:g}"
        out_print.print(f"training a supernet on {run.dataset} at {run.proxy_resolution} px: {len(data.train)} "
                        f"train images, {epochs} epochs, batch {run.batch_size}, lr {run.lr:g}, {paths}"
                        + (f" (resuming after epoch {state.epochs_done})" if state is not None else ""))
    try:
        with ProgressBar(enabled=not json_out, description="supernet") as bar:
            result = train_supernet(run, epochs, data, path, resume=state, threads=threads, progress=bar,
                                    teacher=mentor)
    except KeyboardInterrupt:
        print(f"error: interrupted; the last finished epoch is kept in {path} (continue with `nas supernet train "
              f"--out {path} --resume`)", file=sys.stderr)
        raise typer.Exit(130) from None
    took = time.perf_counter() - started
    if json_out:
        emit_json({**_summary(read_supernet(path), result.sha256), "wall_seconds": took})
        return
    for h in result.history[first:]:
        out_print.print(f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}, train accuracy (sampled paths) "
                        f"{h['train_accuracy']:.4f}, {h['paths']} paths of {h['draws']} drawn ({h['seconds']:.1f} s)")
    out_print.print(f"wrote {path} ({result.params_m:.1f} M parameters, sha256 {result.sha256[:16]}...) in "
                    f"{took:.1f} s")
    extra = (f" --proxy-resolution {run.proxy_resolution}" if run.proxy_resolution != 32 else "") + \
        (f" --seed {run.seed}" if run.seed else "")
    out_print.print(f"next: nas search --evaluator supernet --supernet {path} --dataset {run.dataset}{extra}")


@app.command("show")
def show(
    file: str = typer.Argument(..., help="A supernet file of `nas supernet train`."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """What a supernet file holds: space, proxy task, settings, epochs and the file's sha256."""
    from nas.evaluators.supernet import file_sha256, read_supernet

    sf = read_supernet(file)
    summary = _summary(sf, file_sha256(sf.path))
    if json_out:
        emit_json(summary)
        return
    out = console()
    out.print(sf.describe())
    out.print(f"sha256 {summary['sha256']}")
    for h in sf.history:
        out.print(f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}, train accuracy (sampled paths) "
                  f"{h['train_accuracy']:.4f} ({h['seconds']:.1f} s)")
