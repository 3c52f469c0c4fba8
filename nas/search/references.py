"""Hand-designed references in every study: the registered ShuffleNet-V2-family networks that fit the budget
(by predicted latency, or by FLOPs for a FLOPs budget) and the nearest one above it, evaluated with the study's
own evaluator (same proxy task, seed and fidelity as the best found network) and stored as tagged trials: not
sampled, not counted in --trials, shown on the same accuracy axis as the found front.

Only networks the proxy task can train the same way as the candidates are evaluated (ShuffleNet v2 style
ArchSpecs: the proxy keeps the body and adapts the stem to small images); the other Table 8 families stay on the
latency axis of the dashboard.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nas.search.record import EVALUATED, REFERENCE_TAG, RUNNING, CostSummary, TrialRecord, load_records
from nas.search.results import best_within_budget
from nas.search.trial import SearchContext
from search_space.progress import ProgressFn
from search_space.references import NETWORKS
from search_space.spec import ArchSpec


def choose_references(ctx: SearchContext) -> list[tuple[str, ArchSpec]]:
    """The ArchSpec references (at the deployment input and class count) within the budget, and the nearest one
    above it: by the platform's predicted latency for a latency budget, by multiply-adds (MFLOPs, as the
    records count them) for a FLOPs budget."""
    cfg = ctx.config
    budget = cfg.budget
    specs = []
    for name in NETWORKS.names():
        spec = NETWORKS.get(name).spec()
        if isinstance(spec, ArchSpec):
            specs.append((name, spec.with_resolution(cfg.resolution).with_classes(ctx.dataset.num_classes)))

    def figure(spec: ArchSpec) -> float:
        return ctx.estimate(spec).latency_ms if budget.is_latency else CostSummary.of(spec).flops_m

    ranked = sorted(((figure(s), n, s) for n, s in specs), key=lambda t: t[0])
    within = [(n, s) for v, n, s in ranked if v <= budget.value]
    above = [(n, s) for v, n, s in ranked if v > budget.value][:1]
    return within + above


def evaluate_references(study: Any, ctx: SearchContext, progress: ProgressFn | None = None) -> list[TrialRecord]:
    """Evaluate the study's references not stored yet (at the rung of the best found network) and store them
    as tagged, uncounted trials; returns every reference record of the study."""
    import optuna

    config = ctx.config
    records = load_records(study)
    stored = {r.reference: r for r in records if r.reference}
    found = [r for r in records if r.reference is None and r.status == EVALUATED]
    best = best_within_budget(found)
    rung = best.rung if best is not None else 0
    chosen = choose_references(ctx)
    for i, (name, spec) in enumerate(chosen):
        if name in stored and stored[name].rung == rung:
            continue
        if progress:
            progress(i, len(chosen), f"reference {name}")
        predicted = ctx.estimate(spec)
        measured = ctx.measurer.measure(spec) if ctx.measurer is not None else None
        rec = TrialRecord.candidate(spec, predicted, config.budget, backend="reference", measured=measured)
        rec = replace(rec, status=RUNNING, tags=(f"{REFERENCE_TAG}{name}",), rung=rung)  # evaluated whatever its latency
        rec = ctx.evaluate(rec)
        state = optuna.trial.TrialState
        study.add_trial(optuna.trial.create_trial(
            state=state.COMPLETE if rec.status == EVALUATED else state.FAIL,
            values=rec.objective_values(config.pareto) if rec.status == EVALUATED else None,
            user_attrs=rec.to_attrs(), system_attrs={f"constraints:{rec.constraint_name}": rec.constraint}))
        stored[name] = rec
    return [r for r in load_records(study) if r.reference]
