"""What every backend does around its trials: open (or resume) the study, recover interrupted trials, queue the
feasible start-up points, count finished trials, and know when to stop."""

from __future__ import annotations

from typing import Any

from nas.search.config import SearchConfig, SearchConfigError
from nas.search.fidelity import promote
from nas.search.record import CostSummary, TrialRecord
from nas.search.recovery import recover
from nas.search.study import create_or_join
from nas.search.trial import SearchContext

#: Candidates rejected by the budget check cost nothing and do not count, up to MAX_DRAWS_PER_TRIAL per trial.
MAX_DRAWS_PER_TRIAL = 10
#: Feasible architectures (predicted within a latency budget, or within a FLOPs budget) queued as the first
#: trials of a new study, found by rejection sampling the space, so the sampler starts from points that can be
#: trained.
STARTUP_FEASIBLE = 8
MAX_STARTUP_DRAWS = 20000


def quiet_optuna() -> None:
    """Optuna's per-trial log lines and experimental-feature warnings off (the CLI reports trials itself)."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def counted_trials(study: Any) -> int:
    """Finished trials that count towards --trials: evaluated, pruned or failed (not rejected, not interrupted)."""
    import optuna

    s = optuna.trial.TrialState
    n = 0
    for t in study.get_trials(deepcopy=False, states=(s.COMPLETE, s.PRUNED, s.FAIL)):
        rec = TrialRecord.from_trial(t)
        n += 1 if rec is None or rec.counted else 0  # no record: failed before its architecture was known
    return n


def draws_exhausted(study: Any, config: SearchConfig) -> bool:
    return len(study.get_trials(deepcopy=False)) >= config.trials * MAX_DRAWS_PER_TRIAL


class StopWhenDone:
    """Optuna callback: stop once the study has `trials` counted trials (or used up its draws); between trials
    it also recovers trials of processes that died meanwhile (another worker on the same storage) and queues
    the multi-fidelity promotions."""

    def __init__(self, config: SearchConfig):
        self.config = config

    def __call__(self, study: Any, trial: Any) -> None:
        recover(study)
        promote(study, self.config)
        if counted_trials(study) >= self.config.trials or draws_exhausted(study, self.config):
            study.stop()


def feasible_startup_params(ctx: SearchContext, n: int = STARTUP_FEASIBLE) -> list[dict[str, Any]]:
    """Parameters of up to `n` seeded random architectures within the budget (rejection sampling): predicted
    latency for a latency budget, multiply-adds for a FLOPs budget. Draws alternate between uniform members and
    members spread evenly over sizes (`SearchSpace.sample_scaled`), so a tight budget finds its few small
    members in tens of draws instead of thousands."""
    import numpy as np

    config = ctx.config
    budget = config.budget
    rng = np.random.default_rng([config.seed, 7])
    found: list[dict[str, Any]] = []
    lowest = float("inf")
    for i in range(MAX_STARTUP_DRAWS):
        spec = ctx.space.sample(rng) if i % 2 == 0 else ctx.space.sample_scaled(rng)
        figure = ctx.estimate(spec).latency_ms if budget.is_latency else CostSummary.of(spec).flops_m
        lowest = min(lowest, figure)
        if figure <= budget.value:
            found.append(ctx.space.to_params(spec))
            if len(found) >= n:
                break
    if not found:
        what = (f"the fastest of {MAX_STARTUP_DRAWS} random ones is predicted at {lowest:.2f} ms" if budget.is_latency
                else f"the smallest of {MAX_STARTUP_DRAWS} random ones has {lowest:.1f} MFLOPs")
        raise SearchConfigError(f"no architecture of the search space fits {budget.label()}"
                                + (f" on {config.platform}" if budget.is_latency else "")
                                + f" ({what}); raise --budget or lower --resolution")
    return found


def open_search_study(ctx: SearchContext, storage: str, study_name: str,
                      extra_attrs: dict[str, Any] | None = None) -> Any:
    """The study, created or resumed; interrupted trials recovered; a new study gets its feasible start-up
    points queued (no more than --trials of them, so a finished study leaves none waiting)."""
    config = ctx.config
    study, created = create_or_join(config, storage, study_name, extra_attrs=extra_attrs)
    recover(study)
    if created and not study.get_trials(deepcopy=False):
        for p in feasible_startup_params(ctx, min(STARTUP_FEASIBLE, config.trials)):
            study.enqueue_trial(p, skip_if_exists=True)
    return study
