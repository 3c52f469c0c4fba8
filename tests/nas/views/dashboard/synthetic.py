"""A small hand-made study (no search run): every trial category, two measured trials, a known Pareto front."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from latency_models.profiles import require_profile
from nas.search.config import SearchConfig
from nas.evaluators import EvalResult
from nas.search.record import ATTR_MEASURED, TrialRecord
from nas.search.study import ATTR_CONFIG
from nas.search.trial import CONSTRAINT
from tests.nas.search.legacy import STATUS_REJECTED, legacy_attrs
from search_space.space import SearchSpace

BUDGET_MS = 25.0
#: trial -> (category, value, stored predicted ms, measured ms or None)
TRIALS = {
    0: ("dominated", 0.70, 20.0, None),
    1: ("dominated", 0.60, 22.0, None),
    2: ("pareto", 0.80, 24.0, None),
    3: ("rejected", 0.0, 30.0, None),
    4: ("over budget", 0.85, 23.0, 26.0),  # predicted within the budget, measured over it
    5: ("pruned", None, 21.0, None),
    6: ("failed", None, 19.0, None),
    7: ("pareto", 0.75, 18.0, 18.5),  # measured: shown at 18.5 ms
}
#: Pareto front within the budget in (value, shown ms), and its hypervolume with reference (0, 25 ms).
FRONT = [(0.75, 18.5), (0.80, 24.0)]
HYPERVOLUME = 0.75 * (24.0 - 18.5) + 0.80 * (25.0 - 24.0)


def evaluation(value: float) -> EvalResult:
    return EvalResult(evaluator="train", kind="trained", metric="val_accuracy", accuracy=value, score=value, seed=0,
                      steps=10, epochs=1.0, train_seconds=1.0, history=((10, value),), params_m=0.1,
                      proxy_arch_id="x", train_examples=100)


def make_study(path: Path, study_name: str = "synthetic", extra_trials: bool = True, legacy: bool = False) -> str:
    """Write the study into the SQLite file `path` (created); returns the storage argument (the path).

    legacy: trials as the flat attributes written before TrialRecord (today's readers must show the same)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = SearchConfig(platform="arm", budget_ms=BUDGET_MS, evaluator="train", dataset="fashion-mnist")
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name=study_name, directions=["maximize"])
    study.set_user_attr(ATTR_CONFIG, config.to_dict())
    study.set_user_attr("num_classes", 10)
    if not extra_trials:
        return str(path)
    profile = require_profile("arm")
    space = SearchSpace.default().with_fixed(resolution=224, num_classes=10, in_channels=3)
    rng = np.random.default_rng(0)
    measured = {}
    state = optuna.trial.TrialState
    for number, (category, value, predicted, meas) in TRIALS.items():
        spec = space.sample(rng)
        est = replace(profile.estimate(spec), latency_ms=predicted)
        kw = {"state": state.COMPLETE, "values": [value if value is not None else 0.0]}
        if category == "pruned":
            kw = {"state": state.PRUNED, "intermediate_values": {1: 0.3}}
        elif category == "failed":
            kw = {"state": state.FAIL}
        attrs = (_legacy(spec, est, category, value) if legacy else
                 _record(spec, est, category, value).to_attrs())
        trial = optuna.trial.create_trial(params={}, distributions={}, user_attrs=attrs,
                                          system_attrs={f"constraints:{CONSTRAINT}": predicted - BUDGET_MS}, **kw)
        study.add_trial(trial)
        if meas is not None:
            measured[str(number)] = {"latency_ms": meas, "cv": 0.01, "noisy": False, "predicted_ms": predicted,
                                     "platform": "arm", "runtime": "test"}
    study.set_user_attr(ATTR_MEASURED, measured)
    return str(path)


def _record(spec, est, category: str, value: float | None) -> TrialRecord:
    rec = TrialRecord.candidate(spec, est, BUDGET_MS)
    if category == "pruned":
        return rec.pruned(1, 0.3)
    if category == "failed":
        return rec.failed("RuntimeError: out of memory")
    if category == "rejected":
        return rec
    return rec.evaluated(evaluation(value))


def _legacy(spec, est, category: str, value: float | None) -> dict:
    attrs = legacy_attrs(spec, est, BUDGET_MS)
    if category == "rejected":
        attrs["status"] = STATUS_REJECTED
    elif category == "pruned":
        attrs.update(status="pruned", pruned_at={"step": 1, "value": 0.3})
    elif category == "failed":
        attrs.update(status="failed", failure="RuntimeError: out of memory")
    else:
        attrs.update(status="evaluated", evaluation={"evaluator": "train", "kind": "trained",
                                                     "metric": "val_accuracy", "accuracy": value})
    return attrs
