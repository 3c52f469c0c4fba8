"""The backend and strategy registries: every registered backend is a SearchBackend reached by name."""

from __future__ import annotations

import pytest

from nas.search.backends import SearchBackend, backend_names, default_backends, get_backend
from nas.search.config import SearchConfig
from nas.search.strategies import default_strategies, make_sampler
from search_space.registry import DuplicateNameError, UnknownNameError


def test_builtin_backends_are_registered_once():
    assert backend_names() == ["optuna", "ray"]
    reg = default_backends()
    with pytest.raises(DuplicateNameError):
        reg.add("optuna", reg.get("optuna"))


@pytest.mark.parametrize("name", backend_names())
def test_every_backend_implements_the_interface(name):
    backend = get_backend(name)
    assert isinstance(backend, SearchBackend) and backend.name == name
    backend.check(SearchConfig(platform="arm", budget_ms=20.0, backend=name))


def test_unknown_names_are_one_line_user_errors():
    with pytest.raises(UnknownNameError, match="unknown search backend 'spark' .known: optuna, ray."):
        get_backend("spark")
    with pytest.raises(UnknownNameError, match="unknown search strategy"):
        make_sampler(SearchConfig(platform="arm", budget_ms=20.0, sampler="annealing"))


@pytest.mark.parametrize("name", default_strategies().names())
def test_every_strategy_gives_a_seeded_sampler(name):
    import optuna

    config = SearchConfig(platform="arm", budget_ms=20.0, sampler=name, objective="pareto" if name == "nsga2"
                          else "constrained")
    assert isinstance(make_sampler(config, 3), optuna.samplers.BaseSampler)
