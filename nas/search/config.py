"""SearchConfig: everything that defines a search, frozen and stored with the study."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

from nas.search.budget import Budget, TimeFrame
from search_space.errors import UserError

OBJECTIVES = ("constrained", "pareto")
#: Early stopping of weak trials on their intermediate reports (Optuna pruners; the Ray backend maps each to the
#: Tune scheduler of the same rule). Single-objective only: the Pareto objective runs every trial to the end.
PRUNERS = ("median", "halving", "hyperband", "none")
#: What `nas search --platform arm --budget 20ms` runs with nothing else given: about 25 trials of short proxy
#: training (4000 Fashion-MNIST images at 32 px, ~10-40 s each on one core) on two worker processes, stopped
#: after 7 minutes at the latest, so the whole command ends within 10 minutes on a 2-core machine.
DEFAULT_TRIALS = 30
DEFAULT_TIMEOUT_S = 420.0


class SearchConfigError(UserError):
    """A search option that cannot work (the message names the option)."""


def _network_names() -> list[str]:
    from search_space.references import reference_names

    return reference_names()


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class SearchConfig:
    """A search: target (platform, budget, deployment input), accuracy proxy, search strategy and storage.

    `resolution` is the deployment input (latency is predicted / measured there); the dataset's images are
    resized to `proxy_resolution` to estimate accuracy with the same network body.

    The budget is exactly one of `budget_ms` (latency on the platform) and `budget_mflops` (multiply-adds in
    millions: the paper's FLOPs, the straw man a FLOPs-guided search uses); `budget` is it as a typed `Budget`.
    Studies stored before FLOPs budgets existed have `budget_ms` only and read the same.

    `budget_frame` / `budget_frame_ms`: the budget's time frame (a registered network and its latency when the
    budget was fixed, e.g. `--budget shufflenet_v2_x0_5`); measurements in the loop time that network beside each
    candidate and are put on this frame, so the machine's drift does not move the budget. None: as read.
    """

    platform: str
    budget_ms: float | None = None
    objective: str = "constrained"
    sampler: str | None = None
    evaluator: str = "train"
    dataset: str = "fashion-mnist"
    resolution: int = 224
    proxy_resolution: int = 32
    train_examples: int = 4000
    val_examples: int = 1000
    trials: int = DEFAULT_TRIALS
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    seed: int = 0
    workers: int = 1
    backend: str = "optuna"
    ray_address: str | None = None
    pruner: str | None = None
    predictor: str | None = None
    epochs: int = 1
    #: Evaluator-specific settings as (name, value) pairs, e.g. (("supernet", "sn.pt"), ("bn_batches", 8)).
    evaluator_options: tuple[tuple[str, Any], ...] = ()
    #: Time every candidate that would be trained on the device first (when it can be measured: this machine
    #: for a local platform, or the `nas agent` at `measure_on`); the measurement decides the budget.
    measure_in_loop: bool = True
    measure_on: str | None = None
    #: Multi-fidelity (nas.search.fidelity): rungs of successive halving, each `eta` times the epochs and images
    #: of the one before, the best 1/eta of a rung promoted to the next; 1 rung = one fidelity.
    rungs: int = 1
    eta: int = 3
    #: Hand-designed references evaluated in the study ("auto": those within the budget and the nearest above;
    #: "none": no references).
    references: str = "auto"
    budget_mflops: float | None = None
    budget_frame: str | None = None
    budget_frame_ms: float | None = None

    def __post_init__(self) -> None:
        def need(ok: bool, option: str, problem: str) -> None:
            if not ok:
                raise SearchConfigError(f"--{option}: {problem}")

        need((self.budget_ms is None) != (self.budget_mflops is None), "budget",
             "give exactly one budget: a latency (e.g. 20ms) or a FLOPs budget (e.g. 146MFLOPs)")
        for value in (self.budget_ms, self.budget_mflops):
            need(value is None or (math.isfinite(value) and value > 0), "budget", "must be positive")
        need(self.objective in OBJECTIVES, "objective", f"{self.objective!r} is not one of {', '.join(OBJECTIVES)}")
        need(self.pruner is None or self.pruner in PRUNERS, "pruner",
             f"{self.pruner!r} is not one of {', '.join(PRUNERS)}")
        need(not (self.objective == "pareto" and self.pruner not in (None, "none")), "pruner",
             "pruners stop trials on one objective; --objective pareto runs every trial to the end (use --pruner "
             "none)")
        need((self.budget_frame is None) == (self.budget_frame_ms is None), "budget",
             "a time frame needs both its network and its latency")
        need(self.budget_frame_ms is None or (math.isfinite(self.budget_frame_ms) and self.budget_frame_ms > 0),
             "budget", "the frame network's latency must be positive")
        need(self.budget_frame is None or self.budget_frame in _network_names(), "budget",
             f"{self.budget_frame!r} is not a registered network (`nas arch list`)")
        need(self.trials >= 1, "trials", "must be at least 1")
        need(self.timeout_s is None or self.timeout_s > 0, "timeout", "must be positive")
        need(self.workers >= 1, "workers", "must be at least 1")
        need(16 <= self.resolution <= 4096, "resolution", "must be between 16 and 4096")
        need(16 <= self.proxy_resolution <= 512, "proxy-resolution", "must be between 16 and 512")
        need(self.train_examples >= 10 and self.val_examples >= 10, "train-examples",
             "train and validation subsets need at least 10 images each")
        need(self.epochs >= 1, "epochs", "must be at least 1")
        need(self.rungs >= 1, "rungs", "must be at least 1")
        need(self.references in ("auto", "none"), "references", f"{self.references!r} is not auto or none")
        need(self.eta >= 2, "eta", "must be at least 2")
        need(not (self.rungs > 1 and self.pruner not in (None, "none")), "pruner",
             "with --rungs > 1 the survivors of each rung train longer (successive halving); a pruner would "
             "compare reports across fidelities (use --pruner none)")
        need(self.ray_address is None or self.backend == "ray", "ray-address", "only with --backend ray")

    @property
    def budget(self) -> Budget:
        """The budget with its unit (ms or MFLOPs)."""
        frame = TimeFrame(self.budget_frame, self.budget_frame_ms) if self.budget_frame else None  # type: ignore[arg-type]
        return Budget.of(self.budget_ms, self.budget_mflops, frame)

    @property
    def pruner_name(self) -> str:
        """The pruner used: median for the constrained objective, none for the Pareto objective."""
        return self.pruner or ("none" if self.objective == "pareto" or self.rungs > 1 else "median")

    @property
    def pareto(self) -> bool:
        return self.objective == "pareto"

    @property
    def sampler_name(self) -> str:
        """The sampler used: constrained TPE by default, NSGA-II for the Pareto objective."""
        return self.sampler or ("nsga2" if self.objective == "pareto" else "tpe")

    def default_study_name(self) -> str:
        budget = self.budget
        relative = budget.relative()
        text = relative.text() if relative is not None else budget.text()
        return f"{self.platform}-{text}-{self.objective}-{self.evaluator}-{self.dataset.split(':')[0]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchConfig":
        known = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in data.items() if k in known}
        kw["evaluator_options"] = tuple(tuple(pair) for pair in kw.get("evaluator_options") or ())
        if kw.get("objective") == "pareto" and kw.get("pruner") not in (None, "none"):
            kw["pruner"] = None  # stored by older code, which ignored a pruner with the Pareto objective
        return cls(**kw)
