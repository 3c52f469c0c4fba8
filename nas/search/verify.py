"""Measured verification: after a search on a platform measurable here, time its Pareto members (and its best
within the budget, which under a FLOPs budget or several rungs need not be one of them) on the device, the way the
loop measures (with the drift reference, or put on the budget's time frame)."""

from __future__ import annotations

from typing import Any

from latency_models.timings import now_iso
from nas.search.measuring import Measurer, make_measurer
from nas.search.record import ATTR_MEASURED, measurement_entry
from nas.search.results import SearchResults, load_results
from search_space.progress import ProgressFn
from search_space.spec import spec_from_json


def verify_pareto(study: Any, results: SearchResults, progress: ProgressFn | None = None,
                  max_rounds: int = 5, measurer: Measurer | None = None) -> dict[str, Any]:
    """Measure the Pareto members and the best within the budget not measured yet and store both figures in the
    study (attribute ATTR_MEASURED).

    Measured latencies can reorder the front and bring in members that were dominated by predictions, so
    this repeats (up to `max_rounds`) until every member of the front is a measured one.
    """
    measured: dict[str, Any] = dict(study.user_attrs.get(ATTR_MEASURED, {}))
    own = measurer is None
    measurer = make_measurer(results.config.platform, None, results.config.budget.frame) if own else measurer
    if measurer is None:
        return measured
    try:
        return _verify(study, results, measurer, measured, progress, max_rounds)
    finally:
        if own:
            measurer.close()


def _verify(study: Any, results: SearchResults, measurer: Measurer, measured: dict[str, Any],
            progress: ProgressFn | None, max_rounds: int) -> dict[str, Any]:
    for _ in range(max_rounds):
        shown = list(results.pareto) + ([results.best] if results.best is not None else [])
        todo = list({r.number: r for r in shown if r.measured is None and str(r.number) not in measured}.values())
        if not todo:
            break
        for i, rec in enumerate(todo):
            if progress:
                progress(i, len(todo), f"measuring Pareto member {rec.arch_id}")
            est = measurer.measure(spec_from_json(rec.spec))
            if est is None:
                break
            measured[str(rec.number)] = measurement_entry(est, rec.predicted.latency_ms, now_iso())
            study.set_user_attr(ATTR_MEASURED, measured)  # one by one: an interruption keeps what was measured
        results = load_results(study, results.storage)
    return measured
