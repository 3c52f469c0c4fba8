"""The experiments by name, and `run_experiment`: resolve the platform, apply the config, run, write outputs."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Callable

from experiments.config import ExperimentConfig, RunSettings, load_config
from experiments.context import Context, load_average
from latency_models.timings import now_iso
from search_space.progress import ProgressFn
from experiments.outputs import ExperimentResult, write_outputs
from experiments.target import default_out_dir, resolve_target
from search_space.registry import Registry


@dataclass(frozen=True)
class Experiment:
    """A registered study: its name, the module holding `run(ctx) -> ExperimentResult`, and whether it times
    anything on this machine (then the platform's runtime must be usable here)."""

    name: str
    module: str
    measures: bool = True

    def runner(self) -> Callable[[Context], ExperimentResult]:
        return import_module(self.module).run  # type: ignore[no-any-return]

    def config(self) -> ExperimentConfig:
        return load_config(self.name)


EXPERIMENTS: Registry[Experiment] = Registry("experiment")
for _name in ("guidelines", "units", "networks"):
    EXPERIMENTS.add(_name, Experiment(_name, f"experiments.{_name}"))
EXPERIMENTS.add("predictor", Experiment("predictor", "experiments.predictor", measures=False))


def list_experiments() -> list[ExperimentConfig]:
    """The config of every registered experiment (read from its JSON file now)."""
    return [EXPERIMENTS.get(n).config() for n in EXPERIMENTS.names()]


def run_experiment(name: str, settings: RunSettings, progress: ProgressFn | None = None,
                   config: ExperimentConfig | None = None, write: bool = True) -> ExperimentResult:
    """Run experiment `name` for `settings.platform`; write its outputs to `settings.out_dir` (default
    experiments/results/<platform tag>) unless `write` is False."""
    exp = EXPERIMENTS.get(name)
    cfg = settings.apply(config or exp.config())
    target = resolve_target(settings.platform, check_backend=exp.measures)
    ctx = Context(cfg, settings, target, progress, now_iso(), load_average())
    result = exp.runner()(ctx)
    if write:
        write_outputs(result, Path(settings.out_dir) if settings.out_dir else default_out_dir(target),
                      settings.plotlyjs)
    return result
