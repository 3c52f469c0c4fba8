"""The evaluator registry: name -> factory(config=None, **overrides) -> Evaluator; duplicate names raise."""

from __future__ import annotations

from typing import Any, Callable

from search_space.registry import Registry

from nas.evaluators.base import ConfigError, Evaluator, SearchSettings
from nas.evaluators.supernet.evaluator import SupernetEvaluator
from nas.evaluators.training import TrainingEvaluator
from nas.evaluators.zero_cost import NaswotEvaluator, SynflowEvaluator

EvaluatorFactory = Callable[..., Evaluator]
DEFAULT_EVALUATOR = "train"


def default_evaluators() -> Registry[EvaluatorFactory]:
    """A fresh registry with the built-in evaluators: train (short training), synflow, naswot (zero-cost proxies),
    supernet (weights inherited from a trained supernet file)."""
    reg: Registry[EvaluatorFactory] = Registry("evaluator")
    for cls in (TrainingEvaluator, SynflowEvaluator, NaswotEvaluator, SupernetEvaluator):
        reg.add(cls.name, cls)
    return reg


def evaluator_names(registry: Registry[EvaluatorFactory] | None = None) -> list[str]:
    return (registry if registry is not None else default_evaluators()).names()


def make_evaluator(name: str = DEFAULT_EVALUATOR, config: Any = None,
                   registry: Registry[EvaluatorFactory] | None = None, **overrides: Any) -> Evaluator:
    """The evaluator registered as `name`, with `config` (its config dataclass) and/or field overrides.

    Unknown names raise UnknownNameError listing the known ones; unknown or bad options raise ConfigError.
    """
    factory = (registry if registry is not None else default_evaluators()).get(name)
    return factory(config, **overrides)


def search_evaluator(name: str, settings: SearchSettings,
                     registry: Registry[EvaluatorFactory] | None = None) -> Evaluator:
    """The evaluator `name` as a search trial runs it (see Evaluator.for_search); UnknownNameError lists names."""
    cls = (registry if registry is not None else default_evaluators()).get(name)
    return cls.for_search(settings)  # type: ignore[attr-defined]


def evaluator_search_options(name: str, given: dict[str, Any],
                             registry: Registry[EvaluatorFactory] | None = None) -> tuple[tuple[str, Any], ...]:
    """The options a search with evaluator `name` stores, from the flags `given` (see Evaluator.search_options);
    ConfigError naming --evaluator for a name no registry knows."""
    reg = registry if registry is not None else default_evaluators()
    if name not in reg:
        raise ConfigError(f"--evaluator: unknown {name!r} (known: {', '.join(reg.names())})")
    cls = reg.get(name)
    return cls.search_options(given)  # type: ignore[attr-defined]


def evaluator_label(name: str, registry: Registry[EvaluatorFactory] | None = None) -> str:
    """What evaluator `name`'s value means (its `label`); the name itself for one no longer registered."""
    reg = registry if registry is not None else default_evaluators()
    return getattr(reg.get(name), "label", name) if name in reg else name
