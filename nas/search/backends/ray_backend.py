"""The Ray Tune backend: the same trials on a local Ray or a Ray cluster (`--ray-address`).

The Optuna study is the source of truth. A Tune Searcher asks the study for each trial (the study's own sampler
and constraint, start-up points and re-queued trials first), runs the budget check in the driver (rejected
candidates are told to the study at once and never reach Tune, so they do not count, as with Optuna), and tells
the study each finished trial as it ends: a killed driver loses nothing finished, and rerunning the same command
continues the same study. Tune's experiment folder is kept under $NAS_HOME/ray/<study>. Intermediate reports go
both to the study (trial.report) and to the Tune scheduler of the chosen --pruner (ASHA for halving).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from latency_models.profiles import nas_home
from nas.search.backends.base import SearchBackend, SearchRun, write_record
from nas.search.config import SearchConfig
from nas.search.fidelity import promote, rung_of
from nas.search.record import EVALUATED, PRUNED, REJECTED, TrialRecord
from nas.search.recovery import Heartbeat, requeue, retry_of
from nas.search.session import (MAX_DRAWS_PER_TRIAL, counted_trials, draws_exhausted, open_search_study,
                                quiet_optuna)
from nas.search.strategies import make_sampler
from nas.search.study import create_or_resume
from nas.search.trial import SearchContext, suggest
from search_space.errors import UserError

METRIC = "accuracy"
NUMBER_KEY = "_optuna_trial"
RUNG_KEY = "_rung"


def ray_trial(params: dict[str, Any], search_config: dict[str, Any]) -> None:
    """A Ray Tune function trainable: evaluate one accepted architecture, reporting intermediate values."""
    import torch
    from ray import tune

    config = SearchConfig.from_dict(search_config)
    torch.set_num_threads(1)
    ctx = SearchContext(config)
    spec = ctx.space.from_params({k: v for k, v in params.items() if k not in (NUMBER_KEY, RUNG_KEY)})
    rec = replace(TrialRecord.candidate(spec, ctx.estimate(spec), config.budget, backend="ray"),
                  rung=int(params.get(RUNG_KEY, 0)))

    def report(step: int, value: float) -> bool:
        tune.report({METRIC: value, "step": step, "final": False})
        return False  # the Tune scheduler stops a weak trial itself (the actor is ended at a report)

    rec = ctx.evaluate(rec, report)
    # a JSON string: Tune flattens nested dicts before its searcher sees them
    tune.report({METRIC: rec.value if rec.value is not None else 0.0, "final": True,
                 "record": json.dumps(rec.to_dict())})


def tune_scheduler(config: SearchConfig) -> Any:
    """The Tune scheduler of --pruner, on the same intermediate reports as the Optuna pruners."""
    from ray.tune.schedulers import (AsyncHyperBandScheduler, ASHAScheduler, FIFOScheduler,
                                     MedianStoppingRule)

    name = config.pruner_name
    if name == "none":
        return FIFOScheduler()
    if name == "median":
        return MedianStoppingRule(time_attr="training_iteration", metric=METRIC, mode="max", grace_period=1,
                                  min_samples_required=4)
    if name == "hyperband":
        return AsyncHyperBandScheduler(time_attr="training_iteration", metric=METRIC, mode="max", grace_period=1,
                                       reduction_factor=3, brackets=3, max_t=100)
    return ASHAScheduler(time_attr="training_iteration", metric=METRIC, mode="max", grace_period=1,
                         reduction_factor=2, max_t=100)


def _study_searcher_class() -> type:
    from ray.tune.search import Searcher

    class StudySearcher(Searcher):
        """Tune trials asked from, and told to, the Optuna study (see the module docstring)."""

        def __init__(self, ctx: SearchContext, storage: str, study_name: str, heartbeat: Heartbeat):
            super().__init__(metric=METRIC, mode="max")
            config = self.config = ctx.config
            self.study = create_or_resume(config, storage, study_name)
            self.study.sampler = make_sampler(config, counted_trials(self.study))
            self.ctx = ctx
            self.heartbeat = heartbeat
            self.live: dict[str, tuple[Any, TrialRecord, tuple[int, float] | None]] = {}

        def __getstate__(self) -> dict[str, Any]:
            """Tune pickles its search algorithm with the experiment: keep only the settings (the study, the
            open trials and the heartbeat belong to this driver process)."""
            state = dict(self.__dict__)
            for key in ("study", "ctx", "heartbeat", "live"):
                state.pop(key, None)
            return state

        def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
            full = counted_trials(self.study) + len(self.live) >= self.config.trials  # rejections do not count
            for _ in range(MAX_DRAWS_PER_TRIAL):
                if full or draws_exhausted(self.study, self.config):
                    return Searcher.FINISHED if not self.live else None
                trial = self.study.ask()
                self.heartbeat.add(trial._trial_id)
                index = rung_of(trial)
                rec = self.ctx.candidate(lambda d: suggest(trial, d), backend="ray", study=self.study, index=index)
                rec = replace(rec, retry_of=retry_of(trial))
                write_record(self.study._storage, trial._trial_id, rec)
                trial.set_constraint(rec.constraint_name, rec.constraint)
                if rec.status == REJECTED:
                    self._tell(trial, rec)
                    continue
                self.live[trial_id] = (trial, rec, None)
                return {**trial.params, NUMBER_KEY: trial.number, RUNG_KEY: index}
            return None  # ten rejections in a row: Tune asks again

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            if trial_id not in self.live or result.get("final"):
                return
            trial, rec, _ = self.live[trial_id]
            step, value = int(result["step"]), float(result[METRIC])
            if not self.config.pareto:
                trial.report(value, step)
            self.live[trial_id] = (trial, rec, (step, value))

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                              error: bool = False) -> None:
            if trial_id not in self.live:
                return
            trial, rec, last = self.live.pop(trial_id)
            if error:  # the trial's worker died (its own exceptions come back as failed records)
                self.interrupt(trial, rec, "its Ray worker stopped")
                return
            if result and result.get("final") and result.get("record"):
                rec = rec.with_outcome(TrialRecord.from_dict(json.loads(result["record"])))
            else:  # stopped by the scheduler after its last report
                step, value = last if last else (0, 0.0)
                rec = rec.pruned(step, value)
            self._tell(trial, rec)

        def interrupt(self, trial: Any, rec: TrialRecord, reason: str) -> None:
            import optuna

            write_record(self.study._storage, trial._trial_id, rec.interrupted(reason))
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.heartbeat.remove(trial._trial_id)
            requeue(self.study, self.study._storage.get_trial(trial._trial_id))

        def interrupt_live(self, reason: str) -> None:
            for trial_id in list(self.live):
                trial, rec, _ = self.live.pop(trial_id)
                self.interrupt(trial, rec, reason)

        def _tell(self, trial: Any, rec: TrialRecord) -> None:
            import optuna

            write_record(self.study._storage, trial._trial_id, rec)
            state = optuna.trial.TrialState
            if rec.status in (EVALUATED, REJECTED):
                self.study.tell(trial, rec.objective_values(self.config.pareto))
            elif rec.status == PRUNED:
                self.study.tell(trial, state=state.PRUNED)
            else:
                self.study.tell(trial, state=state.FAIL)
            self.heartbeat.remove(trial._trial_id)
            promote(self.study, self.config)

        def save(self, checkpoint_path: str) -> None:
            Path(checkpoint_path).write_text("the Optuna study is this search's state\n")

        def restore(self, checkpoint_path: str) -> None:
            """Nothing to restore: a rerun continues from the study."""

    return StudySearcher


def experiment_dir() -> Path:
    """Where Tune keeps the experiment folders (results, logs; one per study, by its name): $NAS_HOME/ray."""
    return nas_home() / "ray"


@contextlib.contextmanager
def ray_session(config: SearchConfig) -> Any:
    """Connected to the cluster at --ray-address, or a local Ray on loopback started for the run (stopped after)."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if ray.is_initialized():
        yield
        return
    if config.ray_address:
        try:
            ray.init(address=config.ray_address, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"cannot connect to Ray at {config.ray_address}: {str(exc).strip().splitlines()[0]}") \
                from None
        tmp = None
    else:
        tmp = tempfile.mkdtemp(prefix="nas-ray-")  # Ray's sockets need a short path
        ray.init(num_cpus=config.workers, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 _temp_dir=tmp, _node_ip_address="127.0.0.1")
    try:
        yield
    finally:
        ray.shutdown()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class RayBackend(SearchBackend):
    """Ray Tune over the study (ask/tell), on a local Ray or an existing cluster."""

    name = "ray"

    def run(self, run: SearchRun) -> None:
        try:
            from ray import tune
        except ImportError:
            raise UserError("--backend ray needs Ray Tune: pip install 'ray[tune]'") from None

        config = run.config
        quiet_optuna()
        ctx = run.ctx()
        study = open_search_study(ctx, run.storage, run.study_name, run.extra_attrs)
        if counted_trials(study) >= config.trials:
            return
        out = experiment_dir()
        out.mkdir(parents=True, exist_ok=True)
        with ray_session(config), Heartbeat(study._storage) as beat:
            searcher = _study_searcher_class()(ctx, run.storage, run.study_name, beat)
            trainable = tune.with_resources(tune.with_parameters(ray_trial, search_config=config.to_dict()),
                                            {"cpu": 1})
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=searcher, scheduler=tune_scheduler(config), num_samples=-1,
                                            max_concurrent_trials=config.workers, time_budget_s=config.timeout_s),
                run_config=tune.RunConfig(name=run.study_name.replace("/", "_"), storage_path=str(out), verbose=0,
                                          failure_config=tune.FailureConfig(max_failures=0)),
            )
            try:
                with contextlib.redirect_stdout(sys.stderr):  # Tune prints tables even at verbose=0
                    tuner.fit()
            finally:  # trials Tune stopped at the time-out (or on an error): redone by the next run
                searcher.interrupt_live("stopped at the end of the Ray run")
