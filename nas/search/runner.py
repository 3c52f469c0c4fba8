"""Running a search with Optuna: in this process, or as several worker processes sharing one storage
(Optuna's own distributed mode: `nas search` started in several terminals with the same --storage and
--study-name works the same way)."""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

from nas.search.config import SearchConfig, SearchConfigError
from nas.search.objective import Objective
from nas.search.study import create_or_resume, make_sampler
from search_space.progress import ProgressFn

#: Trial states that count towards --trials (a rerun of the same command finishes what is left). Candidates
#: rejected by the latency predictor cost nothing and do not count, up to MAX_DRAWS_PER_TRIAL draws per trial.
FINISHED = ("COMPLETE", "PRUNED", "FAIL")
MAX_DRAWS_PER_TRIAL = 10
#: Feasible architectures (predicted within the budget) queued as the first trials of a new study, found by
#: rejection sampling the space with the predictor, so the sampler starts from points that can be trained.
STARTUP_FEASIBLE = 8
MAX_STARTUP_DRAWS = 20000


def finished_trials(study: Any) -> int:
    """Finished trials that count towards --trials (not the rejected ones)."""
    import optuna

    states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states)
               if not str(t.user_attrs.get("status", "")).startswith("rejected"))


class StopWhenDone:
    """Stops a worker once the study has `trials` counted trials, or `trials * MAX_DRAWS_PER_TRIAL` in all."""

    def __init__(self, trials: int):
        self.trials = trials

    def __call__(self, study: Any, trial: Any) -> None:
        total = len(study.get_trials(deepcopy=False))
        if finished_trials(study) >= self.trials or total >= self.trials * MAX_DRAWS_PER_TRIAL:
            study.stop()


def feasible_startup_params(config: SearchConfig, n: int = STARTUP_FEASIBLE) -> list[dict[str, Any]]:
    """Parameters of up to `n` seeded random architectures predicted within the budget (rejection sampling)."""
    import numpy as np

    from nas.search.objective import SearchContext

    ctx = SearchContext(config)
    rng = np.random.default_rng([config.seed, 7])
    found: list[dict[str, Any]] = []
    best_ms = float("inf")
    for _ in range(MAX_STARTUP_DRAWS):
        spec = ctx.space.sample(rng)
        ms = ctx.estimate(spec).latency_ms
        best_ms = min(best_ms, ms)
        if ms <= config.budget_ms:
            found.append(ctx.space.to_params(spec))
            if len(found) >= n:
                break
    if not found:
        raise SearchConfigError(f"no architecture of the search space fits {config.budget_ms:g} ms on {config.platform}"
                                f" (the fastest of {MAX_STARTUP_DRAWS} random ones is predicted at {best_ms:.2f} ms); "
                                f"raise --budget or lower --resolution")
    return found


def queue_feasible_startup(study: Any, config: SearchConfig, n: int = STARTUP_FEASIBLE) -> int:
    """Enqueue feasible random architectures as the first trials of a new study; returns how many."""
    if study.get_trials(deepcopy=False):
        return 0
    params = feasible_startup_params(config, n)
    for p in params:
        study.enqueue_trial(p, skip_if_exists=True)
    return len(params)


def _quiet_optuna() -> None:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _worker(config: SearchConfig, storage: str, study_name: str, index: int, timeout_s: float | None) -> None:
    """One worker process: its own sampler seed, trials until the study has config.trials finished ones."""
    _quiet_optuna()
    study = create_or_resume(config, storage, study_name)
    study.sampler = make_sampler(config, 1000 * (index + 1) + finished_trials(study))
    study.optimize(Objective(config), n_trials=None, timeout=timeout_s, catch=(Exception,), gc_after_trial=True,
                   callbacks=[StopWhenDone(config.trials)])


def run_optuna(config: SearchConfig, storage: str, study_name: str, extra_attrs: dict[str, Any] | None = None,
               progress: ProgressFn | None = None) -> Any:
    """Run (or continue) the study until it has `config.trials` finished trials or `config.timeout_s` passes."""

    _quiet_optuna()
    study = create_or_resume(config, storage, study_name, extra_attrs=extra_attrs)
    queue_feasible_startup(study, config)
    already = finished_trials(study)
    study.sampler = make_sampler(config, already)  # a resumed seeded sampler must not replay earlier draws
    if already >= config.trials:
        return study
    if progress:
        progress(already, config.trials, f"{already} trials done")
    if config.workers == 1:
        def cb(st: Any, trial: Any) -> None:
            if progress:
                progress(finished_trials(st), config.trials, f"trial {trial.number}: {trial.state.name.lower()}")

        study.optimize(Objective(config), n_trials=None, timeout=config.timeout_s, catch=(Exception,),
                       gc_after_trial=True, callbacks=[StopWhenDone(config.trials), cb])
        return study
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(config, storage, study_name, i, config.timeout_s), daemon=False)
             for i in range(config.workers)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            if progress:
                n = finished_trials(study)
                progress(min(n, config.trials), config.trials, f"{n} trials finished ({config.workers} workers)")
            time.sleep(1.0)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if failed and finished_trials(study) == already:
        raise RuntimeError(f"search workers exited with codes {failed} before finishing any trial")
    return study
