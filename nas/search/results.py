"""Reading a search back from its study: its records, the Pareto front, the best network within the budget.

Every latency here says whether it is measured or predicted: a Pareto member measured on the device after the
search carries both figures, and the measured one is what is shown and judged (TrialRecord.latency).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from nas.search.config import SearchConfig
from nas.search.record import EVALUATED, TrialRecord, load_records
from nas.search.study import stored_config


@dataclass(frozen=True)
class Versus:
    """The best found network against the best reference within the budget (by the budget's kind: latency or
    FLOPs): accuracy gain (points of the evaluator's value), latency ratio (found / reference, shown latencies)
    and FLOPs ratio (found / reference multiply-adds)."""

    name: str
    accuracy_gain: float
    latency_ratio: float
    flops_ratio: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "accuracy_gain": self.accuracy_gain, "latency_ratio": self.latency_ratio,
                "flops_ratio": self.flops_ratio}


@dataclass(frozen=True)
class SearchResults:
    """A study read back: `candidates` are its evaluated trials, `pareto` their front (by shown latency),
    `best` the most accurate front member within the budget; `counts` trials by status."""

    study: str
    storage: str
    config: SearchConfig
    records: tuple[TrialRecord, ...]
    candidates: tuple[TrialRecord, ...]
    pareto: tuple[TrialRecord, ...]
    best: TrialRecord | None
    counts: dict[str, int]
    references: tuple[TrialRecord, ...] = ()
    versus: Versus | None = None


def pareto_front(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Non-dominated records (higher value, lower shown latency), one per architecture, by latency."""
    best_per_arch: dict[str, TrialRecord] = {}
    for r in records:  # per architecture its highest-fidelity evaluation (the best one at that rung)
        if r.value is None:
            continue
        b = best_per_arch.get(r.arch_id)
        if b is None or (r.rung, r.value) > (b.rung, b.value):  # type: ignore[operator]
            best_per_arch[r.arch_id] = r
    unique = sorted(best_per_arch.values(), key=lambda r: (r.latency_ms, -(r.value or 0.0)))
    front, best = [], float("-inf")
    for r in unique:
        if r.value is not None and r.value > best:
            front.append(r)
            best = r.value
    return front


def best_within_budget(records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The most accurate evaluated record within the budget (by its kind: shown latency, or MFLOPs), among the
    highest multi-fidelity rung reached."""
    feasible = [r for r in records if r.within_budget and r.value is not None]
    if not feasible:
        return None
    top = max(r.rung for r in feasible)
    return max((r for r in feasible if r.rung == top), key=lambda r: (r.value, -r.latency_ms))


def status_counts(study: Any, records: Sequence[TrialRecord]) -> dict[str, int]:
    """Searched trials by status (references apart); trials without a record are queued (waiting) or running."""
    counts: dict[str, int] = {}
    for r in records:
        if r.reference is None:
            counts[r.status] = counts.get(r.status, 0) + 1
    with_record = {r.number for r in records}
    for t in study.get_trials(deepcopy=False):
        if t.number not in with_record:
            key = "queued" if t.state.name == "WAITING" else t.state.name.lower()
            counts[key] = counts.get(key, 0) + 1
    return counts


def load_results(study: Any, storage_label: str) -> SearchResults:
    config = stored_config(study)
    records = load_records(study)
    cands = [r for r in records if r.status == EVALUATED and r.state == "COMPLETE" and r.evaluation is not None
             and r.reference is None]
    refs = [r for r in records if r.reference is not None]
    front = pareto_front(cands)
    best = best_within_budget(cands)
    return SearchResults(study.study_name, storage_label, config, tuple(records), tuple(cands), tuple(front),
                         best, status_counts(study, records), tuple(refs),
                         versus_reference(best, refs))


def versus_reference(best: TrialRecord | None, references: Sequence[TrialRecord]) -> Versus | None:
    """The best found network against the most accurate reference within the budget (None without both); a
    FLOPs budget judges the references by their multiply-adds (TrialRecord.within_budget)."""
    fit = [r for r in references if r.within_budget and r.value is not None and r.status == EVALUATED]
    if best is None or best.value is None or not fit:
        return None
    ref = max(fit, key=lambda r: (r.value, -r.latency_ms))
    return Versus(ref.reference or ref.arch_id, best.value - ref.value,  # type: ignore[operator]
                  best.latency_ms / ref.latency_ms,
                  best.cost.flops_m / ref.cost.flops_m if ref.cost.flops_m > 0 else None)
