"""The `evolution` strategy (regularized evolution, tournament selection): registered, better than random on a
toy define-by-run space, children inside the distributions, seeded, resumable from storage, feasible parents
only, Pareto ranks, and under the latency budget in a real `nas search`."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from nas.cli.main import main
from nas.search.config import SearchConfig
from nas.search.evolution import ATTR_CHILD, RegularizedEvolutionSampler, _ranks, feasible, in_distribution
from nas.search.record import TrialRecord
from nas.search.strategies import make_sampler, strategy_names
from nas.search.study import load_study

LETTERS = {"a": 0, "b": 1, "c": 2}


@pytest.fixture(autouse=True)
def _quiet():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def toy(trial) -> float:
    """Define-by-run: the depth `n` decides which dimensions exist; the value is the sum of the choices."""
    n = trial.suggest_int("n", 2, 6)
    total = n
    for i in range(n):
        total += trial.suggest_int(f"x{i}", 0, 9) + 3 * LETTERS[trial.suggest_categorical(f"c{i}", ["a", "b", "c"])]
    return float(total)


def shifting(trial) -> float:
    """Ranges that depend on an earlier answer: a parent's value may lie outside the child's distribution."""
    n = trial.suggest_int("n", 1, 5)
    return float(sum(trial.suggest_int(f"x{i}", 0, 2 + n) for i in range(n)) + n)


def evolution(seed: int, **kw) -> RegularizedEvolutionSampler:
    return RegularizedEvolutionSampler(**{"population_size": 10, "sample_size": 3, "seed": seed, **kw})


def run(sampler, n: int, objective=toy, storage=None, name: str | None = None, **kw) -> optuna.Study:
    study = optuna.create_study(sampler=sampler, storage=storage, study_name=name, load_if_exists=True, **kw)
    study.optimize(objective, n_trials=n)
    return study


def journal(path) -> optuna.storages.JournalStorage:
    """A file storage that other processes could open too (the search's SQLite file works the same, slower)."""
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def children(study) -> list:
    return [t for t in study.get_trials() if ATTR_CHILD in t.system_attrs]


def test_registered_and_sized_from_the_trials():
    assert "evolution" in strategy_names()
    s = make_sampler(SearchConfig(platform="arm", budget_ms=20.0, sampler="evolution", trials=24), 5)
    assert isinstance(s, RegularizedEvolutionSampler)
    assert (s.population_size, s.sample_size, s.n_startup_trials) == (8, 3, 8)
    big = make_sampler(SearchConfig(platform="arm", budget_ms=20.0, sampler="evolution", trials=500))
    assert (big.population_size, big.sample_size) == (32, 8)
    with pytest.raises(ValueError, match="sample_size"):
        RegularizedEvolutionSampler(population_size=4, sample_size=5)


def test_beats_random_search_on_a_toy_space():
    """60 trials, 5 seeds: evolution's best and its later trials beat random search's (max 96)."""
    evo_best, rnd_best, evo_late, rnd_late = [], [], [], []
    for seed in range(5):
        e = [t.value for t in run(evolution(seed), 60, direction="maximize").trials]
        r = [t.value for t in run(optuna.samplers.RandomSampler(seed=seed), 60, direction="maximize").trials]
        evo_best.append(max(e))
        rnd_best.append(max(r))
        evo_late.append(np.mean(e[-20:]))
        rnd_late.append(np.mean(r[-20:]))
    print(f"best {np.mean(evo_best):.1f} vs {np.mean(rnd_best):.1f}; last 20 trials "
          f"{np.mean(evo_late):.1f} vs {np.mean(rnd_late):.1f}")
    assert np.mean(evo_best) > np.mean(rnd_best)
    assert np.mean(evo_late) > 1.5 * np.mean(rnd_late)
    assert all(e > r for e, r in zip(evo_late, rnd_late))


def test_children_stay_inside_the_asked_distributions():
    study = run(evolution(1, population_size=6, sample_size=2), 60, objective=shifting, direction="maximize")
    kids = children(study)
    assert len(kids) > 30
    for t in study.trials:
        for name, value in t.params.items():
            assert in_distribution(t.distributions[name], value), (t.number, name, value)
    # a child's stored value out of the asked range was replaced by a random one inside it
    replaced = [(t.number, k) for t in kids for k, v in t.system_attrs[ATTR_CHILD]["params"].items()
                if k in t.params and t.params[k] != v]
    assert replaced


def test_children_descend_from_the_population_by_a_few_mutations():
    study = run(evolution(2, crossover_prob=0.0), 50, direction="maximize")
    trials = study.trials
    kids = children(study)
    assert [t.number for t in kids] == list(range(10, 50))  # random start-up, then every trial is a child
    for t in kids:
        info = t.system_attrs[ATTR_CHILD]
        (parent,) = [trials[n] for n in info["parents"]]
        alive = sorted((p for p in trials[:t.number] if feasible(p)), key=lambda p: p.number)[-10:]
        assert parent in alive  # ageing: only the last P can be parents
        assert 1 <= len(info["mutated"])
        changed = {k for k, v in t.params.items() if parent.params.get(k, object()) != v}
        assert changed <= set(info["mutated"]) | (set(t.params) - set(parent.params))
        assert t.params != parent.params
    assert np.mean([len(t.system_attrs[ATTR_CHILD]["mutated"]) for t in kids]) < 2.5


def test_seeded_and_stateless():
    a = run(evolution(7), 40, direction="maximize")
    b = run(evolution(7), 40, direction="maximize")
    c = run(evolution(8), 40, direction="maximize")
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.params for t in a.trials] != [t.params for t in c.trials]


