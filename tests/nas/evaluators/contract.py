"""The contract every registered evaluator meets (shared by test_registry.py and evaluators tested with fixtures of
their own, such as the supernet evaluator, which needs a trained supernet file)."""

from __future__ import annotations

import json
import math

from nas.evaluators import EvalResult, Evaluator


def check_contract(ev: Evaluator, name: str, spec, data) -> EvalResult:
    """Evaluate `spec` on `data` with `ev` (registered as `name`) and check the interface's promises."""
    assert isinstance(ev, Evaluator) and ev.name == name
    reports = []
    r = ev.evaluate(spec, data, seed=0, report=lambda s, v: reports.append(v) or False)
    assert isinstance(r, EvalResult) and (r.evaluator, r.kind, r.metric) == (ev.name, ev.kind, ev.metric)
    assert math.isfinite(r.value) and r.seed == 0
    assert (r.accuracy is not None) == (ev.kind != "zero-cost proxy")  # trained and weight-sharing give accuracies
    json.dumps(r.to_dict()), json.dumps(ev.describe())
    assert all(math.isfinite(v) for v in reports)
    return r
