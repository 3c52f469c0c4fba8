"""Helpers of the export / train tests: a tiny network spec, and a real study (synflow search) with extra trials."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from search_space.spec import ArchSpec, UnitSpec, uniform_stages

BUDGET_MS = 30.0


def tiny_spec(resolution: int = 32, classes: int = 10) -> ArchSpec:
    """A small ShuffleNet-V2-style network (16/32/64 wide, one unit per stage but the second) that trains fast."""
    return ArchSpec(stages=uniform_stages((16, 32, 64), (1, 2, 1), UnitSpec(kernel=3)), stem=(8,), head_width=64,
                    resolution=resolution, num_classes=classes, stem_stride=1, stem_pool=False, name="tiny")


def write_spec(path: Path, spec: ArchSpec | None = None) -> Path:
    path.write_text((spec or tiny_spec()).to_json(indent=2))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_study(root: Path, data_dir: Path, resolution: int = 32) -> tuple[Path, str, dict[str, int]]:
    """A study as `nas search` stores it (its own create_or_resume / TrialRecord, the shipped arm profile), with
    synflow-scored trials at a small deployment input: three evaluated (one with a measured latency), one rejected
    (over budget), one failed with a spec and one failed without. Returns (db, study name, trial number by kind)."""
    import numpy as np
    import optuna

    from latency_models.profiles import require_profile
    from nas.data.proxy import ProxyTask
    from nas.search.config import SearchConfig
    from nas.evaluators import EvalResult
    from nas.search.record import TrialRecord
    from nas.search.study import create_or_resume
    from search_space.space import SearchSpace

    db = root / "study.db"
    config = SearchConfig(platform="arm", budget_ms=BUDGET_MS, evaluator="synflow", dataset=f"fashion-mnist:{data_dir}",
                          resolution=resolution, proxy_resolution=32, trials=4)
    profile = require_profile("arm")
    task = ProxyTask(dataset=f"fashion-mnist:{data_dir}", resolution=32, channels=3, num_classes=10,
                     train_examples=540, val_examples=60, test_examples=200, val_fraction=0.1, seed=0,
                     mean=(0.2,) * 3, std=(0.3,) * 3, source_channels=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_HOME", str(root / "home"))
        study = create_or_resume(config, str(db), "s", extra_attrs={
            "platform": profile.platform.to_dict(), "proxy_task": task.to_dict(), "num_classes": 10})
    space = SearchSpace.default().with_fixed(resolution=resolution, num_classes=10, in_channels=3)
    rng = np.random.default_rng(0)
    state = optuna.trial.TrialState
    numbers: dict[str, int] = {}

    def add(kind: str, status: str | None, value: float | None, **extra) -> None:
        spec = space.sample(rng)
        est = profile.estimate(spec)
        if "latency_ms" in extra:
            est = replace(est, latency_ms=extra["latency_ms"])
        rec = TrialRecord.candidate(spec, est, BUDGET_MS)
        if status == "evaluated":
            rec = rec.evaluated(EvalResult(evaluator="synflow", kind="zero-cost proxy", metric="synflow score",
                                           accuracy=None, score=value, seed=0, steps=0, epochs=0.0,
                                           train_seconds=0.1, history=(), params_m=0.1, proxy_arch_id="x"))
        elif status == "failed":
            rec = rec.failed(extra["failure"])
        attrs = {} if kind == "nospec" else rec.to_attrs()
        trial = optuna.trial.create_trial(state=state.FAIL if value is None else state.COMPLETE, value=value,
                                          user_attrs=attrs)
        study.add_trial(trial)
        numbers[kind] = len(study.get_trials()) - 1

    add("evaluated", "evaluated", 3e10)
    add("best", "evaluated", 9e12)
    add("measured", "evaluated", 1e9)
    add("rejected", "rejected: predicted latency over budget", 0.0, latency_ms=BUDGET_MS + 5.0)
    add("failed", "failed", None, failure="EvaluationError: training loss is nan")
    add("nospec", None, None)
    study.set_user_attr("measured", {str(numbers["measured"]): {
        "latency_ms": 12.5, "cv": 0.02, "noisy": False, "predicted_ms": 3.0, "platform": "arm",
        "runtime": "paper-arm-neon"}})
    return db, "s", numbers


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


#: Session fixtures imported by several test modules are set up once per module; this keeps one copy per session.
_MADE: dict[tuple[str, str], object] = {}


@pytest.fixture(scope="session")
def study_db(tmp_path_factory, tiny_idx_dir) -> tuple[Path, str, dict[str, int]]:
    """(db, study name, trial numbers by status) of make_study; tests must not change it (export reads only)."""
    key = ("study", str(tmp_path_factory.getbasetemp()))
    if key not in _MADE:
        _MADE[key] = make_study(tmp_path_factory.mktemp("study"), tiny_idx_dir)
    return _MADE[key]  # type: ignore[return-value]


def tiny_setup(data_dir: Path, epochs: int = 1, seed: int = 0, **recipe):
    """A RunSetup training tiny_spec on the tiny IDX dataset at 32 px, batch 64."""
    from nas.data import load_dataset
    from nas.views.source import source_from_arch
    from nas.views.train import Recipe, RunSetup

    dataset = load_dataset(f"fashion-mnist:{data_dir}").spec
    recipe = Recipe(epochs=epochs, batch_size=64, **recipe).resolved(dataset, 32)
    return RunSetup(source=source_from_arch(tiny_spec(), "tiny.json"), dataset=dataset, resolution=32, seed=seed,
                    train_examples=None, recipe=recipe)


def train_tiny(out_dir: Path, data_dir: Path, epochs: int = 1, **kw):
    """Train tiny_spec for `epochs` on one thread into out_dir; returns the TrainResult."""
    from nas.views.train import prepare_data, prepare_out_dir, train_network

    setup = tiny_setup(data_dir, epochs, **kw)
    prepare_out_dir(out_dir, resume=False)
    return train_network(setup, prepare_data(setup), out_dir, threads=1)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, tiny_idx_dir) -> Path:
    """A folder of `nas train` output: tiny_spec trained one epoch on the tiny dataset (final.pt, metrics.json)."""
    key = ("trained", str(tmp_path_factory.getbasetemp()))
    if key not in _MADE:
        out = tmp_path_factory.mktemp("trained") / "run"
        train_tiny(out, tiny_idx_dir)
        _MADE[key] = out
    return _MADE[key]  # type: ignore[return-value]
