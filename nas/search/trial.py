"""One trial, the same on every backend: build the candidate from the sampler's answers, estimate its latency and
check the budget (TrialRecord.candidate), then evaluate it with intermediate reports; every outcome is a record."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

from latency_models.estimate import LatencyEstimate
from latency_models.profiles import Profile, require_profile
from nas.data import load_dataset, prepare_proxy
from nas.evaluators import Evaluator, Pruned, SearchSettings, search_evaluator
from nas.search.config import SearchConfig
from nas.search.measuring import LoopCalibration, Measurer, local_measurer, measured_records
from nas.search.record import TrialRecord
from search_space.space import Dim, SearchSpace
from search_space.spec import ArchSpec

#: The constraint name the samplers see (latency over the budget, ms; <= 0 is feasible).
CONSTRAINT = "latency_over_budget_ms"

Ask = Callable[[Dim], Any]
#: report(step, value) -> True when the trial should stop (pruner / scheduler).
Report = Callable[[int, float], bool]


def suggest(trial: Any, dim: Dim) -> Any:
    """One search-space dimension through an Optuna trial (int ranges stay ordinal)."""
    if dim.is_int_range:
        return trial.suggest_int(dim.name, dim.low, dim.high, step=dim.step)
    return trial.suggest_categorical(dim.name, list(dim.choices))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


@dataclass
class SearchContext:
    """What every trial of a process needs, built once: the space, the latency profile, data and evaluator."""

    config: SearchConfig

    @cached_property
    def dataset(self) -> Any:
        return load_dataset(self.config.dataset)

    @cached_property
    def data(self) -> Any:
        c = self.config
        return prepare_proxy(self.dataset, resolution=c.proxy_resolution, channels=3, max_train=c.train_examples,
                             max_val=c.val_examples, seed=c.seed)

    @cached_property
    def space(self) -> SearchSpace:
        return SearchSpace.default().with_fixed(resolution=self.config.resolution,
                                                num_classes=self.dataset.num_classes, in_channels=3)

    @cached_property
    def profile(self) -> Profile:
        return require_profile(self.config.platform)

    @cached_property
    def evaluator(self) -> Evaluator:
        threads = max(1, (os.cpu_count() or 1) // max(1, self.config.workers))
        settings = SearchSettings(threads=threads, epochs=self.config.epochs, options=self.config.evaluator_options)
        return search_evaluator(self.config.evaluator, settings)

    def estimate(self, spec: ArchSpec) -> LatencyEstimate:
        return self.profile.estimate(spec, self.config.predictor)

    @cached_property
    def measurer(self) -> Measurer | None:
        """Where candidates are timed before training (None: the platform cannot be measured from here)."""
        if not self.config.measure_in_loop:
            return None
        return local_measurer(self.config.platform)

    # ------------------------------------------------------------------------------------------ the trial
    def candidate(self, ask: Ask, backend: str, study: Any = None) -> TrialRecord:
        """The architecture the sampler chose, its latency and the budget check (rejected or running).

        With a measurer, the candidate is measured unless the prediction, corrected by the study's measured
        candidates, is beyond its error band over the budget (then rejected unmeasured); an unreachable device
        leaves the decision to the corrected prediction, labelled predicted."""
        spec = self.space.build(ask)
        predicted = self.estimate(spec)
        budget = self.config.budget_ms
        if self.measurer is None:
            return TrialRecord.candidate(spec, predicted, budget, backend=backend)
        records = measured_records(study) if study is not None else []
        cal = LoopCalibration.from_records(records, self.profile.error(self.config.predictor))
        loop = dict(loop_factor=cal.factor, loop_spread=cal.spread)
        if cal.clearly_over(predicted.latency_ms, budget):
            return TrialRecord.candidate(spec, predicted, budget, backend=backend, **loop)
        start = time.perf_counter()
        measured = self.measurer.measure(spec)
        return TrialRecord.candidate(spec, predicted, budget, backend=backend, measured=measured,
                                     measure_s=time.perf_counter() - start, **loop)

    def evaluate(self, record: TrialRecord, report: Report | None = None) -> TrialRecord:
        """Evaluate an accepted candidate: evaluated, pruned (a report asked to stop) or failed (with the reason).
        KeyboardInterrupt / SystemExit propagate (the caller marks the trial interrupted)."""
        try:
            result = self.evaluator.evaluate(record.net_spec(), self.data, seed=self.config.seed, report=report)
        except Pruned as exc:
            return record.pruned(exc.step, exc.value)
        except Exception as exc:  # noqa: BLE001 - recorded as a failed trial with its reason; the search goes on
            return record.failed(first_line(exc))
        return record.evaluated(result)
