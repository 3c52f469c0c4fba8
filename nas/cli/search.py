"""`nas search --platform P --budget X`: the most accurate network whose latency on P is within the budget."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.table import Table

from latency_models.autoprofile import ensure_profile
from latency_models.profiles import get_platform
from nas.cli.common import ProgressBar, console, emit_json
from nas.search.budget import parse_budget
from nas.search.config import DEFAULT_TIMEOUT_S, DEFAULT_TRIALS, SearchConfig, default_workers
from nas.search.results import Candidate, SearchResults, load_results
from nas.search.storage import display_storage, storage_url
from search_space.errors import UserError


def candidate_json(c: Candidate) -> dict[str, Any]:
    return {"trial": c.number, "arch_id": c.arch_id, "accuracy": c.accuracy, "accuracy_metric": c.accuracy_metric,
            "latency_ms": c.latency_ms, "latency_kind": c.latency_kind, "predicted_ms": c.predicted_ms,
            "measured_ms": c.measured_ms, "platform": c.platform, "runtime": c.runtime,
            "predictor_error_rmspe": c.predictor_error_rmspe, "flops_m": c.flops_m, "params_m": c.params_m,
            "within_budget": c.feasible, "spec": c.to_dict()["spec"]}


def results_json(res: SearchResults) -> dict[str, Any]:
    cfg = res.config
    return {"study": res.study, "storage": res.storage, "budget_ms": cfg.budget_ms, "platform": cfg.platform,
            "objective": cfg.objective, "backend": cfg.backend, "evaluator": cfg.evaluator, "dataset": cfg.dataset,
            "deployment_resolution": cfg.resolution, "proxy_resolution": cfg.proxy_resolution,
            "trials": res.counts, "best": candidate_json(res.best) if res.best else None,
            "pareto": [candidate_json(c) for c in res.pareto]}


def _latency_text(c: Candidate) -> str:
    if c.latency_kind == "measured":
        return f"{c.latency_ms:.2f} ms measured (predicted {c.predicted_ms:.2f})"
    err = f", ±{c.predictor_error_rmspe * 100:.0f}%" if c.predictor_error_rmspe is not None else ""
    return f"{c.latency_ms:.2f} ms predicted{err}"


def _value_text(c: Candidate) -> str:
    """An accuracy as 0.8123, a zero-cost score in scientific notation."""
    return f"{c.accuracy:.4f}" if 0.0 <= c.accuracy <= 1.0 else f"{c.accuracy:.3e}"


def print_results(res: SearchResults, storage_arg: str | None) -> None:
    out = console()
    cfg = res.config
    counts = ", ".join(f"{v} {k}" for k, v in sorted(res.counts.items()))
    out.print(f"study {res.study}: {counts}")
    table = Table(title=f"Pareto front: accuracy vs latency on {cfg.platform} (budget {cfg.budget_ms:g} ms)",
                  box=None, pad_edge=False)
    metric = "accuracy" if all(0.0 <= c.accuracy <= 1.0 for c in res.pareto) else "score"
    for col in ("trial", "arch_id", metric, "latency", "MFLOPs", "params M", "budget"):
        table.add_column(col, justify="left" if col in ("arch_id",) else "right")
    for c in res.pareto:
        table.add_row(str(c.number), c.arch_id, _value_text(c), _latency_text(c), f"{c.flops_m:.1f}",
                      f"{c.params_m:.2f}", "ok" if c.feasible else "over")
    out.print(table)
    if res.pareto:
        out.print(f"accuracy: {res.pareto[0].accuracy_metric} on {cfg.dataset} at {cfg.proxy_resolution}px "
                  f"(proxy task); latency: {cfg.resolution}x{cfg.resolution} input, one forward pass of the "
                  f"platform's batch")
    metric = "accuracy" if res.best is None or 0.0 <= res.best.accuracy <= 1.0 else "score"
    if res.best is None:
        out.print(f"[bold]no evaluated architecture is within {cfg.budget_ms:g} ms[/bold] yet; run more trials or "
                  f"raise the budget")
    else:
        b = res.best
        out.print(f"[bold]best within {cfg.budget_ms:g} ms[/bold]: {b.arch_id} (trial {b.number}), {metric} "
                  f"{_value_text(b)}, latency {_latency_text(b)} on {b.platform} ({b.runtime})")
    st = f" --storage {storage_arg}" if storage_arg else ""
    out.print(f"study stored in {res.storage} (study name {res.study!r})")
    out.print(f"next: nas dashboard{st} --study {res.study}")
    out.print(f"      nas export{st} --study {res.study} --best --format onnx")


def search(
    platform: str = typer.Option(..., "--platform", "-p", help="Target platform (cpu, arm, gpu-1080ti, gpu, ...)."),
    budget: str = typer.Option(..., "--budget", "-b", help="Latency budget: 20ms, 20 ms, 0.02s, 20000us."),
    trials: int = typer.Option(DEFAULT_TRIALS, "--trials", "-n", help="Trials in the study (a rerun continues it)."),
    timeout: Optional[float] = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", help="Seconds after which no new "
                                            "trial starts (0: no limit)."),
    evaluator: str = typer.Option("train", "--evaluator", help="Accuracy estimate: train (short proxy training), "
                                  "synflow or naswot (zero-cost proxies)."),
    dataset: str = typer.Option("fashion-mnist", "--dataset", help="fashion-mnist[:DIR], folder:DIR, cifar10:DIR, "
                                "cifar100:DIR."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="tpe (default), nsga2 (default for pareto) or "
                                          "random."),
    objective: str = typer.Option("constrained", "--objective", help="constrained: max accuracy s.t. latency <= "
                                  "budget; pareto: both objectives."),
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
    pruner: str = typer.Option("median", "--pruner", help="median, halving, hyperband or none."),
    predictor: Optional[str] = typer.Option(None, "--predictor", help="Latency predictor (default: the profile's)."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Measure the Pareto members on the device when "
                                "the platform is measurable here."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Search the space for the most accurate network within the latency budget on the platform."""
    from nas.search.ray_backend import run_ray
    from nas.search.runner import run_optuna
    from nas.search.study import load_study
    from nas.search.verify import verify_pareto

    budget_ms = parse_budget(budget)
    if seed < 0:
        raise UserError(f"bad --seed {seed}: must be a non-negative integer")
    config = SearchConfig(platform=platform, budget_ms=budget_ms, objective=objective, sampler=sampler,
                          evaluator=evaluator, dataset=dataset, resolution=resolution,
                          proxy_resolution=proxy_resolution, train_examples=train_examples,
                          val_examples=val_examples, trials=trials, timeout_s=timeout or None, seed=seed,
                          workers=workers, backend=backend, ray_address=ray_address, pruner=pruner,
                          predictor=predictor, epochs=epochs)
    from nas.evaluators import evaluator_names

    if evaluator not in evaluator_names():
        raise UserError(f"--evaluator: unknown {evaluator!r} (known: {', '.join(evaluator_names())})")
    get_platform(platform)  # unknown platform: one line listing the known ones
    with ProgressBar(enabled=not json_out, description=f"measuring {platform} (first use)") as bar:
        profile = ensure_profile(platform, progress=bar)
    if predictor is not None:
        profile.predictor(predictor)
    name = study_name or config.default_study_name()
    url = storage_url(storage)
    extra = {"platform": profile.platform.to_dict(), "profile_evaluation": profile.evaluation,
             "profile_method": profile.evaluation_method, "profile_provenance_source": profile.provenance.get("source")}
    from nas.search.objective import SearchContext

    ctx = SearchContext(config)
    extra["proxy_task"] = ctx.data.task.to_dict()
    extra["num_classes"] = ctx.dataset.num_classes
    run = run_ray if backend == "ray" else run_optuna
    with ProgressBar(enabled=not json_out, description="searching") as bar:
        run(config, url, name, extra_attrs=extra, progress=bar)
    study = load_study(url, name, writable=True)
    res = load_results(study, display_storage(storage))
    if verify:
        with ProgressBar(enabled=not json_out, description="measuring") as bar:
            verify_pareto(study, res, progress=bar)
        res = load_results(load_study(url, name), display_storage(storage))
    if json_out:
        emit_json(results_json(res))
    else:
        print_results(res, storage)
