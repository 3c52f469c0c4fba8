"""nas.search.references: one network per family within the budget plus the nearest above, scored like the
candidates (every Table 8 family through the proxy rule), left out where the evaluator scores no such family."""

from __future__ import annotations

import optuna

from nas.search.config import SearchConfig
from nas.search.record import EVALUATED, load_records
from nas.search.references import choose_references, evaluate_references
from nas.search.trial import SearchContext
from search_space.references import NETWORKS
from search_space.spec import ArchSpec, BaselineSpec


def _ctx(tiny_idx_dir, **kw) -> SearchContext:
    return SearchContext(SearchConfig(platform="arm", budget_ms=20.0, dataset=f"fashion-mnist:{tiny_idx_dir}",
                                      train_examples=64, val_examples=32, **kw))


def test_one_network_per_family_within_the_budget_and_the_nearest_above(tiny_idx_dir):
    ctx = _ctx(tiny_idx_dir)
    chosen = choose_references(ctx)
    latency = {n: ctx.estimate(s).latency_ms for n, s in chosen}
    within = [n for n in latency if latency[n] <= 20.0]
    families = [NETWORKS.get(n).family for n in within]
    assert len(families) == len(set(families)) and len(within) == len(chosen) - 1
    assert any(isinstance(s, BaselineSpec) for n, s in chosen if n in within)  # other families take part
    for name in within:  # nothing larger of its family fits
        family = NETWORKS.get(name).family
        for other in NETWORKS.names():
            spec = NETWORKS.get(other).spec().with_resolution(224).with_classes(10)
            if NETWORKS.get(other).family == family:
                est = ctx.estimate(spec).latency_ms
                assert not (latency[name] < est <= 20.0), (name, other)
    above = chosen[-1][0]
    assert latency[above] > 20.0
    everything = [ctx.estimate(NETWORKS.get(n).spec().with_resolution(224).with_classes(10)).latency_ms
                  for n in NETWORKS.names()]
    assert latency[above] == min(v for v in everything if v > 20.0)


class _ShuffleNetOnly:
    def scores_family(self, spec) -> bool:
        return isinstance(spec, ArchSpec)


def test_families_the_evaluator_does_not_score_are_left_out(tiny_idx_dir):
    ctx = _ctx(tiny_idx_dir)
    ctx._evaluators[0] = _ShuffleNetOnly()  # what the supernet evaluator says
    chosen = choose_references(ctx)
    assert chosen and all(isinstance(s, ArchSpec) for _, s in chosen)


def test_a_study_scores_other_families_like_its_candidates(tiny_idx_dir):
    ctx = _ctx(tiny_idx_dir, evaluator="synflow")
    study = optuna.create_study(directions=["maximize"])
    refs = evaluate_references(study, ctx)
    by_name = {r.reference: r for r in refs}
    assert set(by_name) == {n for n, _ in choose_references(ctx)}
    baselines = [r for r in refs if isinstance(r.net_spec(), BaselineSpec)]
    assert baselines and all(r.status == EVALUATED and r.value is not None for r in baselines)
    assert all(r.tags and r.reference for r in load_records(study))
    again = evaluate_references(study, ctx)  # stored ones are not evaluated twice
    assert len(study.trials) == len(refs) == len(again)
