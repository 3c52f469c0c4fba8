"""The same search through Ray Tune: `Tuner` + Optuna search (define-by-run, the same space) + an ASHA scheduler,
on a local Ray started for the run or an existing cluster (`--ray-address`). Finished Ray trials are written
into the Optuna study, so the dashboard and export read either backend's results the same way.

Ray's Optuna searcher does not take per-trial constraints: an over-budget architecture reports accuracy 0,
which steers the sampler away from it (the constraint itself is recorded on the stored trial).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Any

from nas.search.config import SearchConfig
from nas.search.objective import CONSTRAINT, STATUS_PRUNED, Objective, SearchContext, suggest
from nas.search.runner import feasible_startup_params
from nas.search.study import create_or_resume, make_sampler
from search_space.errors import UserError
from search_space.progress import ProgressFn
from search_space.space import Dim, SearchSpace

METRIC = "accuracy"


def _ray_trial(params: dict[str, Any], search_config: dict[str, Any]) -> None:
    """A Ray Tune function trainable: one architecture, intermediate accuracies reported for ASHA."""
    import torch
    from ray import tune

    config = SearchConfig.from_dict(search_config)
    torch.set_num_threads(1)
    objective = Objective(config)

    def report(step: int, value: float) -> bool:
        tune.report({METRIC: value, "step": step, "final": False})
        return False  # ASHA stops a weak trial itself (the actor is ended at a report)

    out = objective.evaluate_params(dict(params), report)
    tune.report({METRIC: out["value"], "final": True, "attrs": out})


class DefineByRun:
    """The search space as Ray's OptunaSearch wants it: a define-by-run callable (picklable, Ray saves it)."""

    def __init__(self, space: SearchSpace):
        self.space = space

    def __call__(self, trial: Any) -> None:
        self.space.build(lambda d: suggest(trial, d))


def distributions(space: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """Optuna distributions of the parameters a trial used (define-by-run: only the dimensions it asked)."""
    import optuna

    out: dict[str, Any] = {}

    def ask(d: Dim) -> Any:
        out[d.name] = (optuna.distributions.IntDistribution(d.low, d.high, step=d.step) if d.is_int_range
                       else optuna.distributions.CategoricalDistribution(list(d.choices)))
        return params[d.name]

    space.build(ask)
    return out


def run_ray(config: SearchConfig, storage: str, study_name: str, extra_attrs: dict[str, Any] | None = None,
            progress: ProgressFn | None = None) -> Any:
    """Run the remaining trials on Ray Tune and store them in the Optuna study; returns the study."""
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise UserError("--backend ray needs Ray Tune: pip install 'ray[tune]'") from None
    import optuna

    study = create_or_resume(config, storage, study_name, extra_attrs=extra_attrs)
    done = len([t for t in study.get_trials(deepcopy=False) if t.state.is_finished()])
    remaining = config.trials - done
    if remaining <= 0:
        return study
    space = SearchContext(config).space
    define = DefineByRun(space)

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    tmp = tempfile.mkdtemp(prefix="nas-ray-")
    started_here = False
    if not ray.is_initialized():
        if config.ray_address:
            try:
                ray.init(address=config.ray_address, log_to_driver=False, configure_logging=False)
            except Exception as exc:  # noqa: BLE001
                raise UserError(f"cannot connect to Ray at {config.ray_address}: {exc}") from None
        else:
            ray.init(num_cpus=config.workers, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     _temp_dir=tmp)
        started_here = True
    try:
        startup = feasible_startup_params(config) if done == 0 else None
        searcher = OptunaSearch(space=define, metric=METRIC, mode="max", sampler=make_sampler(config, done),
                                points_to_evaluate=startup)
        scheduler = ASHAScheduler(time_attr="training_iteration", metric=METRIC, mode="max", grace_period=1,
                                  reduction_factor=2, max_t=100)
        trainable = tune.with_resources(tune.with_parameters(_ray_trial, search_config=config.to_dict()),
                                        {"cpu": 1})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=remaining,
                                        max_concurrent_trials=config.workers,
                                        time_budget_s=config.timeout_s),
            run_config=tune.RunConfig(name=study_name.replace("/", "_"), storage_path=tmp, verbose=0),
        )
        with contextlib.redirect_stdout(sys.stderr):  # Ray Tune prints tables even at verbose=0: keep stdout clean
            grid = tuner.fit()
        for i, result in enumerate(grid):
            _store(study, space, result, config, optuna)
            if progress:
                progress(done + i + 1, config.trials, f"stored Ray trial {i + 1}")
    finally:
        if started_here:
            ray.shutdown()
    return study


def _store(study: Any, space: SearchSpace, result: Any, config: SearchConfig, optuna: Any) -> None:
    """Write one finished Ray trial into the Optuna study (complete, pruned or failed)."""
    params = {k: v for k, v in (result.config or {}).items() if not k.startswith("_")}
    metrics = result.metrics or {}
    attrs = dict(metrics.get("attrs") or {})
    intermediate = {}
    history = result.metrics_dataframe
    if history is not None and METRIC in history:
        for _, row in history.iterrows():
            if not row.get("final", False):
                intermediate[int(row["step"])] = float(row[METRIC])
    try:
        dists = distributions(space, params)
    except KeyError:
        return  # a trial that failed before the sampler gave it parameters
    state = optuna.trial.TrialState.COMPLETE
    values: list[float] | None = None
    if result.error is not None:
        state = optuna.trial.TrialState.FAIL
        attrs.setdefault("status", "failed")
        attrs["failure"] = str(result.error).strip().splitlines()[-1][:500]
    elif not metrics.get("final", False):
        state = optuna.trial.TrialState.PRUNED
        attrs.setdefault("status", STATUS_PRUNED)
    else:
        values = [float(attrs.pop("value"))]
        if config.objective == "pareto":
            values.append(float(attrs["latency_ms"]))
    if "latency_ms" not in attrs:  # pruned/failed before the attributes came back: recompute them here
        from latency_models.profiles import require_profile
        from nas.search.objective import candidate_attrs

        spec = space.from_params(params)
        est = require_profile(config.platform).estimate(spec, config.predictor)
        attrs.update(candidate_attrs(spec, est, config.budget_ms))
    system = {f"constraints:{CONSTRAINT}": float(attrs["latency_ms"]) - config.budget_ms}
    attrs["backend"] = "ray"
    trial = optuna.trial.create_trial(params=params, distributions=dists, values=values, state=state,
                                      user_attrs=attrs, system_attrs=system,
                                      intermediate_values=intermediate if state != optuna.trial.TrialState.FAIL else {})
    study.add_trial(trial)
