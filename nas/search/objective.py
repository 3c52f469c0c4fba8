"""The trial objective: sample an architecture, predict its latency, reject it if over budget, else estimate
its accuracy on the proxy task. Shared by the Optuna and the Ray Tune backends."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

from latency_models.estimate import LatencyEstimate
from latency_models.profiles import Profile, require_profile
from nas.data import load_dataset, prepare_proxy
from nas.evaluators import Evaluator, Pruned, make_evaluator
from nas.search.config import SearchConfig
from search_space.cost import cost
from search_space.space import Dim, SearchSpace
from search_space.spec import ArchSpec

CONSTRAINT = "latency_over_budget_ms"
STATUS_REJECTED = "rejected: predicted latency over budget"
STATUS_EVALUATED = "evaluated"
STATUS_PRUNED = "pruned"
STATUS_FAILED = "failed"


def suggest(trial: Any, dim: Dim) -> Any:
    """One search-space dimension through an Optuna trial (int ranges stay ordinal)."""
    if dim.is_int_range:
        return trial.suggest_int(dim.name, dim.low, dim.high, step=dim.step)
    return trial.suggest_categorical(dim.name, list(dim.choices))


def candidate_attrs(spec: ArchSpec, est: LatencyEstimate, budget_ms: float) -> dict[str, Any]:
    """What a trial stores about its architecture and latency, so a study is self-describing."""
    c = cost(spec)
    return {
        "arch_id": spec.arch_id, "spec": spec.to_json(), "flops_m": round(c.flops_m, 4),
        "params_m": round(c.params_m, 5), "mac_m": round(c.mac_m, 4), "fragments": c.fragments,
        "latency_ms": est.latency_ms, "latency_kind": est.kind, "latency_platform": est.platform,
        "latency_runtime": est.runtime, "latency_batch": est.batch, "latency_resolution": est.resolution,
        "latency_source": est.source, "predictor": est.predictor, "predictor_error_rmspe": est.error_rmspe,
        "extrapolates": est.extrapolates, "budget_ms": budget_ms,
    }


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
        if self.config.evaluator == "train":
            return make_evaluator("train", threads=threads, epochs=self.config.epochs)
        return make_evaluator(self.config.evaluator)

    def estimate(self, spec: ArchSpec) -> LatencyEstimate:
        return self.profile.estimate(spec, self.config.predictor)


class Objective:
    """Callable for `study.optimize`: one trial = one architecture. Picklable (state is rebuilt per process)."""

    def __init__(self, config: SearchConfig):
        self.config = config
        self._ctx: SearchContext | None = None

    @property
    def ctx(self) -> SearchContext:
        if self._ctx is None:
            self._ctx = SearchContext(self.config)
        return self._ctx

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "_ctx": None}

    def __call__(self, trial: Any) -> float | tuple[float, float]:
        import optuna

        cfg, ctx = self.config, self.ctx
        spec = ctx.space.build(lambda d: suggest(trial, d))
        est = ctx.estimate(spec)
        for key, value in candidate_attrs(spec, est, cfg.budget_ms).items():
            trial.set_user_attr(key, value)
        over = est.latency_ms - cfg.budget_ms
        trial.set_constraint(CONSTRAINT, over)
        pareto = cfg.objective == "pareto"
        if over > 0:  # rejected before any training; the constraint tells the sampler why
            trial.set_user_attr("status", STATUS_REJECTED)
            return (0.0, est.latency_ms) if pareto else 0.0

        def report(step: int, value: float) -> bool:
            if pareto:  # Optuna does not prune multi-objective trials
                return False
            trial.report(value, step)
            return trial.should_prune()

        try:
            result = ctx.evaluator.evaluate(spec, ctx.data, seed=cfg.seed, report=report)
        except Pruned as exc:
            trial.set_user_attr("status", STATUS_PRUNED)
            trial.set_user_attr("pruned_at", {"step": exc.step, "value": exc.value})
            raise optuna.TrialPruned(f"pruned at step {exc.step} ({exc.value:.4f})") from None
        except Exception as exc:  # recorded as a failed trial with its reason; the search goes on
            trial.set_user_attr("status", STATUS_FAILED)
            trial.set_user_attr("failure", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
            raise
        trial.set_user_attr("status", STATUS_EVALUATED)
        trial.set_user_attr("evaluation", {k: v for k, v in result.to_dict().items() if k != "history"})
        trial.set_user_attr("evaluation_history", result.history)
        return (result.value, est.latency_ms) if pareto else result.value

    def evaluate_params(self, params: dict[str, Any], report: Callable[[int, float], bool] | None = None
                        ) -> dict[str, Any]:
        """The same trial from a parameter dict (the Ray Tune path): returns the attributes and the value."""
        ctx = self.ctx
        spec = ctx.space.from_params(params)
        est = ctx.estimate(spec)
        attrs = candidate_attrs(spec, est, self.config.budget_ms)
        if est.latency_ms > self.config.budget_ms:
            return {**attrs, "status": STATUS_REJECTED, "value": 0.0}
        result = ctx.evaluator.evaluate(spec, ctx.data, seed=self.config.seed, report=report)
        return {**attrs, "status": STATUS_EVALUATED, "value": result.value,
                "evaluation": {k: v for k, v in result.to_dict().items() if k != "history"},
                "evaluation_history": result.history}
