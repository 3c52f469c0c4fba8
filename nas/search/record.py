"""TrialRecord: the one thing a study stores about a trial (architecture, cost, every latency figure with its kind,
the evaluation with its evaluator and fidelity, status), written by `to_attrs()` and read by `from_trial()`.

Everything that reads a study (results, dashboard, export, train) reads records; nothing else parses a trial's
user attributes. Studies written before records existed (flat user attributes) are read by the same reader.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from latency_models.estimate import LatencyEstimate
from nas.evaluators.base import EvalResult
from nas.search.budget import MFLOPS, Budget
from search_space.cost import cost
from search_space.spec import NetSpec, spec_from_json

#: The user attribute that holds a trial's record (one JSON object).
ATTR_RECORD = "nas:record"
RECORD_VERSION = 2
#: The study attribute with latencies measured after the search ({trial number: measured estimate dict}).
ATTR_MEASURED = "measured"

RUNNING = "running"          # accepted by the budget check, being evaluated (or killed while it was)
EVALUATED = "evaluated"      # evaluated to the end: has an evaluation
PRUNED = "pruned"            # stopped early by a pruner / scheduler: has the last report
REJECTED = "rejected"        # over the budget before any training
FAILED = "failed"            # the evaluation raised: has a failure reason
INTERRUPTED = "interrupted"  # its process died or was stopped; re-queued with the same parameters
STATUSES = (RUNNING, EVALUATED, PRUNED, REJECTED, FAILED, INTERRUPTED)
#: Statuses of finished trials that count towards --trials (rejected ones cost nothing; interrupted are redone).
COUNTED = (EVALUATED, PRUNED, FAILED)
#: Tag of a hand-designed reference network evaluated in the study (nas.search.references), + its name.
REFERENCE_TAG = "reference:"
#: The constraint the samplers see, by budget kind: the deciding figure over the budget (<= 0 is feasible), in
#: ms for a latency budget and in MFLOPs (millions of multiply-adds) for a FLOPs budget.
CONSTRAINT_NAMES = {"latency": "latency_over_budget_ms", "flops": "flops_over_budget_mflops"}
#: What decided a FLOPs budget (`decided_by`): the architecture's multiply-adds, not a latency figure.
DECIDED_BY_FLOPS = "flops"


@dataclass(frozen=True)
class CostSummary:
    """Multiply-adds, parameters and memory access cost in millions, and fragment count (search_space.cost)."""

    flops_m: float
    params_m: float
    mac_m: float
    fragments: int

    @classmethod
    def of(cls, spec: NetSpec) -> "CostSummary":
        c = cost(spec)
        return cls(round(c.flops_m, 4), round(c.params_m, 5), round(c.mac_m, 4), int(c.fragments))


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a search. `predicted` is always there; `measured` when the network was timed on the device
    (in the loop or after the search). `decided_by` says which figure the budget check used ("predicted",
    "measured", or "flops" for a FLOPs budget). The budget is `budget_ms` (latency) or `budget_mflops` (FLOPs,
    the other one None); a FLOPs-budget record still carries every latency figure of the network."""

    status: str
    arch_id: str
    spec: str
    cost: CostSummary
    budget_ms: float | None
    predicted: LatencyEstimate
    measured: LatencyEstimate | None = None
    decided_by: str = "predicted"
    evaluation: EvalResult | None = None
    pruned_at: tuple[int, float] | None = None
    failure: str | None = None
    backend: str = "optuna"
    retry_of: int | None = None
    number: int = -1
    state: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: In-loop measurement (nas.search.measuring): the study's measured/predicted correction applied to the
    #: prediction when this trial was decided, its spread (the corrected prediction's error), and the seconds
    #: spent measuring this candidate.
    loop_factor: float | None = None
    loop_spread: float | None = None
    measure_s: float = 0.0
    #: Multi-fidelity rung of this evaluation (0: the base fidelity; see nas.search.fidelity).
    rung: int = 0
    #: A FLOPs budget in millions of multiply-adds (then `budget_ms` is None); None for a latency budget.
    budget_mflops: float | None = None
    #: Seconds from the trial's start to its end (from the storage, not stored in the record).
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    # ------------------------------------------------------------------------------------------- building
    @classmethod
    def candidate(cls, spec: NetSpec, predicted: LatencyEstimate, budget: Budget | float, backend: str = "optuna",
                  measured: LatencyEstimate | None = None, loop_factor: float | None = None,
                  loop_spread: float | None = None, measure_s: float = 0.0) -> "TrialRecord":
        """The budget check, the one place it is made: rejected when the deciding figure is over `budget`, else
        running (to be evaluated). A latency budget (a Budget in ms, or a plain number of ms) is decided by the
        measured latency when there is one, else the prediction, corrected by the loop's factor when there is
        one; a FLOPs budget by the architecture's multiply-adds (the latency figures are kept for display)."""
        budget = budget if isinstance(budget, Budget) else Budget(float(budget))
        decided = DECIDED_BY_FLOPS if not budget.is_latency else "measured" if measured is not None else "predicted"
        rec = cls(status=RUNNING, arch_id=spec.arch_id, spec=spec.to_json(), cost=CostSummary.of(spec),
                  budget_ms=budget.ms, budget_mflops=budget.mflops, predicted=predicted, measured=measured,
                  decided_by=decided, backend=backend, loop_factor=loop_factor, loop_spread=loop_spread,
                  measure_s=measure_s)
        return rec if rec.within_budget else replace(rec, status=REJECTED)

    def evaluated(self, result: EvalResult) -> "TrialRecord":
        return replace(self, status=EVALUATED, evaluation=result)

    def pruned(self, step: int, value: float) -> "TrialRecord":
        return replace(self, status=PRUNED, pruned_at=(int(step), float(value)))

    def failed(self, reason: str) -> "TrialRecord":
        return replace(self, status=FAILED, failure=reason[:500])

    def interrupted(self, reason: str) -> "TrialRecord":
        return replace(self, status=INTERRUPTED, failure=reason[:500])

    def with_outcome(self, other: "TrialRecord") -> "TrialRecord":
        """This candidate with the evaluation outcome of `other` (the same candidate evaluated elsewhere)."""
        return replace(self, status=other.status, evaluation=other.evaluation, pruned_at=other.pruned_at,
                       failure=other.failure)

    def with_measured(self, measured: LatencyEstimate) -> "TrialRecord":
        return replace(self, measured=measured)

    # ------------------------------------------------------------------------------------------- reading
    @property
    def latency(self) -> LatencyEstimate:
        """The figure shown and judged: the measured one when there is one, else the prediction (corrected by
        the in-loop measurements when the search had them, with their spread as its error)."""
        if self.measured is not None:
            return self.measured
        if self.loop_factor is None or self.loop_factor == 1.0:
            return self.predicted
        p = self.predicted
        return replace(p, latency_ms=p.latency_ms * self.loop_factor,
                       predictor=f"{p.predictor or 'profile'} x{self.loop_factor:.3f} (in-loop correction)",
                       error_rmspe=self.loop_spread if self.loop_spread is not None else p.error_rmspe)

    @property
    def latency_ms(self) -> float:
        return self.latency.latency_ms

    @property
    def budget(self) -> Budget | None:
        """The search's budget with its unit (None for a legacy trial that stored no budget)."""
        if self.budget_mflops is not None:
            return Budget(self.budget_mflops, MFLOPS)
        return Budget(self.budget_ms) if self.budget_ms is not None and math.isfinite(self.budget_ms) else None

    @property
    def budget_figure(self) -> float:
        """The figure the budget judges: the shown latency in ms, or the multiply-adds in millions."""
        return self.cost.flops_m if self.budget_mflops is not None else self.latency_ms

    @property
    def within_budget(self) -> bool:
        """Whether the figure of the budget's kind is within it (shown latency, or MFLOPs)."""
        if self.budget_mflops is not None:
            return self.cost.flops_m <= self.budget_mflops
        return self.budget_ms is None or self.latency_ms <= self.budget_ms

    @property
    def value(self) -> float | None:
        """The evaluation's value (accuracy, or a proxy's score); None without an evaluation."""
        return self.evaluation.value if self.evaluation is not None else None

    @property
    def counted(self) -> bool:
        """Whether this finished trial counts towards --trials (references never do)."""
        return self.status in COUNTED and self.reference is None

    @property
    def reference(self) -> str | None:
        """The registered name of a hand-designed reference network evaluated in the study; None for a
        searched candidate."""
        return next((t[len(REFERENCE_TAG):] for t in self.tags if t.startswith(REFERENCE_TAG)), None)

    def net_spec(self) -> NetSpec:
        return spec_from_json(self.spec)

    def objective_values(self, pareto: bool) -> list[float]:
        """What the sampler is told: accuracy (and, for the Pareto objective, the budget's figure: latency, or
        MFLOPs in a FLOPs-guided search); 0 for a rejected trial."""
        value = self.value if self.value is not None else 0.0
        return [value, self.budget_figure] if pareto else [value]

    @property
    def constraint_name(self) -> str:
        """The constraint's name, with its unit: latency_over_budget_ms or flops_over_budget_mflops."""
        return CONSTRAINT_NAMES["flops" if self.budget_mflops is not None else "latency"]

    @property
    def constraint(self) -> float:
        """The budget's figure over the budget (ms or MFLOPs; positive: infeasible), the constraint the sampler
        sees under `constraint_name`."""
        if self.budget_mflops is not None:
            return self.cost.flops_m - self.budget_mflops
        return self.latency_ms - (self.budget_ms if self.budget_ms is not None else float("inf"))

    @property
    def constraint_ms(self) -> float:
        """Latency over a latency budget in ms (the constraint of latency-budget studies)."""
        return self.latency_ms - (self.budget_ms if self.budget_ms is not None else float("inf"))

    # ------------------------------------------------------------------------------------------- storage
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("number", "state", "duration_s"):
            d.pop(key)
        d["predicted"] = self.predicted.to_dict()
        d["measured"] = self.measured.to_dict() if self.measured else None
        d["evaluation"] = self.evaluation.to_dict() if self.evaluation else None
        d["pruned_at"] = list(self.pruned_at) if self.pruned_at else None
        d["tags"] = list(self.tags)
        d["version"] = RECORD_VERSION
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], number: int = -1, state: str = "") -> "TrialRecord":
        return cls(status=d["status"], arch_id=d["arch_id"], spec=d["spec"], cost=CostSummary(**d["cost"]),
                   budget_ms=float(d["budget_ms"]) if d.get("budget_ms") is not None else None,
                   budget_mflops=float(d["budget_mflops"]) if d.get("budget_mflops") is not None else None,
                   predicted=estimate_from_dict(d["predicted"]),
                   measured=estimate_from_dict(d["measured"]) if d.get("measured") else None,
                   decided_by=d.get("decided_by", "predicted"),
                   evaluation=EvalResult.from_dict(d["evaluation"]) if d.get("evaluation") else None,
                   pruned_at=tuple(d["pruned_at"]) if d.get("pruned_at") else None,  # type: ignore[arg-type]
                   failure=d.get("failure"), backend=d.get("backend", "optuna"), retry_of=d.get("retry_of"),
                   number=number, state=state, tags=tuple(d.get("tags") or ()), loop_factor=d.get("loop_factor"),
                   loop_spread=d.get("loop_spread"), measure_s=float(d.get("measure_s") or 0.0),
                   rung=int(d.get("rung") or 0))

    def to_attrs(self) -> dict[str, Any]:
        """The trial's user attributes: the record under ATTR_RECORD (the only writer of trial attributes)."""
        return {ATTR_RECORD: self.to_dict()}

    @classmethod
    def from_trial(cls, trial: Any, measured: Mapping[str, Any] | None = None) -> "TrialRecord | None":
        """The record of an Optuna trial (FrozenTrial), with the study's post-search measurement merged in when
        `measured` (the study attribute ATTR_MEASURED) has one; None for a trial that never got an architecture
        (e.g. queued). Trials of studies written before records existed are converted."""
        attrs = trial.user_attrs
        if ATTR_RECORD in attrs:
            rec = cls.from_dict(attrs[ATTR_RECORD], trial.number, trial.state.name)
        elif "spec" in attrs and "latency_ms" in attrs:
            rec = _from_legacy(trial)
        else:
            return None
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            rec = replace(rec, duration_s=(trial.datetime_complete - trial.datetime_start).total_seconds())
        if rec.status == RUNNING and trial.state.is_finished():
            # finished in storage without a final record: a process killed mid-write, or failed by recovery
            rec = replace(rec, status=INTERRUPTED if trial.state.name == "FAIL" else rec.status)
        m = (measured or {}).get(str(trial.number))
        if m and rec.measured is None:
            rec = rec.with_measured(estimate_from_dict({**_measured_defaults(rec), **m}))
        return rec


