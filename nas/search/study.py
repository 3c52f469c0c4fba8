"""Creating, resuming and describing Optuna studies of a search."""

from __future__ import annotations

import json
from typing import Any

from nas.search.config import SearchConfig, SearchConfigError
from nas.search.storage import StorageError, open_read_only, open_storage
from nas.search.strategies import make_sampler

#: Study user attributes that must match for a rerun to continue a study.
IDENTITY_KEYS = ("platform", "budget_ms", "budget_mflops", "objective", "evaluator", "dataset", "resolution",
                 "proxy_resolution", "train_examples", "val_examples", "epochs", "predictor", "rungs", "eta",
                 "evaluator_options")
ATTR_CONFIG = "search_config"


def make_pruner(config: SearchConfig) -> Any:
    """The Optuna pruner of `config.pruner_name` (the Pareto objective never prunes)."""
    import optuna

    name = config.pruner_name
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)


def directions(config: SearchConfig) -> list[str]:
    return ["maximize", "minimize"] if config.objective == "pareto" else ["maximize"]


def create_or_resume(config: SearchConfig, storage: str | None, study_name: str, seed_offset: int = 0,
                     extra_attrs: dict[str, Any] | None = None) -> Any:
    """The study `study_name` in `storage`, created with `config` or resumed when its settings match."""
    return create_or_join(config, storage, study_name, seed_offset, extra_attrs)[0]


def create_or_join(config: SearchConfig, storage: str | None, study_name: str, seed_offset: int = 0,
                   extra_attrs: dict[str, Any] | None = None) -> tuple[Any, bool]:
    """(study, created): `created` is True for exactly one of several processes opening a new study at once
    (the one whose create won), so set-up that must happen once (start-up points) is done once."""
    import optuna

    store = open_storage(storage)
    kw = dict(storage=store, study_name=study_name, sampler=make_sampler(config, seed_offset),
              pruner=make_pruner(config))
    try:
        try:
            study, created = optuna.create_study(directions=directions(config), **kw), True
        except optuna.exceptions.DuplicatedStudyError:
            study, created = optuna.load_study(**kw), False
            if [d.name.lower() for d in study.directions] != directions(config):
                raise ValueError(f"directions {[d.name.lower() for d in study.directions]}")
    except ValueError as exc:  # e.g. an existing study with other directions
        raise SearchConfigError(f"study {study_name!r} exists with other objectives ({exc}); use another "
                                f"--study-name") from None
    stored = study.user_attrs.get(ATTR_CONFIG)
    if stored is None:
        study.set_user_attr(ATTR_CONFIG, config.to_dict())
        for key, value in (extra_attrs or {}).items():
            study.set_user_attr(key, value)
    else:
        given = json_safe(config.to_dict())
        diff = [k for k in IDENTITY_KEYS if json_safe(stored.get(k, [] if k == "evaluator_options" else None))
                != given.get(k)]
        if diff:
            raise SearchConfigError(f"study {study_name!r} in this storage was run with other settings ({diff[0]}: "
                                    f"{stored.get(diff[0])!r}); continue it with the same options or pass another "
                                    f"--study-name")
    return study, created


def study_names(storage: Any) -> list[str]:
    """Names of the studies in an opened storage, oldest first."""
    return [s.study_name for s in storage.get_all_studies()]


def open_study(storage: Any, study_name: str | None) -> Any:
    """The study `study_name` of an opened storage (the only one when None); StorageError naming the studies."""
    import optuna

    names = study_names(storage)
    if study_name is None:
        if len(names) != 1:
            raise StorageError(f"the storage holds {len(names)} studies ({', '.join(names) or 'none'}); "
                               f"choose one with --study")
        study_name = names[0]
    if study_name not in names:
        raise StorageError(f"no study {study_name!r} in the storage (studies: {', '.join(names) or 'none'})")
    return optuna.load_study(study_name=study_name, storage=storage)


def load_study(storage: str | None, study_name: str | None, writable: bool = False) -> Any:
    """An existing study, opened so that nothing stored can change (see storage.open_read_only), or, for the
    search itself (`writable`), through the normal storage (to add the measured latencies of its front)."""
    return open_study(open_storage(storage) if writable else open_read_only(storage), study_name)


def stored_config(study: Any) -> SearchConfig:
    data = study.user_attrs.get(ATTR_CONFIG)
    if not data:
        raise StorageError(f"study {study.study_name!r} was not made by `nas search` (no search config)")
    return SearchConfig.from_dict(data)


def system_attrs(trial: Any) -> dict[str, Any]:
    """System attributes of a running optuna.Trial (read from its storage) or of a FrozenTrial."""
    if hasattr(trial, "system_attrs"):
        return trial.system_attrs
    return trial.storage.get_trial_system_attrs(trial._trial_id)


def enqueue(study: Any, params: dict[str, Any], **links: Any) -> None:
    """Queue a trial with fixed `params` (what study.enqueue_trial does) and system attributes `links` in the
    same write (e.g. which trial it repeats or was promoted from)."""
    import optuna

    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING,
                                              system_attrs={"fixed_params": dict(params), **links}))


def json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
