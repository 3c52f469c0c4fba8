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
    """The most accurate evaluated record within the budget, among the highest multi-fidelity rung reached."""
    feasible = [r for r in records if r.within_budget and r.value is not None]
    if not feasible:
        return None
    top = max(r.rung for r in feasible)
    return max((r for r in feasible if r.rung == top), key=lambda r: (r.value, -r.latency_ms))


def status_counts(study: Any, records: Sequence[TrialRecord]) -> dict[str, int]:
    """Trials by status; trials without a record are queued (waiting) or running (just asked)."""
    counts: dict[str, int] = {}
    with_record = {r.number for r in records}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    for t in study.get_trials(deepcopy=False):
        if t.number not in with_record:
            key = "queued" if t.state.name == "WAITING" else t.state.name.lower()
            counts[key] = counts.get(key, 0) + 1
    return counts


def load_results(study: Any, storage_label: str) -> SearchResults:
    config = stored_config(study)
    records = load_records(study)
    cands = [r for r in records if r.status == EVALUATED and r.state == "COMPLETE" and r.evaluation is not None]
    front = pareto_front(cands)
    return SearchResults(study.study_name, storage_label, config, tuple(records), tuple(cands), tuple(front),
                         best_within_budget(cands), status_counts(study, records))


__all__ = ["SearchResults", "best_within_budget", "load_results", "pareto_front", "status_counts"]
