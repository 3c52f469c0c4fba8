"""Search strategies: name -> factory(config, seed) -> an Optuna sampler. Every backend asks the study's sampler
(Optuna in-process, and Ray Tune through the study's ask/tell), so a new strategy is one factory here or one
file registering a sampler class."""

from __future__ import annotations

from typing import Any, Callable

from nas.search.config import SearchConfig
from search_space.registry import Registry

SamplerFactory = Callable[[SearchConfig, int], Any]


def _tpe(config: SearchConfig, seed: int) -> Any:
    """Constrained TPE (the latency constraint is set per trial), multivariate over grouped dimensions."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8, multivariate=True, group=True)


def _nsga2(config: SearchConfig, seed: int) -> Any:
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed, population_size=12)


def _random(config: SearchConfig, seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _evolution(config: SearchConfig, seed: int) -> Any:
    """Regularized evolution with tournament selection (nas/search/evolution.py)."""
    from nas.search.evolution import evolution_sampler

    return evolution_sampler(config, seed)


def default_strategies() -> Registry[SamplerFactory]:
    """A fresh registry with the built-in strategies: tpe, nsga2, random, evolution."""
    reg: Registry[SamplerFactory] = Registry("search strategy")
    reg.add("tpe", _tpe)
    reg.add("nsga2", _nsga2)
    reg.add("random", _random)
    reg.add("evolution", _evolution)
    return reg


def strategy_names() -> list[str]:
    return default_strategies().names()


def make_sampler(config: SearchConfig, seed_offset: int = 0) -> Any:
    """The sampler of `config.sampler_name`, seeded with config.seed + seed_offset (UnknownNameError: one line)."""
    return default_strategies().get(config.sampler_name)(config, config.seed + seed_offset)
