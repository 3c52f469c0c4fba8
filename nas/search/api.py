"""`search()`: the one library call behind `nas search`: the platform's profile, the study, the backend's trials
(watched as they finish, from any process or node), the measured check of the front, and the results."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from latency_models.agent import AgentClient, AgentUnavailable
from latency_models.autoprofile import ensure_profile
from latency_models.profiles import get_platform
from nas.evaluators import evaluator_names
from nas.search.backends import SearchRun, get_backend
from nas.search.config import SearchConfig
from nas.search.measuring import LocalMeasurer
from nas.search.record import TrialRecord
from nas.search.references import evaluate_references
from nas.search.results import SearchResults, load_results
from nas.search.session import counted_trials
from nas.search.storage import display_storage, open_storage, storage_url
from nas.search.strategies import default_strategies
from nas.search.study import load_study, open_study
from nas.search.trial import SearchContext
from nas.search.verify import verify_pareto
from search_space.errors import UserError
from search_space.progress import ProgressFn

#: on_trial(record): called once for every trial that finished (whatever process or Ray node ran it).
TrialFn = Callable[[TrialRecord], None]
POLL_S = 1.0


@dataclass(frozen=True)
class Hooks:
    """Where a search reports: the profile's first-use measurement, trials as they finish, the search's
    progress (counted trials of --trials), and the measured check of the front. All optional."""

    profile_progress: ProgressFn | None = None
    on_trial: TrialFn | None = None
    progress: ProgressFn | None = None
    measure_progress: ProgressFn | None = None


class TrialWatcher:
    """Polls the study (its own storage connection) and reports each newly finished trial once."""

    def __init__(self, storage: str, study_name: str, trials: int, hooks: Hooks, interval_s: float = POLL_S):
        self.storage, self.study_name, self.trials, self.hooks = storage, study_name, trials, hooks
        self.interval_s = interval_s
        self.seen: set[int] = set()
        self._study: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> Any:
        if self._study is None:
            try:
                self._study = open_study(open_storage(self.storage), self.study_name)
            except UserError:
                return None  # not created yet
        return self._study

    def poll(self) -> None:
        study = self._open()
        if study is None:
            return
        fresh = []
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in self.seen:
                self.seen.add(t.number)
                rec = TrialRecord.from_trial(t)
                if rec is not None:
                    fresh.append(rec)
        if self.hooks.on_trial:
            for rec in fresh:
                self.hooks.on_trial(rec)
        if self.hooks.progress and fresh:
            n = counted_trials(study)
            self.hooks.progress(min(n, self.trials), self.trials, f"{n} of {self.trials} trials")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def __enter__(self) -> "TrialWatcher":
        study = self._open()
        if study is not None:  # a continued study: report only what this run adds
            self.seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        self._thread = threading.Thread(target=self._run, name="nas-trial-watcher", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()  # the last trials


def check_config(config: SearchConfig) -> None:
    """One-line errors for names no registry knows (evaluator, strategy, backend, platform)."""
    if config.evaluator not in evaluator_names():
        raise UserError(f"--evaluator: unknown {config.evaluator!r} (known: {', '.join(evaluator_names())})")
    default_strategies().get(config.sampler_name)
    get_backend(config.backend).check(config)
    get_platform(config.platform)  # unknown platform: one line listing the known ones
    if config.measure_on:  # a wrong token ends here, in one line; an agent away now is measured once it is back
        try:
            AgentClient(config.measure_on).describe()
        except AgentUnavailable:
            pass


def study_attrs(ctx: SearchContext, profile: Any) -> dict[str, Any]:
    """What a new study stores besides its config: the platform, its profile's held-out error, the proxy task."""
    return {"platform": profile.platform.to_dict(), "profile_evaluation": profile.evaluation,
            "profile_method": profile.evaluation_method, "profile_provenance_source": profile.provenance.get("source"),
            "proxy_task": ctx.data.task.to_dict(), "num_classes": ctx.dataset.num_classes}


def search(config: SearchConfig, storage: str | None = None, study_name: str | None = None, *, verify: bool = True,
           hooks: Hooks = Hooks()) -> SearchResults:
    """Run (or continue) the search of `config` in `storage` (default ./nas-studies.db) and read it back."""
    check_config(config)
    ctx = SearchContext(config)
    ctx.evaluator.check_data(ctx.data)  # e.g. a supernet trained on another proxy task: one line, nothing stored
    profile = ensure_profile(config.platform, progress=hooks.profile_progress)
    if config.predictor is not None:
        profile.predictor(config.predictor)
    name = study_name or config.default_study_name()
    url = storage_url(storage)
    run = SearchRun(config, url, name, study_attrs(ctx, profile), ctx)
    try:
        with TrialWatcher(url, name, config.trials, hooks):
            get_backend(config.backend).run(run)
        study = load_study(url, name, writable=True)
        if config.references != "none":
            evaluate_references(study, ctx, progress=hooks.progress)
        res = load_results(study, display_storage(storage))
        if verify:  # on this machine, with the loop's measurer when it has one (its frame network kept prepared)
            local = ctx.measurer if isinstance(ctx.measurer, LocalMeasurer) else None
            verify_pareto(study, res, progress=hooks.measure_progress, measurer=local)
            res = load_results(load_study(url, name), display_storage(storage))
    finally:
        ctx.close()
    return res
