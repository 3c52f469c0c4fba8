"""Finals: retrain a study's top found networks and its best reference within the budget from scratch with one
full recipe and several seeds, and judge them by the mean test accuracy (not by their proxy score).

Each run is a `nas train` run in OUT/trial<N>-seed<S> (resumable: a finished run is read back, an interrupted
one continues from its checkpoint), and the study keeps the figures in its attribute ATTR_FINALS, written
after every run, so an interrupted `nas finalize` loses nothing and a rerun continues.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from nas.search.record import EVALUATED, TrialRecord, load_records
from nas.search.results import best_within_budget
from nas.search.storage import storage_url
from nas.search.study import load_study
from nas.views.source import Source, source_from_study
from nas.views.train.checkpoint import CHECKPOINT_FILE, FINAL_FILE, METRICS_FILE
from nas.views.train.loop import plan_run, resume_run, train_network
from nas.views.train.recipe import Recipe
from search_space.progress import ProgressFn

ATTR_FINALS = "finals"


@dataclass(frozen=True)
class Final:
    """One finalist: its trial, what it is (a found network or the reference `name`), the test accuracy of each
    seed, their mean and sample standard deviation, its latency (with its kind), its multiply-adds (MFLOPs) and
    whether it is within the study's budget (latency or FLOPs, by the budget's kind)."""

    trial: int
    arch_id: str
    kind: str
    name: str
    seeds: tuple[int, ...]
    test_accuracy: tuple[float, ...]
    proxy_value: float | None
    latency_ms: float
    latency_kind: str
    within_budget: bool
    epochs: int
    flops_m: float | None = None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.test_accuracy) if self.test_accuracy else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.test_accuracy) if len(self.test_accuracy) > 1 else math.nan

    @property
    def stderr(self) -> float:
        return self.std / math.sqrt(len(self.test_accuracy)) if len(self.test_accuracy) > 1 else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": self.mean, "std": self.std, "stderr": self.stderr}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Final":
        names = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in names}
        kw["seeds"], kw["test_accuracy"] = tuple(kw["seeds"]), tuple(kw["test_accuracy"])
        return cls(**kw)


def finalists(records: list[TrialRecord], k: int) -> list[TrialRecord]:
    """The `k` most accurate distinct found networks within the budget (at the highest rung reached first) and
    the most accurate reference within the budget that the study evaluated."""
    found = [r for r in records if r.reference is None and r.status == EVALUATED and r.within_budget
             and r.value is not None]
    found.sort(key=lambda r: (-r.rung, -(r.value or 0.0), r.latency_ms))
    top: list[TrialRecord] = []
    for r in found:
        if r.arch_id not in {t.arch_id for t in top}:
            top.append(r)
        if len(top) == k:
            break
    refs = best_within_budget([r for r in records if r.reference is not None and r.status == EVALUATED])
    return top + ([refs] if refs is not None else [])


def stored_finals(study: Any) -> dict[int, Final]:
    return {int(n): Final.from_dict(d) for n, d in (study.user_attrs.get(ATTR_FINALS) or {}).items()}


def seed_run(source_of: Callable[[], Source], run_dir: str | Path, seed: int, recipe: Recipe,
             train_examples: int | None = None, threads: int | None = None, progress: ProgressFn | None = None,
             dataset: str | None = None, resolution: int | None = None) -> float:
    """Test accuracy of the network of `source_of()` trained with `recipe` and `seed` in `run_dir`: a finished run
    is read back, an interrupted one continues from its checkpoint, else a new one starts (the source is only
    opened then). The same run as `nas train --out run_dir --seed S [--dataset D --resolution R]`: by default
    on the study's dataset at its proxy input (fashion-mnist at 32 px for an --arch network)."""
    run_dir = Path(run_dir)
    if (run_dir / FINAL_FILE).is_file():
        acc = json.loads((run_dir / METRICS_FILE).read_text())["final"]["test_accuracy"]
        return float(acc if acc is not None else math.nan)
    if (run_dir / CHECKPOINT_FILE).is_file():
        setup, checkpoint, data = resume_run(run_dir, {})
    else:
        setup, data = plan_run(source_of(), dataset, resolution, seed, train_examples, recipe)
        checkpoint = None
        run_dir.mkdir(parents=True, exist_ok=True)
    result = train_network(setup, data, run_dir, checkpoint=checkpoint, threads=threads, progress=progress)
    return float(result.test_accuracy if result.test_accuracy is not None else math.nan)


def _one_run(storage: str | None, study_name: str, rec: TrialRecord, seed: int, recipe: Recipe, out: Path,
             train_examples: int | None, threads: int | None, progress: ProgressFn | None) -> float:
    """Test accuracy of trial `rec` trained with `recipe` and `seed` in its own folder (read back, resumed or new)."""
    return seed_run(lambda: source_from_study(storage, study_name, trial=rec.number),
                    out / f"trial{rec.number}-seed{seed}", seed, recipe, train_examples, threads, progress)


def finalize(storage: str | None, study_name: str, *, top: int, seeds: int, recipe: Recipe, out: str | Path,
             train_examples: int | None = None, threads: int | None = None,
             progress: ProgressFn | None = None) -> list[Final]:
    """Train the finalists with `seeds` seeds each (see the module docstring); returns them, best mean first."""
    study = load_study(storage_url(storage), study_name, writable=True)
    out = Path(out).expanduser().absolute()
    chosen = finalists(load_records(study), top)
    finals = stored_finals(study)
    for rec in chosen:
        accs: list[float] = []
        for seed in range(seeds):
            if progress:
                progress(0, 1, f"trial {rec.number} seed {seed}")
            accs.append(_one_run(storage, study_name, rec, seed, recipe, out, train_examples, threads, progress))
            finals[rec.number] = Final(rec.number, rec.arch_id, "reference" if rec.reference else "found",
                                       rec.reference or rec.arch_id, tuple(range(len(accs))), tuple(accs), rec.value,
                                       rec.latency_ms, rec.latency.kind, rec.within_budget, recipe.epochs,
                                       rec.cost.flops_m)
            study.set_user_attr(ATTR_FINALS, {str(n): f.to_dict() for n, f in finals.items()})
    return sorted((finals[r.number] for r in chosen), key=lambda f: -f.mean)
