"""Multi-fidelity training: asynchronous successive halving where the survivors *train longer*.

With `--rungs R --eta E`, every new candidate is evaluated at rung 0 (`--epochs` on `--train-examples`
images); each time a trial finishes, the best 1/E of the evaluated trials of a rung (within the budget) that
were not promoted yet are queued again at the next rung: E times the epochs on E times the images (capped by
the training split), the same architecture, until rung R-1. Each record stores its rung and the fidelity of its
score (epochs, training images); the best network is chosen among the highest rung reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nas.search.config import SearchConfig
from nas.search.record import EVALUATED, TrialRecord
from nas.search.study import enqueue, system_attrs

ATTR_RUNG = "nas:rung"
ATTR_PROMOTED_FROM = "nas:promoted_from"


@dataclass(frozen=True)
class Rung:
    """Fidelity of rung `index`: `epochs` passes over `train_examples` images."""

    index: int
    epochs: int
    train_examples: int


def rung(config: SearchConfig, index: int) -> Rung:
    """Rung `index` of the config's schedule (0 is the base fidelity)."""
    scale = config.eta ** index
    return Rung(index, config.epochs * scale, config.train_examples * scale)


def rung_of(trial: Any) -> int:
    """The rung a trial (running optuna.Trial or FrozenTrial) is evaluated at: 0 unless it was promoted."""
    return int(system_attrs(trial).get(ATTR_RUNG, 0))


def promote(study: Any, config: SearchConfig) -> list[int]:
    """Queue the next rung for every trial in the top 1/eta of its rung (evaluated, within the budget) that was
    not promoted yet; returns the numbers of the trials promoted. A no-op with one rung."""
    import optuna

    if config.rungs <= 1:
        return []
    trials = study.get_trials(deepcopy=False)
    promoted = {int(t.system_attrs[ATTR_PROMOTED_FROM]) for t in trials if ATTR_PROMOTED_FROM in t.system_attrs}
    by_rung: dict[int, list[tuple[float, Any]]] = {}
    for t in trials:
        if t.state != optuna.trial.TrialState.COMPLETE:
            continue
        rec = TrialRecord.from_trial(t)
        if rec is None or rec.status != EVALUATED or rec.value is None or not rec.within_budget:
            continue
        by_rung.setdefault(rung_of(t), []).append((rec.value, t))
    out = []
    for index, members in sorted(by_rung.items()):
        if index + 1 >= config.rungs:
            continue
        members.sort(key=lambda vt: (-vt[0], vt[1].number))
        for _, t in members[:len(members) // config.eta]:
            if t.number in promoted:
                continue
            enqueue(study, t.params, **{ATTR_RUNG: index + 1, ATTR_PROMOTED_FROM: t.number})
            out.append(t.number)
    return out
