"""Multi-fidelity successive halving: the best 1/eta of a rung train again, longer, on more images."""

from __future__ import annotations

import optuna
import pytest

from latency_models.estimate import LatencyEstimate
from nas.search.config import SearchConfig, SearchConfigError
from nas.search.fidelity import ATTR_PROMOTED_FROM, ATTR_RUNG, promote, rung
from nas.search.record import TrialRecord
from nas.search.results import best_within_budget
from search_space.space import SearchSpace
from tests.nas.views.dashboard.synthetic import evaluation

CONFIG = SearchConfig(platform="arm", budget_ms=30.0, rungs=3, eta=3, epochs=1, train_examples=400)


def _study_with(values: list[float], rung_index: int = 0):
    import numpy as np

    study = optuna.create_study(direction="maximize")
    space = SearchSpace.default()
    for i, v in enumerate(values):
        spec = space.sample(np.random.default_rng(i))
        rec = TrialRecord.candidate(spec, LatencyEstimate(20.0, "predicted", "arm", "x", 1, 224), 30.0)
        study.add_trial(optuna.trial.create_trial(
            value=v, params={"i": i}, distributions={"i": optuna.distributions.IntDistribution(0, 100)},
            user_attrs=rec.evaluated(evaluation(v)).to_attrs(), system_attrs={ATTR_RUNG: rung_index}))
    return study


def test_rungs_grow_by_eta():
    assert [rung(CONFIG, k) for k in range(3)] == [rung(CONFIG, 0).__class__(k, 3 ** k, 400 * 3 ** k)
                                                   for k in range(3)]


def test_the_top_third_is_promoted_once():
    study = _study_with([0.1, 0.5, 0.3, 0.9, 0.2, 0.4])
    assert promote(study, CONFIG) == [3, 1]  # the best 6 // 3 = 2
    assert promote(study, CONFIG) == []
    waiting = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.WAITING]
    assert [(t.system_attrs[ATTR_RUNG], t.system_attrs[ATTR_PROMOTED_FROM]) for t in waiting] == [(1, 3), (1, 1)]
    assert waiting[0].system_attrs["fixed_params"] == {"i": 3}


def test_no_promotion_past_the_last_rung_or_with_one_rung():
    assert promote(_study_with([0.5, 0.6, 0.7], rung_index=2), CONFIG) == []
    assert promote(_study_with([0.5, 0.6, 0.7]), SearchConfig(platform="arm", budget_ms=30.0)) == []


def test_the_best_is_chosen_at_the_highest_rung():
    from dataclasses import replace

    low = TrialRecord.from_trial(_study_with([0.9]).get_trials()[0])
    high = replace(low, rung=1, evaluation=evaluation(0.6), arch_id="other")
    assert best_within_budget([low, high]) is high


def test_a_pruner_across_fidelities_is_refused():
    with pytest.raises(SearchConfigError, match="--pruner"):
        SearchConfig(platform="arm", budget_ms=30.0, rungs=2, pruner="median")
    assert SearchConfig(platform="arm", budget_ms=30.0, rungs=2).pruner_name == "none"


@pytest.mark.slow
def test_a_search_promotes_and_trains_longer(tiny_idx_dir, tmp_path, nas_home):
    from nas.search.backends import SearchRun, get_backend
    from nas.search.record import load_records
    from nas.search.study import load_study

    config = SearchConfig(platform="arm", budget_ms=30.0, dataset=f"fashion-mnist:{tiny_idx_dir}", trials=12,
                          timeout_s=None, workers=1, train_examples=100, val_examples=100, rungs=2, eta=3)
    url = f"sqlite:///{tmp_path / 'mf.db'}"
    get_backend("optuna").run(SearchRun(config, url, "mf"))
    records = load_records(load_study(url, "mf"))
    top = [r for r in records if r.rung == 1 and r.evaluation is not None]
    assert top, "no trial reached rung 1"
    base = {r.arch_id: r for r in records if r.rung == 0 and r.evaluation is not None}
    for r in top:  # the same architecture, trained 3x longer on 3x the images
        assert r.arch_id in base
        assert r.evaluation.train_examples == 3 * base[r.arch_id].evaluation.train_examples
        assert r.evaluation.epochs == pytest.approx(3 * base[r.arch_id].evaluation.epochs)
