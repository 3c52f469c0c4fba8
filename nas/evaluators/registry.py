"""The evaluator registry: name -> factory(config=None, **overrides) -> Evaluator; duplicate names raise."""

from __future__ import annotations

from typing import Any, Callable

from search_space.registry import Registry

from nas.evaluators.base import Evaluator, SearchSettings
from nas.evaluators.training import TrainingEvaluator
from nas.evaluators.zero_cost import NaswotEvaluator, SynflowEvaluator

EvaluatorFactory = Callable[..., Evaluator]
DEFAULT_EVALUATOR = "train"


def default_evaluators() -> Registry[EvaluatorFactory]:
    """A fresh registry with the built-in evaluators: train (short training), synflow, naswot (zero-cost proxies)."""
    reg: Registry[EvaluatorFactory] = Registry("evaluator")
    for cls in (TrainingEvaluator, SynflowEvaluator, NaswotEvaluator):
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


def evaluator_label(name: str, registry: Registry[EvaluatorFactory] | None = None) -> str:
    """What evaluator `name`'s value means (its `label`); the name itself for one no longer registered."""
    reg = registry if registry is not None else default_evaluators()
    return getattr(reg.get(name), "label", name) if name in reg else name
