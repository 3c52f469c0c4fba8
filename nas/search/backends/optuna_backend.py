"""The Optuna backend: trials in this process, or in several worker processes sharing one storage (Optuna's own
distributed mode: `nas search` started in several terminals or on several machines with the same --storage and
--study-name works the same way)."""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from dataclasses import replace
from typing import Any

from nas.search.backends.base import SearchBackend, SearchRun, write_record
from nas.search.config import SearchConfig
from nas.search.fidelity import rung_of
from nas.search.record import FAILED, PRUNED, REJECTED, TrialRecord
from nas.search.recovery import Heartbeat, requeue, retry_of
from nas.search.session import StopWhenDone, counted_trials, open_search_study, quiet_optuna
from nas.search.strategies import make_sampler
from nas.search.study import create_or_resume
from nas.search.trial import SearchContext, suggest


class TrialFailed(Exception):
    """The evaluation failed (its reason is in the record); Optuna stores the trial as FAIL and goes on."""


class _RecordedFailures(logging.Filter):
    """Drops Optuna's warnings about a trial that failed with TrialFailed (its traceback, then 'failed with value
    None'): the reason is in the trial's record and `nas search` prints it in the trial's one line. Only TrialFailed
    is caught by the loop, so no other failure is hidden (any other exception ends the search with its message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is TrialFailed:
            return False
        message = record.getMessage()
        return not (message.startswith("Trial ") and message.endswith(" failed with value None."))


def quiet_failures() -> None:
    """Install _RecordedFailures on the handlers of Optuna's library logger (its child loggers' records reach
    only those handlers, not the logger's own filters); once per process."""
    for handler in logging.getLogger("optuna").handlers:
        if not any(isinstance(f, _RecordedFailures) for f in handler.filters):
            handler.addFilter(_RecordedFailures())


class Objective:
    """Callable for `study.optimize`: one trial = one architecture. Picklable (state is rebuilt per process)."""

    def __init__(self, config: SearchConfig, heartbeat: Heartbeat | None = None, ctx: SearchContext | None = None):
        self.config = config
        self.heartbeat = heartbeat
        self._ctx = ctx

    @property
    def ctx(self) -> SearchContext:
        if self._ctx is None:
            self._ctx = SearchContext(self.config)
        return self._ctx

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "heartbeat": None, "_ctx": None}

    def __call__(self, trial: Any) -> float | list[float]:
        if self.heartbeat is not None:
            self.heartbeat.add(trial._trial_id)
        try:
            return self._run(trial)
        finally:
            if self.heartbeat is not None:
                self.heartbeat.remove(trial._trial_id)

    def _run(self, trial: Any) -> float | list[float]:
        import optuna

        cfg, ctx = self.config, self.ctx
        rec = ctx.candidate(lambda d: suggest(trial, d), backend="optuna", study=trial.study, index=rung_of(trial))
        rec = replace(rec, retry_of=retry_of(trial))
        write_record(trial.storage, trial._trial_id, rec)
        trial.set_constraint(rec.constraint_name, rec.constraint)
        if rec.status == REJECTED:  # rejected before any training; the constraint tells the sampler why
            return self._values(rec)

        def report(step: int, value: float) -> bool:
            if cfg.pareto:  # Optuna does not prune multi-objective trials
                return False
            trial.report(value, step)
            return trial.should_prune()

        try:
            rec = ctx.evaluate(rec, report)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: the trial is redone by the next run
            write_record(trial.storage, trial._trial_id, rec.interrupted(f"stopped ({type(exc).__name__})"))
            requeue(trial.study, trial.study._storage.get_trial(trial._trial_id))
            raise
        write_record(trial.storage, trial._trial_id, rec)
        if rec.status == PRUNED:
            raise optuna.TrialPruned(f"pruned at step {rec.pruned_at[0]}")  # type: ignore[index]
        if rec.status == FAILED:
            raise TrialFailed(rec.failure)
        return self._values(rec)

    def _values(self, rec: TrialRecord) -> float | list[float]:
        values = rec.objective_values(self.config.pareto)
        return values if self.config.pareto else values[0]


def optimize(config: SearchConfig, storage: str, study_name: str, index: int, ctx: SearchContext | None = None
             ) -> None:
    """Trials in this process until the study has config.trials counted ones (worker `index` seeds its sampler)."""
    quiet_optuna()
    quiet_failures()
    study = create_or_resume(config, storage, study_name)
    study.sampler = make_sampler(config, 1000 * index + counted_trials(study))  # no replay of earlier draws
    with Heartbeat(study._storage) as beat:
        study.optimize(Objective(config, beat, ctx), n_trials=None, timeout=config.timeout_s, catch=(TrialFailed,),
                       gc_after_trial=True, callbacks=[StopWhenDone(config)])


def _worker(config: SearchConfig, storage: str, study_name: str, index: int) -> None:
    optimize(config, storage, study_name, index)


class OptunaBackend(SearchBackend):
    """Optuna's optimize loop; `--workers N` > 1 starts N processes on the same storage."""

    name = "optuna"

    def run(self, run: SearchRun) -> None:
        config = run.config
        quiet_optuna()
        ctx = run.ctx()
        study = open_search_study(ctx, run.storage, run.study_name, run.extra_attrs)
        already = counted_trials(study)
        if already >= config.trials:
            return
        if config.workers == 1:
            optimize(config, run.storage, run.study_name, 0, ctx)
            return
        spawn = mp.get_context("spawn")
        procs = [spawn.Process(target=_worker, args=(config, run.storage, run.study_name, i + 1), daemon=False)
                 for i in range(config.workers)]
        for p in procs:
            p.start()
        try:
            while any(p.is_alive() for p in procs):
                time.sleep(0.5)
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                p.join()
        failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
        if failed and counted_trials(study) == already:
            raise RuntimeError(f"search workers exited with codes {failed} before finishing any trial")