def estimate_from_dict(d: Mapping[str, Any]) -> LatencyEstimate:
    names = set(LatencyEstimate.__dataclass_fields__)
    return LatencyEstimate(**{k: v for k, v in d.items() if k in names})


def _measured_defaults(rec: TrialRecord) -> dict[str, Any]:
    """What a post-search measurement entry leaves out: it was timed with the predicted figure's protocol."""
    p = rec.predicted
    return {"kind": "measured", "platform": p.platform, "runtime": p.runtime, "batch": p.batch,
            "resolution": p.resolution, "source": "measured"}


def measurement_entry(estimate: LatencyEstimate, predicted_ms: float, measured_at: str) -> dict[str, Any]:
    """One entry of the study attribute ATTR_MEASURED (kept JSON-flat; read back by `from_trial`)."""
    return {**estimate.to_dict(), "predicted_ms": predicted_ms, "measured_at": measured_at}


#: What an evaluation stored by the flat-attribute code may leave out.
_LEGACY_EVALUATION = {"evaluator": "train", "kind": "trained", "metric": "val_accuracy", "accuracy": None, "seed": 0,
                      "steps": 0, "epochs": 0.0, "train_seconds": 0.0, "params_m": 0.0, "proxy_arch_id": ""}


def _from_legacy(trial: Any) -> TrialRecord:
    """A trial written by the flat-attribute code (before TrialRecord): the same facts, converted."""
    a = trial.user_attrs
    spec = spec_from_json(a["spec"])
    status = str(a.get("status") or "")
    status = REJECTED if status.startswith("rejected") else status
    if status not in STATUSES:
        status = {"COMPLETE": EVALUATED, "PRUNED": PRUNED, "FAIL": FAILED}.get(trial.state.name, RUNNING)
    predicted = LatencyEstimate(
        latency_ms=float(a["latency_ms"]), kind="predicted", platform=str(a.get("latency_platform", "")),
        runtime=str(a.get("latency_runtime", "")), batch=int(a.get("latency_batch") or 1),
        resolution=int(a.get("latency_resolution") or json.loads(a["spec"]).get("resolution", 0)),
        source=str(a.get("latency_source") or "measured"), predictor=a.get("predictor"),
        error_rmspe=a.get("predictor_error_rmspe"), extrapolates=bool(a.get("extrapolates", False)))
    evaluation = None
    if isinstance(a.get("evaluation"), dict):
        ev = {**_LEGACY_EVALUATION, **a["evaluation"], "history": a.get("evaluation_history") or []}
        if ev.get("score") is None:
            ev["score"] = ev.get("accuracy") if ev.get("accuracy") is not None else 0.0
        evaluation = EvalResult.from_dict(ev)
    pruned = a.get("pruned_at")
    cost_summary = CostSummary(float(a.get("flops_m", 0.0)), float(a.get("params_m", 0.0)),
                               float(a.get("mac_m", 0.0)), int(a.get("fragments") or 0)) \
        if "flops_m" in a else CostSummary.of(spec)
    return TrialRecord(status=status, arch_id=str(a.get("arch_id") or spec.arch_id), spec=a["spec"],
                       cost=cost_summary, budget_ms=float(a.get("budget_ms", float("inf"))), predicted=predicted,
                       evaluation=evaluation,
                       pruned_at=(int(pruned["step"]), float(pruned["value"])) if isinstance(pruned, dict) else None,
                       failure=a.get("failure"), backend=str(a.get("backend", "optuna")), number=trial.number,
                       state=trial.state.name)


def load_records(study: Any) -> list[TrialRecord]:
    """Records of every trial of `study` that has an architecture, in trial order (post-search measurements in)."""
    measured = study.user_attrs.get(ATTR_MEASURED) or {}
    out = []
    for t in study.get_trials(deepcopy=False):
        rec = TrialRecord.from_trial(t, measured if isinstance(measured, dict) else {})
        if rec is not None:
            out.append(rec)
    return out
