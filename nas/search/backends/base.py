"""The search backend interface: run (or continue) a study until it has `config.trials` counted trials."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from nas.search.config import SearchConfig
from nas.search.record import TrialRecord
from nas.search.trial import SearchContext


@dataclass(frozen=True)
class SearchRun:
    """One invocation of a search: its settings, the storage URL, the study name, the study's extra
    attributes (platform, profile, proxy task: written once, when the study is created) and the context."""

    config: SearchConfig
    storage: str
    study_name: str
    extra_attrs: dict[str, Any] = field(default_factory=dict)
    #: This process's data, space, profile and evaluator, built once (worker processes build their own).
    context: SearchContext | None = None

    def ctx(self) -> SearchContext:
        return self.context if self.context is not None else SearchContext(self.config)


class SearchBackend(ABC):
    """Runs trials of a study. The study (an Optuna storage) is the source of truth: a backend writes each trial's
    TrialRecord as it finishes, and a rerun of the same command continues from what is stored."""

    name: ClassVar[str]

    def check(self, config: SearchConfig) -> None:
        """Refuse, with a SearchConfigError naming the option, settings this backend cannot honour."""

    @abstractmethod
    def run(self, run: SearchRun) -> None:
        """Run trials until the study has `run.config.trials` counted trials or the time-out passes."""


def write_record(storage: Any, trial_id: int, record: TrialRecord) -> None:
    """Store a trial's record (the one writer of trial attributes)."""
    for key, value in record.to_attrs().items():
        storage.set_trial_user_attr(trial_id, key, value)
