"""Hand-designed references in every study: of each registered family (ShuffleNet v2, MobileNet v1/v2,
ShuffleNet v1, Xception, DenseNet, IGCV2, IGCV3-D, CondenseNet, NASNet-A, PNASNet-5) the largest network that fits
the budget (by predicted latency, or by FLOPs for a FLOPs budget), and the nearest network above the budget,
evaluated with the study's own evaluator (same proxy task, seed and fidelity as the best found network) and stored
as tagged trials: not sampled, not counted in --trials, shown on the same accuracy axis as the found front.

One network per family keeps the cost bounded (at 146 MFLOPs fifteen registered networks fit; the largest of a
family is its strongest hand design within the budget). Every family trains through the same proxy network rule
(nas.evaluators.proxy_net: the body kept, the stem adapted to small images); an evaluator that cannot score a
family at all (the supernet holds only ShuffleNet-V2-style paths) leaves that family's networks out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nas.search.record import EVALUATED, REFERENCE_TAG, RUNNING, CostSummary, TrialRecord, load_records
from nas.search.results import best_within_budget
from nas.search.trial import SearchContext
from search_space.progress import ProgressFn
from search_space.references import NETWORKS
from search_space.spec import NetSpec


def choose_references(ctx: SearchContext) -> list[tuple[str, NetSpec]]:
    """The references (at the deployment input and class count): per registered family the largest within the
    budget, then the nearest one above it; by the platform's predicted latency for a latency budget, by
    multiply-adds (MFLOPs, as the records count them) for a FLOPs budget. Families the study's evaluator does not
    score are left out."""
    cfg = ctx.config
    budget = cfg.budget
    evaluator = ctx.evaluator

    def figure(spec: NetSpec) -> float:
        return ctx.estimate(spec).latency_ms if budget.is_latency else CostSummary.of(spec).flops_m

    ranked = []
    for name in NETWORKS.names():
        ref = NETWORKS.get(name)
        spec = ref.spec().with_resolution(cfg.resolution).with_classes(ctx.dataset.num_classes)
        if evaluator.scores_family(spec):
            ranked.append((figure(spec), name, ref.family, spec))
    ranked.sort(key=lambda t: t[0])
    largest: dict[str, tuple[float, str, NetSpec]] = {}
    for value, name, family, spec in ranked:  # a tie keeps the network registered first
        if value <= budget.value and value > largest.get(family, (-1.0,))[0]:
            largest[family] = (value, name, spec)
    within = [(n, s) for _, n, s in sorted(largest.values(), key=lambda t: t[0])]
    above = [(n, s) for v, n, _, s in ranked if v > budget.value][:1]
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
