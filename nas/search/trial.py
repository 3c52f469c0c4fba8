"""One trial, the same on every backend: build the candidate from the sampler's answers, estimate its latency and
check the budget (TrialRecord.candidate), then evaluate it with intermediate reports; every outcome is a record."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable

from latency_models.estimate import LatencyEstimate
from latency_models.profiles import Profile, require_profile
from nas.data import load_dataset, prepare_proxy
from nas.evaluators import Evaluator, Pruned, SearchSettings, search_evaluator
from nas.search.config import SearchConfig
from nas.search.fidelity import rung
from nas.search.measuring import LoopCalibration, Measurer, make_measurer, measured_records
from nas.search.record import CONSTRAINT_NAMES, REJECTED, TrialRecord, load_records
from search_space.space import Dim, SearchSpace
from search_space.spec import ArchSpec

#: The constraint name the samplers see in a latency-budget study (latency over the budget, ms; <= 0 is feasible);
#: a FLOPs-budget study's is CONSTRAINT_FLOPS (MFLOPs over the budget). A record names its own: constraint_name.
CONSTRAINT = CONSTRAINT_NAMES["latency"]
CONSTRAINT_FLOPS = CONSTRAINT_NAMES["flops"]

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
    _evaluators: dict[int, Evaluator] = field(default_factory=dict, repr=False)
    _data: dict[int, Any] = field(default_factory=dict, repr=False)

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
        return self.evaluator_at(0)

    def evaluator_at(self, index: int) -> Evaluator:
        """The evaluator at multi-fidelity rung `index` (its epochs; rung 0 is the search's --epochs)."""
        if index not in self._evaluators:
            threads = max(1, (os.cpu_count() or 1) // max(1, self.config.workers))
            settings = SearchSettings(threads=threads, epochs=rung(self.config, index).epochs,
                                      options=self.config.evaluator_options)
            self._evaluators[index] = search_evaluator(self.config.evaluator, settings)
        return self._evaluators[index]

    def data_at(self, index: int) -> Any:
        """The proxy task's data at rung `index` (its growing training subset; the same validation split)."""
        if index == 0:
            return self.data
        if index not in self._data:
            c = self.config
            self._data[index] = prepare_proxy(self.dataset, resolution=c.proxy_resolution, channels=3,
                                              max_train=min(rung(c, index).train_examples, len(self.dataset.train)),
                                              max_val=c.val_examples, seed=c.seed)
        return self._data[index]

    def estimate(self, spec: ArchSpec) -> LatencyEstimate:
        return self.profile.estimate(spec, self.config.predictor)

    @cached_property
    def measurer(self) -> Measurer | None:
        """Where candidates are timed before training (None: the platform cannot be measured from here)."""
        if not self.config.measure_in_loop:
            return None
        return make_measurer(self.config.platform, self.config.measure_on, self.config.budget.frame)

    def close(self) -> None:
        """Free what the context keeps between trials (the measurer's prepared networks)."""
        measurer = self.__dict__.pop("measurer", None)
        if measurer is not None:
            measurer.close()

    # ------------------------------------------------------------------------------------------ the trial
    def candidate(self, ask: Ask, backend: str, study: Any = None, index: int = 0) -> TrialRecord:
        """The architecture the sampler chose, its latency and the budget check (rejected or running).

        With a measurer, the candidate is measured unless the prediction, corrected by the study's measured
        candidates, is beyond its error band over the budget (then rejected unmeasured); an unreachable device
        leaves the decision to the corrected prediction, labelled predicted. A candidate promoted to rung
        `index` > 0 keeps the latency figures of the trial it was promoted from (nothing is measured again).

        A FLOPs budget is decided by the multiply-adds alone; a candidate within it is still measured when there
        is a measurer, so the study shows what the FLOPs-guided choice costs on the device."""
        spec = self.space.build(ask)
        predicted = self.estimate(spec)
        budget = self.config.budget
        if index > 0 and study is not None:  # a promoted candidate: decided when it entered rung 0
            return self._promoted(spec, predicted, backend, study, index)
        if self.measurer is None:
            return TrialRecord.candidate(spec, predicted, budget, backend=backend)
        if not budget.is_latency:
            rec = TrialRecord.candidate(spec, predicted, budget, backend=backend)
            if rec.status == REJECTED:  # over the FLOPs budget: nothing to show on the device
                return rec
            start = time.perf_counter()
            measured = self.measurer.measure(spec)
            return TrialRecord.candidate(spec, predicted, budget, backend=backend, measured=measured,
                                         measure_s=time.perf_counter() - start)
        budget_ms = budget.value
        records = measured_records(study) if study is not None else []
        cal = LoopCalibration.from_records(records, self.profile.error(self.config.predictor))
        loop = dict(loop_factor=cal.factor, loop_spread=cal.spread)
        if cal.clearly_over(predicted.latency_ms, budget_ms):
            return TrialRecord.candidate(spec, predicted, budget, backend=backend, **loop)
        start = time.perf_counter()
        measured = self.measurer.measure(spec)
        return TrialRecord.candidate(spec, predicted, budget, backend=backend, measured=measured,
                                     measure_s=time.perf_counter() - start, **loop)

    def evaluate(self, record: TrialRecord, report: Report | None = None) -> TrialRecord:
        """Evaluate an accepted candidate: evaluated, pruned (a report asked to stop) or failed (with the reason).
        KeyboardInterrupt / SystemExit propagate (the caller marks the trial interrupted)."""
        try:
            evaluator = self.evaluator if record.rung == 0 else self.evaluator_at(record.rung)
            result = evaluator.evaluate(record.net_spec(), self.data_at(record.rung),
                                                             seed=self.config.seed, report=report)
        except Pruned as exc:
            return record.pruned(exc.step, exc.value)
        except Exception as exc:  # noqa: BLE001 - recorded as a failed trial with its reason; the search goes on
            return record.failed(first_line(exc))
        return record.evaluated(result)

    def _promoted(self, spec: ArchSpec, predicted: LatencyEstimate, backend: str, study: Any,
                  index: int) -> TrialRecord:
        source = next((r for r in reversed(load_records(study)) if r.arch_id == spec.arch_id
                       and r.measured is not None), None)
        rec = TrialRecord.candidate(spec, predicted, self.config.budget, backend=backend,
                                    measured=source.measured if source else None,
                                    loop_factor=source.loop_factor if source else None,
                                    loop_spread=source.loop_spread if source else None)
        return replace(rec, rung=index)
