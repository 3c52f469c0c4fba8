"""The evaluator interface: `Evaluator.evaluate(spec, data, seed=..., report=...) -> EvalResult`, and its signals.

An evaluator estimates how good an architecture is on the proxy task of a dataset (nas/data). Trained evaluators
return a validation accuracy in [0, 1]; zero-cost proxies return a score (no accuracy) and say so in `kind`.
`report(step, value)` lets a search stop weak trials early: when it returns True the evaluator raises `Pruned`
(the search layer maps it to `optuna.TrialPruned` / a Ray scheduler stop). A numerically broken trial raises
`EvaluationError`, which the search records as a failed trial.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any, Callable, ClassVar

import torch

from latency_models.backends.torch_cpu import torch_threads  # noqa: F401  (one implementation, shared)

from search_space.errors import UserError
from search_space.spec import ArchSpec, NetSpec

from nas.data.proxy import ProxyData

#: `report(step, value) -> should_prune`: called with intermediate validation values; True stops the trial.
Report = Callable[[int, float], bool]


class EvaluationError(RuntimeError):
    """The evaluation broke down numerically (NaN/inf loss or score); `step` says where (None if not a step)."""

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


class Pruned(Exception):
    """The `report` callback asked to stop: raised with the last reported step and value and the history so far."""

    def __init__(self, step: int, value: float, history: tuple[tuple[int, float], ...] = ()):
        super().__init__(f"pruned at step {step} (value {value:.4f})")
        self.step = step
        self.value = value
        self.history = history


class ConfigError(UserError, ValueError):
    """An evaluator configuration value is invalid; the message starts with the field name."""


def check_known_options(config_cls: type, given: dict[str, Any], what: str) -> None:
    """ConfigError naming the first option in `given` that the dataclass `config_cls` has no field for."""
    names = {f.name for f in fields(config_cls)}
    extra = sorted(set(given) - names)
    if extra:
        raise ConfigError(f"{extra[0]}: unknown {what} option (known: {', '.join(sorted(names))})")


@dataclass(frozen=True)
class EvalResult:
    """What one evaluation found.

    `accuracy`: top-1 validation accuracy in [0, 1] (trained evaluators; None for zero-cost proxies).
    `score`: the proxy's score (zero-cost proxies; equals `accuracy` for trained ones). `steps`: optimiser steps,
    `epochs`: passes over the proxy training split (fractional when a step cap cut one short), `train_seconds`:
    wall clock of the whole evaluation (build, training, validation, or scoring), `history`: (step, value) of every
    validation (intermediate and final), `params_m`: parameters of the evaluated (proxy) network in millions,
    `proxy_arch_id`: the arch_id of that network (see nas.evaluators.proxy_net.proxy_spec), `train_loss`: mean
    training loss over the steps after the previous validation (trained evaluators only), `train_examples`: images
    of the training split it saw (with `epochs`, the fidelity of the score; 0 for zero-cost proxies).
    """

    evaluator: str
    kind: str
    metric: str
    accuracy: float | None
    score: float
    seed: int
    steps: int
    epochs: float
    train_seconds: float
    history: tuple[tuple[int, float], ...]
    params_m: float
    proxy_arch_id: str
    train_loss: float | None = None
    train_examples: int = 0

    def __post_init__(self) -> None:
        if not self.kind or not isinstance(self.kind, str):
            raise ValueError(f"kind must be a non-empty string, got {self.kind!r}")
        if self.accuracy is not None and not 0.0 <= self.accuracy <= 1.0:
            raise ValueError(f"accuracy {self.accuracy} outside [0, 1]")
        object.__setattr__(self, "history", tuple((int(s), float(v)) for s, v in self.history))

    @property
    def value(self) -> float:
        """The number a search maximises: the accuracy when trained, else the proxy score."""
        return self.accuracy if self.accuracy is not None else self.score

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (history as a list of [step, value] pairs)."""
        d = asdict(self)
        d["history"] = [[s, v] for s, v in self.history]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EvalResult":
        """Inverse of to_dict."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["history"] = tuple((int(s), float(v)) for s, v in d.get("history", ()))
        return cls(**kw)


@dataclass(frozen=True)
class SearchSettings:
    """What a search tells every evaluator: torch `threads` per trial, `epochs` of proxy training (trained
    evaluators), and `options` by evaluator-specific name (e.g. a supernet file), from `nas search` options."""

    threads: int = 1
    epochs: int = 1
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)


class Evaluator(ABC):
    """Estimates the quality of an architecture on a proxy task; see the module docstring for the contract."""

    name: ClassVar[str]
    kind: ClassVar[str]
    metric: ClassVar[str]
    #: What the value means to a reader, e.g. "validation accuracy after short proxy training".
    label: ClassVar[str]
    config: Any

    @classmethod
    def for_search(cls, settings: "SearchSettings") -> "Evaluator":
        """The evaluator as a search runs it (each evaluator takes from `settings` what applies to it)."""
        return cls(threads=settings.threads)  # type: ignore[call-arg]

    @classmethod
    def search_options(cls, given: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        """The evaluator-specific options a search stores (from `nas search` flags, None: not given), checked and
        completed (e.g. a file's content hash); ConfigError in one line for options this evaluator does not take."""
        extra = sorted(k for k, v in given.items() if v is not None)
        if extra:
            raise ConfigError(f"--{extra[0].replace('_', '-')} does not apply to --evaluator {cls.name}")
        return ()

    def check_data(self, data: ProxyData) -> None:
        """ConfigError (one line) when this evaluator cannot evaluate on `data` (checked once, before a search)."""

    def scores_family(self, spec: NetSpec) -> bool:
        """Whether this evaluator scores networks of `spec`'s kind at all (a study's references of other kinds
        are left out instead of being stored as failures). Every proxy-network evaluator scores every family."""
        return True

    @abstractmethod
    def evaluate(self, spec: NetSpec, data: ProxyData, *, seed: int, report: Report | None = None) -> EvalResult:
        """Evaluate the deployment `spec` through the proxy network on `data`; deterministic for a seed."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for a study record: name, kind, metric and the config's fields."""
        config = asdict(self.config) if is_dataclass(self.config) else {}
        return {"name": self.name, "kind": self.kind, "metric": self.metric, "config": config}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def params_m(model: torch.nn.Module) -> float:
    """Trainable parameters in millions."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6


def check_finite(value: float, what: str, step: int | None = None) -> float:
    """`value` if finite, else EvaluationError naming `what` (and the step)."""
    if not math.isfinite(value):
        where = f" at step {step}" if step is not None else ""
        raise EvaluationError(f"{what} is {value}{where}", step)
    return value
