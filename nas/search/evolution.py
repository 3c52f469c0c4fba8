"""Regularized (ageing) evolution with tournament selection (Real et al. 2019; the search of SPOS) as an Optuna
sampler, so it runs on every backend that asks the study's sampler.

Stateless across processes: the population is read from the study at each new trial (the last `population_size`
finished trials that are evaluated and feasible, by trial number: the oldest die), so a rerun, a resumed study or
several workers on one storage continue the same evolution. A trial's child (its full parameter dict, parents and
mutated dimensions) is decided at its first `sample_independent` call and stored in its system attribute
ATTR_CHILD. Every random choice of a trial comes from a generator seeded with (seed, trial number): the same seed
on the same study gives the same trials, whichever process or sampler instance proposes them.

The search space is define-by-run (a stage's depth decides which unit dimensions exist), so the child is a
parameter dict, not a fixed vector: each asked dimension gets the child's value when it lies in the asked
distribution, and a random value otherwise (e.g. units added by a mutated depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import optuna
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from nas.search.config import SearchConfig
from nas.search.record import EVALUATED, TrialRecord

#: Trial system attribute: {"params": child params, "parents": [trial numbers], "mutated": [names],
#: "crossover": bool}, written when the child is decided.
ATTR_CHILD = "evolution:child"
#: Finished states whose parameters count as "already tried" (a running trial's parameters may be partial).
_TRIED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class _Pending:
    """What the sampler keeps for a trial between its parameter calls (rebuilt from storage when missing)."""

    random: RandomSampler
    child: dict[str, Any] | None


def feasible(trial: FrozenTrial) -> bool:
    """A finished, evaluated trial within its constraints: a `nas search` record (if any) says evaluated and within
    the budget, and every constraint (`constraints:<name>` system attributes, or Optuna's `constraints` list)
    is <= 0."""
    if trial.state != TrialState.COMPLETE or not trial.values or \
            not all(math.isfinite(v) for v in trial.values):
        return False
    attrs = trial.system_attrs
    for key, value in attrs.items():
        if key.startswith("constraints:") and float(value) > 0:
            return False
    if any(float(c) > 0 for c in attrs.get("constraints") or ()):
        return False
    rec = TrialRecord.from_trial(trial)
    return rec is None or (rec.status == EVALUATED and rec.within_budget)


def in_distribution(dist: BaseDistribution, value: Any) -> bool:
    """Whether `value` is a member of `dist` (a stored child value against the distribution asked now)."""
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class RegularizedEvolutionSampler(BaseSampler):
    """Ageing evolution: population = the last `population_size` feasible evaluated trials; each child is the
    winner of a tournament of `sample_size` random members, uniformly crossed (probability `crossover_prob`) with
    a second winner, then mutated (each dimension with probability `mutation_prob`, default 1/number of
    dimensions, at least one; integer ranges move to a neighbouring value or anywhere, half and half).

    Random (a seeded RandomSampler per trial) for trial numbers below `n_startup_trials` (default: the population
    size; queued start-up trials are part of it) and while fewer than `min_population` (default: `sample_size`)
    feasible trials exist. Pareto (multi-objective) studies select on Pareto rank: the number of population
    members that dominate a member (fewer is better; ties go to the one drawn first). A child identical to a tried
    parameter set is re-drawn up to `max_retries` times.
    """

    def __init__(self, population_size: int = 16, sample_size: int = 4, crossover_prob: float = 0.5,
                 mutation_prob: float | None = None, n_startup_trials: int | None = None,
                 min_population: int | None = None, max_retries: int = 10, seed: int | None = None):
        if population_size < 2:
            raise ValueError(f"population_size must be at least 2, got {population_size}")
        if not 1 <= sample_size <= population_size:
            raise ValueError(f"sample_size must be in 1..population_size ({population_size}), got {sample_size}")
        if not 0.0 <= crossover_prob <= 1.0:
            raise ValueError(f"crossover_prob must be in [0, 1], got {crossover_prob}")
        if mutation_prob is not None and not 0.0 < mutation_prob <= 1.0:
            raise ValueError(f"mutation_prob must be in (0, 1], got {mutation_prob}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
        self.n_startup_trials = population_size if n_startup_trials is None else n_startup_trials
        self.min_population = max(1, sample_size if min_population is None else min_population)
        self.max_retries = max(0, max_retries)
        self._seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else int(seed) % 2**32
        self._trials: dict[tuple[int, int], _Pending] = {}

    # ------------------------------------------------------------------------------------------ sampler API
    def reseed_rng(self) -> None:
        self._seed = int(np.random.SeedSequence().entropy % 2**32)
        self._trials.clear()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        state = self._state(study, trial)
        if state.child is not None and param_name in state.child:
            value = state.child[param_name]
            if in_distribution(param_distribution, value):
                return value
        return state.random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._trials.pop((study._study_id, trial._trial_id), None)

    # ------------------------------------------------------------------------------------------ population
    def population(self, study: optuna.Study, before: int | None = None) -> list[FrozenTrial]:
        """The living population: the last `population_size` feasible evaluated trials by number (those numbered
        below `before` when given)."""
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if (before is None or t.number < before) and feasible(t)]
        done.sort(key=lambda t: t.number)
        return done[-self.population_size:]

    def _rng(self, trial: FrozenTrial) -> np.random.Generator:
        return np.random.default_rng([self._seed, trial.number])

    def _state(self, study: optuna.Study, trial: FrozenTrial) -> _Pending:
        key = (study._study_id, trial._trial_id)
        if key not in self._trials:
            rng = self._rng(trial)
            random = RandomSampler(seed=int(rng.integers(2**32)))
            attrs = trial.system_attrs
            stored = attrs.get(ATTR_CHILD)
            if stored is not None:  # decided earlier (another process, or this one before a restart)
                child = dict(stored["params"])
            elif "fixed_params" in attrs or trial.number < self.n_startup_trials:
                child = None  # a queued trial's missing parameters, or the random start-up
            else:
                child = self._reproduce(study, trial, rng)
            self._trials[key] = _Pending(random, child)
        return self._trials[key]

    def _reproduce(self, study: optuna.Study, trial: FrozenTrial, rng: np.random.Generator) -> dict[str, Any] | None:
        """The child of `trial` from the study's population (None while it is too small), stored in ATTR_CHILD."""
        pop = self.population(study, before=trial.number)
        if len(pop) < self.min_population:
            return None
        ranks = _ranks(pop, study.directions)
        tried = [t.params for t in study.get_trials(deepcopy=False, states=_TRIED) if t.params]
        child: dict[str, Any] = {}
        info: dict[str, Any] = {}
        for _ in range(self.max_retries + 1):
            first = self._tournament(pop, ranks, rng)
            parents = [pop[first]]
            crossed = False
            if len(pop) > 1 and rng.random() < self.crossover_prob:
                second = self._tournament(pop, ranks, rng, exclude=first)
                parents.append(pop[second])
                child, crossed = _crossover(parents[0], parents[1], rng), True
            else:
                child = dict(parents[0].params)
            mutated = self._mutate(child, parents[0], rng)
            info = {"parents": [p.number for p in parents], "mutated": mutated, "crossover": crossed}
            if not any(_same(child, p) for p in tried):
                break
        child = {k: _python(v) for k, v in child.items()}
        study._storage.set_trial_system_attr(trial._trial_id, ATTR_CHILD, {"params": child, **info})
        return child

    def _tournament(self, pop: list[FrozenTrial], ranks: list[float], rng: np.random.Generator,
                    exclude: int | None = None) -> int:
        """Index of the best of `sample_size` distinct random members (lowest rank; first drawn on ties)."""
        pool = [i for i in range(len(pop)) if i != exclude]
        k = min(self.sample_size, len(pool))
        drawn = [pool[int(i)] for i in rng.choice(len(pool), size=k, replace=False)]
        return min(drawn, key=lambda i: ranks[i])  # min keeps the first of equal ranks

    def _mutate(self, child: dict[str, Any], parent: FrozenTrial, rng: np.random.Generator) -> list[str]:
        """Resample dimensions of the structure parent in place (each with probability p, at least one); their
        names. Values come from the parent's distributions and always differ from the current value."""
        names = [n for n in parent.params if not parent.distributions[n].single()]
        if not names:
            return []
        p = self.mutation_prob if self.mutation_prob is not None else 1.0 / len(names)
        chosen = [n for n in names if rng.random() < p]
        if not chosen:
            chosen = [names[int(rng.integers(len(names)))]]
        for name in chosen:
            child[name] = _mutate_value(parent.distributions[name], child.get(name, parent.params[name]), rng)
        return chosen

    # ------------------------------------------------------------------------------------------ reporting
    def __repr__(self) -> str:
        return (f"RegularizedEvolutionSampler(population_size={self.population_size}, sample_size="
                f"{self.sample_size}, crossover_prob={self.crossover_prob}, seed={self._seed})")


def _ranks(pop: list[FrozenTrial], directions: Sequence[StudyDirection]) -> list[float]:
    """Selection key per member, lower is better: the negated value (single objective) or the number of members
    that dominate it (Pareto)."""
    signs = [1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions]
    keys = [[s * v for s, v in zip(signs, t.values)] for t in pop]
    if len(directions) == 1:
        return [k[0] for k in keys]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    return [float(sum(dominates(other, k) for other in keys)) for k in keys]


def _crossover(a: FrozenTrial, b: FrozenTrial, rng: np.random.Generator) -> dict[str, Any]:
    """Uniform crossover: each dimension of either parent from one of them at random (the only one having it, if
    only one has it; a dimension both have with incompatible distributions comes from `a`)."""
    child: dict[str, Any] = {}
    for name in list(a.params) + [n for n in b.params if n not in a.params]:
        if name in a.params and name in b.params:
            take_b = rng.random() < 0.5 and in_distribution(a.distributions[name], b.params[name])
            child[name] = b.params[name] if take_b else a.params[name]
        else:
            child[name] = a.params[name] if name in a.params else b.params[name]
    return child


def _mutate_value(dist: BaseDistribution, value: Any, rng: np.random.Generator) -> Any:
    """A different value of `dist`: categorical uniformly among the others; int / stepped float half the time a
    neighbouring grid value, else uniform over the rest; continuous float Gaussian (sigma 10% of the range) or
    uniform."""
    if isinstance(dist, CategoricalDistribution):
        others = [c for c in dist.choices if not (c == value and type(c) is type(value))]
        return others[int(rng.integers(len(others)))] if others else value
    if isinstance(dist, IntDistribution) or (isinstance(dist, FloatDistribution) and dist.step is not None):
        step = dist.step if dist.step is not None else 1
        n = int(round((dist.high - dist.low) / step)) + 1
        if n <= 1:
            return value
        try:
            cur = int(round((float(value) - dist.low) / step))
        except (TypeError, ValueError):
            cur = 0
        cur = min(max(cur, 0), n - 1)
        if rng.random() < 0.5:
            idx = cur + int(rng.choice([-1, 1]))
            idx = 1 if idx < 0 else n - 2 if idx >= n else idx  # reflect at the ends
        else:
            idx = int(rng.integers(n - 1))
            idx += idx >= cur
        out = dist.low + idx * step
        return int(out) if isinstance(dist, IntDistribution) else float(min(out, dist.high))
    if isinstance(dist, FloatDistribution):
        lo, hi = (math.log(dist.low), math.log(dist.high)) if dist.log else (dist.low, dist.high)
        x = math.log(value) if dist.log else float(value)
        y = x + rng.normal(0.0, 0.1 * (hi - lo)) if rng.random() < 0.5 else rng.uniform(lo, hi)
        y = min(max(y, lo), hi)
        return float(math.exp(y) if dist.log else y)
    return value


def _same(child: dict[str, Any], tried: dict[str, Any]) -> bool:
    """Whether proposing `child` reproduces the tried parameter set: a define-by-run space asks the same
    dimensions in the same order when every answer agrees, so agreeing on all of `tried`'s names suffices."""
    return all(name in child and child[name] == value and type(child[name]) is type(value)
               for name, value in tried.items())


def evolution_sampler(config: SearchConfig, seed: int) -> RegularizedEvolutionSampler:
    """The `evolution` strategy: population a third of --trials (8..32), tournaments of a quarter of it (at least
    3), so a short search evolves from the queued feasible start-up points (8 by default)."""
    population = min(32, max(8, config.trials // 3))
    return RegularizedEvolutionSampler(population_size=population, sample_size=max(3, population // 4), seed=seed)