def test_a_new_sampler_on_the_same_storage_continues(tmp_path):
    """20 trials, then another sampler instance (another process would be the same) on the storage: the
    population is read from the study, and the 40 trials are those of one uninterrupted run."""
    url = journal(tmp_path / "evo.log")
    run(evolution(3), 20, storage=url, name="e", direction="maximize")
    resumed = run(evolution(3), 20, storage=url, name="e", direction="maximize")
    whole = run(evolution(3), 40, direction="maximize")
    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
    first_kid = [t for t in children(resumed) if t.number >= 20][0]
    assert first_kid.number == 20 and all(n < 20 for n in first_kid.system_attrs[ATTR_CHILD]["parents"])


def test_two_workers_share_a_storage_through_ask_and_tell(tmp_path):
    """Two samplers (two workers, as on one storage or through Ray's ask/tell) with trials in flight at once:
    running trials are not in the population, and each worker's children may descend from the other's trials."""
    url = journal(tmp_path / "two.log")
    a = optuna.create_study(storage=url, study_name="w", direction="maximize", sampler=evolution(1))
    b = optuna.load_study(storage=url, study_name="w", sampler=evolution(2))
    for _ in range(20):
        ta, tb = a.ask(), b.ask()
        va, vb = toy(ta), toy(tb)
        a.tell(ta, va)
        b.tell(tb, vb)
    trials = a.trials
    kids = children(a)
    assert len(kids) >= 25
    for t in kids:
        parents = t.system_attrs[ATTR_CHILD]["parents"]
        assert all(n < t.number and trials[n].state == optuna.trial.TrialState.COMPLETE for n in parents)
        assert (t.number - 1) not in parents or t.number % 2 == 0  # the other worker's trial was still running
    assert any(n % 2 != t.number % 2 for t in kids for n in t.system_attrs[ATTR_CHILD]["parents"])


def test_infeasible_trials_are_never_parents():
    """Trials over a constraint score higher but are never selected; queued trials join the population."""
    def constrained(trial) -> float:
        value = toy(trial)
        trial.set_constraint("latency_over_budget_ms", value - 40.0)
        return value

    sampler = evolution(4, population_size=6, sample_size=2, n_startup_trials=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for _ in range(6):
        study.enqueue_trial({"n": 2, "x0": 1, "c0": "a", "x1": 1, "c1": "a"})
    study.optimize(constrained, n_trials=60)
    kids = children(study)
    assert kids and kids[0].number == 6  # evolution starts from the queued feasible points
    parents = {n for t in kids for n in t.system_attrs[ATTR_CHILD]["parents"]}
    assert all(study.trials[n].system_attrs["constraints:latency_over_budget_ms"] <= 0 for n in parents)
    assert any(t.system_attrs["constraints:latency_over_budget_ms"] > 0 for t in kids)  # some children failed it
    best = max(t.value for t in study.trials if feasible(t))
    assert best > 30  # it still climbs towards the constraint


def test_pareto_selection_by_dominance_rank():
    def two(trial) -> tuple[float, float]:
        return toy(trial), float(trial.params["n"])

    study = run(evolution(5), 40, objective=two, directions=["maximize", "minimize"])
    assert len(children(study)) == 30
    pop = study.trials[:4]
    ranks = _ranks(pop, study.directions)
    for t, r in zip(pop, ranks):
        assert r == sum(all(a >= b for a, b in zip((o.values[0], -o.values[1]), (t.values[0], -t.values[1])))
                        and o.values != t.values for o in pop)
    assert min(ranks) == 0


BASE = ["search", "--platform", "arm", "--budget", "30ms", "--sampler", "evolution", "--evaluator", "synflow",
        "--trials", "24", "--references", "none", "--workers", "1", "--timeout", "0", "--train-examples", "200",
        "--val-examples", "100"]


@pytest.mark.slow
def test_search_under_the_budget(tiny_idx_dir, tmp_path, capsys, nas_home):
    db = tmp_path / "e.db"
    code = main(BASE + ["--dataset", f"fashion-mnist:{tiny_idx_dir}", "--storage", str(db), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    study = load_study(str(db), out["study"])
    trials = study.get_trials()
    records = {t.number: TrialRecord.from_trial(t) for t in trials}
    evaluated = [t for t in trials if records[t.number] and records[t.number].status == "evaluated"]
    assert len(evaluated) == 24
    assert all(records[t.number].latency_ms <= 30.0 for t in evaluated)
    assert out["best"]["latency_ms"] <= 30.0
    kids = children(study)
    assert len(kids) >= 8
    for t in kids:
        info = t.system_attrs[ATTR_CHILD]
        alive = [p for p in trials[:t.number] if feasible(p)][-8:]  # P = 8 for 24 trials
        parents = [trials[n] for n in info["parents"]]
        assert all(p in alive for p in parents)
        inherited = {k for k, v in t.params.items() if any(p.params.get(k, object()) == v for p in parents)}
        fresh = set(t.params) - set().union(*(p.params for p in parents))  # units added by a deeper stage
        assert set(t.params) - inherited <= set(info["mutated"]) | fresh
        assert 1 <= len(info["mutated"]) <= 6
    feasible_kids = [t for t in kids if feasible(t)]
    warmup = [t for t in trials if ATTR_CHILD not in t.system_attrs and "fixed_params" not in t.system_attrs]
    print(f"{len(kids)} children, {len(feasible_kids)} within the budget; {len(warmup)} random start-up draws, "
          f"{sum(feasible(t) for t in warmup)} within it; {len(trials)} trials in all")
    # children of feasible parents are far more often feasible than random draws (~2% at 30 ms on arm)
    assert len(feasible_kids) >= 0.3 * len(kids)
