"""`nas search --platform P --budget X`: the most accurate network whose latency on P is within the budget (or,
with a FLOPs budget such as 146MFLOPs, whose multiply-adds are; its latency on P is shown all the same)."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer
from rich.table import Table

from nas.cli.common import ProgressBar, console, emit_json
from nas.evaluators import DEFAULT_EVALUATOR, evaluator_label, evaluator_search_options
from nas.search.api import Hooks, search as run_search
from nas.search.budget import RelativeBudget, read_budget_or_relative
from nas.search.config import DEFAULT_TIMEOUT_S, DEFAULT_TRIALS, SearchConfig, default_workers
from nas.search.measuring import loop_summary
from nas.search.record import TrialRecord
from nas.search.results import SearchResults
from search_space.errors import UserError

SUPERNET = "supernet"


def _metric_label(r: TrialRecord) -> str:
    return evaluator_label(r.evaluation.evaluator) if r.evaluation else "not evaluated"


def candidate_json(r: TrialRecord) -> dict[str, Any]:
    lat = r.latency
    return {"trial": r.number, "arch_id": r.arch_id, "accuracy": r.value, "accuracy_metric": _metric_label(r),
            "evaluator": r.evaluation.evaluator if r.evaluation else None,
            "fidelity": {"rung": r.rung, "epochs": r.evaluation.epochs,
                         "train_examples": r.evaluation.train_examples} if r.evaluation else None,
            "latency_ms": lat.latency_ms, "latency_kind": lat.kind, "predicted_ms": r.predicted.latency_ms,
            "measured_ms": r.measured.latency_ms if r.measured else None, "platform": lat.platform,
            "runtime": lat.runtime, "predictor_error_rmspe": r.predicted.error_rmspe, "flops_m": r.cost.flops_m,
            "params_m": r.cost.params_m, "within_budget": r.within_budget, "spec": json.loads(r.spec)}


def trial_json(r: TrialRecord) -> dict[str, Any]:
    """One trial of `candidates`: every trial of the study, whatever its status."""
    return {"trial": r.number, "arch_id": r.arch_id, "status": r.status, "accuracy": r.value, "rung": r.rung,
            "latency_ms": r.latency_ms, "latency_kind": r.latency.kind, "decided_by": r.decided_by,
            "backend": r.backend}


def results_json(res: SearchResults) -> dict[str, Any]:
    cfg = res.config
    return {"study": res.study, "storage": res.storage, "budget_ms": cfg.budget_ms,
            "budget": cfg.budget.to_dict(), "platform": cfg.platform,
            "objective": cfg.objective, "backend": cfg.backend, "evaluator": cfg.evaluator, "dataset": cfg.dataset,
            "deployment_resolution": cfg.resolution, "proxy_resolution": cfg.proxy_resolution,
            "trials": res.counts, "best": candidate_json(res.best) if res.best else None,
            "pareto": [candidate_json(c) for c in res.pareto], "candidates": [trial_json(r) for r in res.records],
            "measurement": loop.to_dict() if (loop := loop_summary(res.records)) else None,
            "references": [reference_json(r) for r in res.references],
            "versus_reference": res.versus.to_dict() if res.versus else None}


def reference_json(r: TrialRecord) -> dict[str, Any]:
    return {"name": r.reference, "trial": r.number, "status": r.status, "accuracy": r.value,
            "latency_ms": r.latency_ms, "latency_kind": r.latency.kind, "within_budget": r.within_budget,
            "rung": r.rung, "flops_m": r.cost.flops_m}


def latency_text(r: TrialRecord) -> str:
    if r.measured is not None:
        return f"{r.latency_ms:.2f} ms measured (predicted {r.predicted.latency_ms:.2f})"
    err = f", ±{r.predicted.error_rmspe * 100:.0f}%" if r.predicted.error_rmspe is not None else ""
    return f"{r.latency_ms:.2f} ms predicted{err}"


def value_text(value: float | None) -> str:
    """An accuracy as 0.8123, a zero-cost score in scientific notation, '-' without one."""
    if value is None:
        return "-"
    return f"{value:.4f}" if 0.0 <= value <= 1.0 else f"{value:.3e}"


def trial_line(r: TrialRecord) -> str:
    """One plain line per finished trial (for logs): number, status, accuracy, latency with its kind."""
    extra = f" ({r.failure})" if r.failure else (f" at step {r.pruned_at[0]}" if r.pruned_at else "")
    if r.rung:
        extra += f" at rung {r.rung}"
        if r.evaluation is not None:
            extra += f" ({r.evaluation.epochs:g} epochs on {r.evaluation.train_examples} images)"
    value = r.value if r.value is not None else (r.pruned_at[1] if r.pruned_at else None)
    word = "score" if r.evaluation is not None and r.evaluation.accuracy is None else "accuracy"
    return (f"trial {r.number}: {r.status}{extra}, {word} {value_text(value)}, latency {latency_text(r)} on "
            f"{r.latency.platform} ({r.latency.runtime})")


def with_relative_budget(config: SearchConfig, relative: RelativeBudget, storage: str | None,
                         study_name: str | None, quiet: bool) -> SearchConfig:
    """`config` with the latency budget of `relative` (its network timed here or on the agent, predicted where
    the platform cannot be measured, or the figure of the study being resumed), said in one line."""
    from dataclasses import replace

    from nas.data import load_dataset
    from nas.search.relative import resolve_relative, stored_search_config

    provisional = replace(config, budget_ms=relative.ratio, budget_frame=relative.network, budget_frame_ms=1.0)
    name = study_name or provisional.default_study_name()
    budget, how = resolve_relative(relative, config.platform, config.resolution,
                                   load_dataset(config.dataset).num_classes, config.measure_on,
                                   stored_search_config(storage, name))
    if not quiet:
        frame = budget.frame
        print(f"budget {budget.label()}: {frame.network} {how} at {frame.ms:.3f} ms on {config.platform}"  # type: ignore[union-attr]
              + (" when the study began" if how == "stored" else ""), flush=True)
    return replace(config, budget_ms=budget.value, budget_frame=budget.frame.network,  # type: ignore[union-attr]
                   budget_frame_ms=budget.frame.ms)  # type: ignore[union-attr]


def print_results(res: SearchResults, storage_arg: str | None) -> None:
    out = console()
    cfg = res.config
    budget = cfg.budget.label()
    counts = ", ".join(f"{v} {k}" for k, v in sorted(res.counts.items()))
    out.print(f"study {res.study}: {counts}")
    kind = "" if cfg.budget.is_latency else "FLOPs "
    table = Table(title=f"Pareto front: accuracy vs latency on {cfg.platform} ({kind}budget {budget})",
                  box=None, pad_edge=False)
    metric = "accuracy" if all(0.0 <= (c.value or 0.0) <= 1.0 for c in res.pareto) else "score"
    for col in ("trial", "arch_id", metric, "latency", "MFLOPs", "params M", "budget"):
        table.add_column(col, justify="left" if col in ("arch_id",) else "right", no_wrap=col == "arch_id")
    for c in res.pareto:
        table.add_row(str(c.number), c.arch_id, value_text(c.value), latency_text(c), f"{c.cost.flops_m:.1f}",
                      f"{c.cost.params_m:.2f}", "ok" if c.within_budget else "over")
    for r in sorted(res.references, key=lambda r: r.latency_ms):  # the same evaluator, the same accuracy axis
        table.add_row("ref", r.reference or "", value_text(r.value), latency_text(r), f"{r.cost.flops_m:.1f}",
                      f"{r.cost.params_m:.2f}", "ok" if r.within_budget else "over")
    out.print(table)
    if res.pareto:
        out.print(f"accuracy: {_metric_label(res.pareto[0])} on {cfg.dataset} at {cfg.proxy_resolution}px "
                  f"(proxy task, evaluator {cfg.evaluator}); latency: {cfg.resolution}x{cfg.resolution} input, one "
                  f"forward pass of the platform's batch")
    if res.best is None:
        out.print(f"[bold]no evaluated architecture is within {budget}[/bold] yet; run more trials or "
                  f"raise the budget")
    else:
        b = res.best
        flops = "" if cfg.budget.is_latency else f", {b.cost.flops_m:.1f} MFLOPs"
        out.print(f"[bold]best within {budget}[/bold]: {b.arch_id} (trial {b.number}), {metric} "
                  f"{value_text(b.value)}{flops}, latency {latency_text(b)} on {b.latency.platform} "
                  f"({b.latency.runtime})")
    if not cfg.budget.is_latency:
        out.print(f"the FLOPs budget decided which candidates were trained; the latencies are on {cfg.platform} "
                  f"(measured or predicted, as labelled): what the FLOPs-guided choice costs there")
    if res.versus is not None and res.best is not None:
        v, b = res.versus, res.best
        word = "beats" if v.accuracy_gain > 0 else "does not beat"
        fid = (f"{b.evaluation.epochs:g} epochs on {b.evaluation.train_examples} images" if b.evaluation
               and b.evaluation.train_examples else "no training")
        gain = (f"{v.accuracy_gain * 100:+.2f} points" if b.evaluation and b.evaluation.accuracy is not None
                else f"{v.accuracy_gain:+.3e} in score")
        flops = f" and {v.flops_ratio:.2f}x its FLOPs" if v.flops_ratio is not None else ""
        out.print(f"versus the hand design: the best found {word} {v.name} by {gain} at "
                  f"{v.latency_ratio:.2f}x its latency{flops} (evaluator {cfg.evaluator}, {fid}, rung {b.rung}; one "
                  f"seed of the proxy task, so finalists need full training to confirm)")
    elif res.references:
        out.print(f"versus the hand design: no reference network is within the budget ({budget})")
    loop = loop_summary(res.records)
    if loop is not None and loop.budget_kind == "flops":
        share = f", {loop.share * 100:.1f}% of trial time" if loop.share is not None else ""
        out.print(f"measured on the device: {loop.measured} candidates within the FLOPs budget before training "
                  f"({loop.measure_s:.0f} s{share}), to show their latency (FLOPs decided)")
    elif loop is not None:
        share = f", {loop.share * 100:.1f}% of trial time" if loop.share is not None else ""
        err = (f"; corrected prediction's error near the budget {loop.near_budget_error_start * 100:.1f}% at "
               f"the start, {loop.near_budget_error_end * 100:.1f}% at the end"
               if loop.near_budget_error_start is not None else "")
        out.print(f"measured in the loop: {loop.measured} candidates before training ({loop.measure_s:.0f} s"
                  f"{share}), {loop.rejected_unmeasured} rejected unmeasured, {loop.trained_over_budget} trained "
                  f"over the budget{err}")
    st = f" --storage {storage_arg}" if storage_arg else ""
    out.print(f"study stored in {res.storage} (study name {res.study!r})")
    out.print(f"next: nas dashboard{st} --study {res.study}")
    out.print(f"      nas export{st} --study {res.study} --best --format onnx")


def search(
    platform: str = typer.Option(..., "--platform", "-p", help="Target platform (cpu, arm, gpu-1080ti, gpu, ...)."),
    budget: str = typer.Option(..., "--budget", "-b", help="Latency budget on the platform (20ms, 20 ms, 0.02s, "
                               "20000us); a multiple of a registered network's latency on it (shufflenet_v2_x0_5, "
                               "0.8x shufflenet_v2_x0_5: timed once, then beside every candidate measured, so "
                               "the machine's drift does not move the budget); or a FLOPs budget (146MFLOPs, "
                               "0.146GFLOPs: multiply-adds, the paper's straw man; the latency is still shown)."),
    trials: int = typer.Option(DEFAULT_TRIALS, "--trials", "-n", help="Finished trials in the study (a rerun "
                               "continues it; rejected and interrupted trials do not count)."),
    timeout: Optional[float] = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", help="Seconds after which no new "
                                            "trial starts (0: no limit)."),
    evaluator: Optional[str] = typer.Option(None, "--evaluator", help="Accuracy estimate: train (short proxy "
                                            "training; the default), supernet (weights inherited from --supernet; "
                                            "the default when it is given), synflow or naswot (zero-cost proxies)."),
    supernet: Optional[str] = typer.Option(None, "--supernet", help="The file of `nas supernet train` (evaluator "
                                           "supernet); its sha256 is stored with the study."),
    bn_batches: Optional[int] = typer.Option(None, "--bn-batches", help="Evaluator supernet: training batches that "
                                             "re-estimate BatchNorm before each candidate is scored (default 0: "
                                             "the supernet's own statistics: as good a ranking in half the "
                                             "time)."),
    dataset: str = typer.Option("fashion-mnist", "--dataset", help="fashion-mnist[:DIR], folder:DIR, cifar10:DIR, "
                                "cifar100:DIR."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="tpe (default), nsga2 (default for pareto), "
                                          "evolution (regularized evolution) or random."),
    objective: str = typer.Option("constrained", "--objective", help="constrained: max accuracy s.t. latency (or "
                                  "FLOPs) <= budget; pareto: accuracy and latency (or FLOPs) both."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage: an SQLite file (default "
                                          "./nas-studies.db), an RDB URL, or journal:FILE."),
    study_name: Optional[str] = typer.Option(None, "--study-name", help="Study name (default from the settings)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler, the data split and the training."),
    backend: str = typer.Option("optuna", "--backend", help="optuna or ray."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="An existing Ray cluster (with --backend "
                                              "ray); default: a local Ray started for the run."),
    workers: int = typer.Option(default_workers(), "--workers", "-w", help="Parallel trials (processes / Ray "
                                "workers)."),
    resolution: int = typer.Option(224, "--resolution", "-r", help="Deployment input size (latency is for it)."),
    proxy_resolution: int = typer.Option(32, "--proxy-resolution", help="Image size of the accuracy proxy task."),
    train_examples: int = typer.Option(4000, "--train-examples", help="Training images per trial (proxy task)."),
    val_examples: int = typer.Option(1000, "--val-examples", help="Validation images (proxy task)."),
    epochs: int = typer.Option(1, "--epochs", help="Epochs of proxy training per trial."),
    rungs: int = typer.Option(1, "--rungs", help="Multi-fidelity: rungs of successive halving; the best 1/eta of "
                              "a rung train again at the next, eta times the epochs on eta times the images."),
    eta: int = typer.Option(3, "--eta", help="Multi-fidelity: promotion fraction 1/eta and growth factor."),
    references: str = typer.Option("auto", "--references", help="auto: evaluate the ShuffleNet v2 references "
                                   "within the budget and the nearest above with the same evaluator; none."),
    pruner: Optional[str] = typer.Option(None, "--pruner", help="median (default), halving, hyperband or none; "
                                         "with --backend ray the Tune scheduler of the same rule (ASHA for "
                                         "halving). Not with --objective pareto."),
    predictor: Optional[str] = typer.Option(None, "--predictor", help="Latency predictor (default: the profile's)."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Measure the Pareto members on the device when "
                                "the platform is measurable here."),
    measure_in_loop: bool = typer.Option(True, "--measure-in-loop/--no-measure-in-loop", help="Time every "
                                         "candidate that would be trained on the device first (this machine for "
                                         "cpu/cpu-torch/gpu, or --measure-on); the measurement decides."),
    measure_on: Optional[str] = typer.Option(None, "--measure-on", help="URL of a `nas agent` on the target "
                                             "device (token from NAS_AGENT_TOKEN)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and no per-trial lines."),
) -> None:
    """Search the space for the most accurate network within the latency budget on the platform (or within a
    FLOPs budget, showing what that choice costs on the platform)."""
    if seed < 0:
        raise UserError(f"bad --seed {seed}: must be a non-negative integer")
    evaluator = evaluator or (SUPERNET if supernet else DEFAULT_EVALUATOR)
    options = evaluator_search_options(evaluator, {"supernet": supernet, "bn_batches": bn_batches})
    parsed = read_budget_or_relative(budget)
    config = SearchConfig(platform=platform, budget_ms=1.0 if isinstance(parsed, RelativeBudget) else parsed.ms,
                          budget_mflops=None if isinstance(parsed, RelativeBudget) else parsed.mflops,
                          objective=objective, sampler=sampler,
                          evaluator=evaluator, evaluator_options=options, dataset=dataset, resolution=resolution,
                          proxy_resolution=proxy_resolution, train_examples=train_examples,
                          val_examples=val_examples, trials=trials, timeout_s=timeout or None, seed=seed,
                          workers=workers, backend=backend, ray_address=ray_address, pruner=pruner,
                          predictor=predictor, epochs=epochs, measure_in_loop=measure_in_loop,
                          measure_on=measure_on, rungs=rungs, eta=eta, references=references)
    if isinstance(parsed, RelativeBudget):
        config = with_relative_budget(config, parsed, storage, study_name, quiet or json_out)
    bars = not json_out and not quiet and sys.stderr.isatty()
    lines = not json_out and not quiet and not sys.stdout.isatty()

    def line(rec: TrialRecord) -> None:
        print(trial_line(rec), flush=True)

    with ProgressBar(enabled=bars, description="searching") as bar:  # one bar; each stage sets its label
        res = run_search(config, storage, study_name, verify=verify,
                         hooks=Hooks(profile_progress=bar, on_trial=line if lines else None, progress=bar,
                                     measure_progress=bar))
    if json_out:
        emit_json(results_json(res))
    else:
        print_results(res, storage)
