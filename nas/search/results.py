"""Reading a search back from its study: candidates, the Pareto front, the best network within the budget.

Every latency here says whether it is measured or predicted: a Pareto member measured on the device after the
search carries both figures (study attribute "measured"), and the measured one is what is shown and judged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nas.search.config import SearchConfig
from nas.search.objective import STATUS_EVALUATED
from nas.search.study import stored_config

ATTR_MEASURED = "measured"


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture of a study."""

    number: int
    arch_id: str
    accuracy: float
    accuracy_metric: str
    latency_ms: float
    latency_kind: str
    predicted_ms: float
    measured_ms: float | None
    measured_cv: float | None
    platform: str
    runtime: str
    predictor_error_rmspe: float | None
    flops_m: float
    params_m: float
    spec: str
    feasible: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        import json

        d = asdict(self)
        d["spec"] = json.loads(self.spec)
        return d


@dataclass(frozen=True)
class SearchResults:
    study: str
    storage: str
    config: SearchConfig
    candidates: tuple[Candidate, ...]
    pareto: tuple[Candidate, ...]
    best: Candidate | None
    counts: dict[str, int]


def candidate_of(trial: Any, budget_ms: float, measured: dict[str, Any]) -> Candidate:
    a = trial.user_attrs
    m = measured.get(str(trial.number))
    predicted = float(a["latency_ms"])
    shown, kind = (float(m["latency_ms"]), "measured") if m else (predicted, "predicted")
    ev = a.get("evaluation", {})
    metric = ("validation accuracy after short proxy training" if ev.get("kind") == "trained"
              else f"{ev.get('evaluator', 'proxy')} score (zero-cost proxy, not an accuracy)")
    return Candidate(
        number=trial.number, arch_id=a["arch_id"], accuracy=float(trial.values[0]),
        accuracy_metric=metric,
        latency_ms=shown, latency_kind=kind, predicted_ms=predicted,
        measured_ms=float(m["latency_ms"]) if m else None, measured_cv=float(m["cv"]) if m else None,
        platform=a.get("latency_platform", ""), runtime=a.get("latency_runtime", ""),
        predictor_error_rmspe=a.get("predictor_error_rmspe"), flops_m=float(a.get("flops_m", 0.0)),
        params_m=float(a.get("params_m", 0.0)), spec=a["spec"], feasible=shown <= budget_ms)


def pareto_front(cands: list[Candidate]) -> list[Candidate]:
    """Non-dominated candidates (higher accuracy, lower shown latency), one per architecture, by latency."""
    best_per_arch: dict[str, Candidate] = {}
    for c in cands:
        if c.arch_id not in best_per_arch or c.accuracy > best_per_arch[c.arch_id].accuracy:
            best_per_arch[c.arch_id] = c
    unique = sorted(best_per_arch.values(), key=lambda c: (c.latency_ms, -c.accuracy))
    front, best_acc = [], float("-inf")
    for c in unique:
        if c.accuracy > best_acc:
            front.append(c)
            best_acc = c.accuracy
    return front


def load_results(study: Any, storage_label: str) -> SearchResults:
    import optuna

    config = stored_config(study)
    measured = study.user_attrs.get(ATTR_MEASURED, {})
    trials = study.get_trials(deepcopy=False)
    cands = [candidate_of(t, config.budget_ms, measured) for t in trials
             if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get("status") == STATUS_EVALUATED]
    front = pareto_front(cands)
    feasible = [c for c in front if c.feasible]
    best = max(feasible, key=lambda c: (c.accuracy, -c.latency_ms)) if feasible else None
    counts: dict[str, int] = {}
    for t in trials:
        status = t.user_attrs.get("status") or t.state.name.lower()
        key = "rejected" if status.startswith("rejected") else status
        counts[key] = counts.get(key, 0) + 1
    return SearchResults(study.study_name, storage_label, config, tuple(cands), tuple(front), best, counts)
