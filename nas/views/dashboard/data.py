"""A study as plain tables for the dashboard and the report: one row per trial, the Pareto marking within the
budget (latency, or FLOPs for a FLOPs budget), hypervolume over trials, and the reference networks' predicted
latency on the study's platform.

Read-only: the study comes from `nas.search.storage.open_read_only`; nothing here writes to it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Sequence

from latency_models.profiles import Profile, ProfileError, require_profile
from latency_models.platform import PlatformError
from nas.search.budget import Budget
from nas.search.config import SearchConfig
from nas.search.record import ATTR_MEASURED, EVALUATED, INTERRUPTED, PRUNED, REJECTED, TrialRecord
from nas.search.results import pareto_front
from nas.search.storage import display_storage, open_read_only
from nas.search.study import open_study, stored_config
from search_space.references import NETWORKS

#: Trial categories, in legend order. pareto: evaluated, within budget, not dominated; dominated: evaluated,
#: within budget, dominated; over budget: evaluated but its shown (e.g. measured) latency exceeds the budget;
#: rejected: over budget, never trained; pruned / failed / interrupted (redone by a rerun) / running / queued
#: (waiting to be run: a start-up point or a re-queued trial): no final accuracy; reference: a hand-designed
#: network evaluated with the study's evaluator (nas.search.references), drawn with the reference networks.
CATEGORIES = ("pareto", "dominated", "over budget", "rejected", "pruned", "failed", "interrupted", "running",
              "queued", "reference")
#: The hand-designed networks drawn on the latency axis: ShuffleNet v2 0.5x-2x and the other Table 8 networks.
REFERENCE_SOURCE = "Table 8"


@dataclass(frozen=True)
class TrialRow:
    """One trial, flat (a table row). value: accuracy or proxy score (None without one); latencies in ms."""

    number: int
    category: str
    status: str
    arch_id: str
    value: float | None
    latency_ms: float | None
    latency_kind: str
    predicted_ms: float | None
    measured_ms: float | None
    within_budget: bool | None
    flops_m: float | None
    params_m: float | None
    mac_m: float | None
    fragments: int | None
    platform: str
    runtime: str
    predictor: str
    predictor_error_rmspe: float | None
    extrapolates: bool
    completed: str
    note: str
    spec: str | None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict without the spec (table data); `id` is the trial number."""
        d = asdict(self)
        d.pop("spec")
        d["id"] = self.number
        return d


@dataclass(frozen=True)
class ReferencePoint:
    """A hand-designed network's latency on the study's platform (predicted by the platform's profile here,
    or the study's own figure), and its value when the study evaluated it with its own evaluator."""

    name: str
    family: str
    latency_ms: float
    extrapolates: bool
    flops_m: float | None
    paper_mflops: float | None
    paper_top1_err: float | None
    value: float | None = None
    latency_kind: str = "predicted"
    trial: int | None = None


@dataclass(frozen=True)
class ProfileInfo:
    """The latency profile of the study's platform on this machine (what references and breakdowns use)."""

    platform: str
    device: str
    runtime: str
    source: str
    predictor: str
    error_rmspe: float | None

    def label(self) -> str:
        """e.g. 'predicted by the arm profile (paper-arm-neon, roofline, ±9% RMSPE)'."""
        err = f", ±{self.error_rmspe * 100:.0f}% RMSPE" if self.error_rmspe is not None else ""
        pub = ", calibrated from published measurements" if self.source == "published" else ""
        return f"predicted by the {self.platform} profile ({self.runtime}, {self.predictor}{err}{pub})"


@dataclass(frozen=True)
class StudyData:
    """Everything the dashboard and the report show about one study, as plain values."""

    study: str
    storage: str
    config: SearchConfig
    num_classes: int
    rows: tuple[TrialRow, ...]
    counts: dict[str, int]
    metric: str
    is_accuracy: bool
    hypervolume: tuple[tuple[int, float], ...]
    hv_reference: tuple[float, float]
    references: tuple[ReferencePoint, ...]
    profile: ProfileInfo | None
    profile_note: str
    loaded_at: str
    signature: str = ""

    @property
    def budget(self) -> Budget:
        """The study's budget with its unit (ms or MFLOPs)."""
        return self.config.budget

    @property
    def budget_ms(self) -> float | None:
        """The latency budget (None for a FLOPs budget: no budget line on the latency axis)."""
        return self.config.budget_ms

    def row(self, number: int) -> TrialRow | None:
        return next((r for r in self.rows if r.number == number), None)

    def evaluated(self) -> list[TrialRow]:
        return [r for r in self.rows if r.category in ("pareto", "dominated", "over budget")]

    def best(self) -> TrialRow | None:
        """The most accurate Pareto member within the budget (lowest latency on ties)."""
        front = [r for r in self.rows if r.category == "pareto"]
        return max(front, key=lambda r: (r.value, -(r.latency_ms or 0.0))) if front else None


# ------------------------------------------------------------------------------------------------ hypervolume
def hypervolume_2d(points: Sequence[tuple[float, float]], ref_value: float, ref_latency_ms: float) -> float:
    """Area dominated by (value, latency_ms) points (value maximised, latency minimised) up to the reference point
    (ref_value, ref_latency_ms); in value x ms. Points not better than the reference in both count nothing."""
    pts = sorted((lat, val) for val, lat in points if val > ref_value and lat < ref_latency_ms)
    area, best = 0.0, ref_value
    for i, (lat, val) in enumerate(pts):
        best = max(best, val)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ref_latency_ms
        area += (nxt - lat) * (best - ref_value)
    return area


def hypervolume_history(rows: Sequence[TrialRow], ref_value: float, ref_latency_ms: float
                        ) -> list[tuple[int, float]]:
    """(trial number, hypervolume of the evaluated trials up to it) for every finished trial, by number."""
    out: list[tuple[int, float]] = []
    front: list[tuple[float, float]] = []  # non-dominated (value, latency) so far: the hypervolume is theirs
    hv = 0.0
    for r in sorted(rows, key=lambda r: r.number):
        if r.category in ("running", "queued"):
            continue
        if r.category in ("pareto", "dominated", "over budget") and r.value is not None and r.latency_ms is not None:
            v, lat = r.value, r.latency_ms
            if not any(fv >= v and fl <= lat for fv, fl in front):
                front = [(fv, fl) for fv, fl in front if not (v >= fv and lat <= fl)] + [(v, lat)]
                hv = hypervolume_2d(front, ref_value, ref_latency_ms)
        out.append((r.number, hv))
    return out


def budget_words(config: SearchConfig) -> str:
    """'budget 20 ms' or 'FLOPs budget 146 MFLOPs' (headers of the dashboard and the report)."""
    return f"{'' if config.budget.is_latency else 'FLOPs '}budget {config.budget.label()}"


def hypervolume_latency(rows: Sequence[TrialRow], config: SearchConfig) -> float:
    """The reference latency of the hypervolume: the latency budget, or under a FLOPs budget (no latency bound)
    HV_SLOWEST times the slowest evaluated trial's shown latency."""
    if config.budget_ms is not None:
        return config.budget_ms
    lat = [r.latency_ms for r in rows if r.category in ("pareto", "dominated", "over budget")
           and r.latency_ms is not None]
    return HV_SLOWEST * max(lat) if lat else 1.0


#: Under a FLOPs budget, the hypervolume's reference latency is this many times the slowest evaluated trial's.
HV_SLOWEST = 1.1


# ------------------------------------------------------------------------------------------------ trial rows
def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    f = _float(value)
    return None if f is None else int(f)


def _when(dt: datetime | None) -> str:
    return dt.isoformat(sep=" ", timespec="seconds") if dt else ""


def _note(category: str, rec: TrialRecord | None) -> str:
    if category == "pruned" and rec is not None and rec.pruned_at:
        return f"pruned at step {rec.pruned_at[0]} ({rec.pruned_at[1]:.4f})"
    if category in ("failed", "interrupted"):
        return str(rec.failure if rec is not None and rec.failure else category)
    if category == "rejected":
        return f"{rec.decided_by if rec else 'predicted'} over budget; not trained"
    if category == "queued":
        return "queued: not run yet (a rerun runs it first)"
    return "running" if category == "running" else ""


def _row_of(trial: Any, category: str, rec: TrialRecord | None) -> TrialRow:
    note = _note(category, rec)
    if rec is None:
        return TrialRow(number=trial.number, category=category, status=category, arch_id="", value=None,
                        latency_ms=None, latency_kind="", predicted_ms=None, measured_ms=None, within_budget=None,
                        flops_m=None, params_m=None, mac_m=None, fragments=None, platform="", runtime="",
                        predictor="", predictor_error_rmspe=None, extrapolates=False,
                        completed=_when(trial.datetime_complete), note=note, spec=None)
    lat, p = rec.latency, rec.predicted
    return TrialRow(
        number=trial.number, category=category, status=rec.status, arch_id=rec.arch_id,
        value=rec.value if category in ("pareto", "dominated", "over budget") else None, latency_ms=lat.latency_ms,
        latency_kind=lat.kind, predicted_ms=p.latency_ms, measured_ms=rec.measured.latency_ms if rec.measured else None,
        within_budget=rec.within_budget, flops_m=rec.cost.flops_m, params_m=rec.cost.params_m, mac_m=rec.cost.mac_m,
        fragments=rec.cost.fragments, platform=lat.platform, runtime=lat.runtime, predictor=p.predictor or "",
        predictor_error_rmspe=p.error_rmspe, extrapolates=p.extrapolates, completed=_when(trial.datetime_complete),
        note=note, spec=rec.spec)


def _category(trial: Any, rec: TrialRecord | None, front: set[int]) -> str:
    state = trial.state.name
    if rec is None:
        return "queued" if state == "WAITING" else ("running" if state == "RUNNING" else "failed")
    if rec.reference is not None:
        return "reference"
    if rec.status == EVALUATED and state == "COMPLETE" and rec.value is not None:
        return "pareto" if trial.number in front else ("dominated" if rec.within_budget else "over budget")
    if rec.status == REJECTED:
        return "rejected"
    if rec.status == PRUNED or state == "PRUNED":
        return "pruned"
    if rec.status == INTERRUPTED:
        return "interrupted"
    if state == "RUNNING":
        return "running"
    return "failed"  # failed, or complete without an evaluation


def trial_rows(trials: Sequence[Any], recs: dict[int, TrialRecord | None]) -> list[TrialRow]:
    """Rows of every trial (`recs`: its record by trial number) with its category; the Pareto front is taken
    among the evaluated ones within budget."""
    evaluated = [r for t in trials if (r := recs[t.number]) is not None and r.status == EVALUATED
                 and t.state.name == "COMPLETE" and r.value is not None and r.reference is None]
    front = {r.number for r in pareto_front([r for r in evaluated if r.within_budget])}
    return [_row_of(t, _category(t, recs[t.number], front), recs[t.number]) for t in trials]


# ------------------------------------------------------------------------------------------------ references
def load_profile(platform: str) -> tuple[Profile | None, str]:
    """The platform's profile here, or None and a one-line reason (references / breakdowns are then left out)."""
    try:
        return require_profile(platform), ""
    except (ProfileError, PlatformError) as exc:
        return None, f"no latency profile of {platform} on this machine ({exc}); references and per-stage " \
                     f"breakdowns are left out"


def profile_info(profile: Profile) -> ProfileInfo:
    p = profile.platform
    return ProfileInfo(p.name, p.device, p.runtime, p.source, profile.default, profile.error())


def reference_points(profile: Profile, resolution: int, num_classes: int) -> list[ReferencePoint]:
    """Table 8 networks at the study's deployment input and class count, latency predicted by `profile`."""
    from search_space.cost import cost

    refs = [NETWORKS.get(n) for n in NETWORKS.names() if NETWORKS.get(n).source == REFERENCE_SOURCE]
    specs = [r.spec().with_resolution(resolution).with_classes(num_classes) for r in refs]
    ests = profile.estimates(specs)
    out = []
    for ref, spec, est in zip(refs, specs, ests):
        try:
            flops: float | None = cost(spec).flops_m
        except Exception:  # noqa: BLE001 - a family the cost model does not cover
            flops = None
        out.append(ReferencePoint(ref.name, ref.family, est.latency_ms, est.extrapolates, flops, ref.paper_mflops,
                                  ref.paper_top1_err))
    return sorted(out, key=lambda r: (r.family, r.latency_ms))


def with_study_references(points: list[ReferencePoint], records: Sequence[TrialRecord | None]
                          ) -> list[ReferencePoint]:
    """The reference points, with the value and latency of the references the study evaluated itself."""
    evaluated = {r.reference: r for r in records if r is not None and r.reference is not None}
    by_name = {p.name: p for p in points}
    for name, rec in evaluated.items():
        base = by_name.get(name) or ReferencePoint(name, NETWORKS.get(name).family if name in NETWORKS else "",
                                                   rec.latency_ms, rec.latency.extrapolates, rec.cost.flops_m,
                                                   None, None)
        by_name[name] = replace(base, value=rec.value, latency_ms=rec.latency_ms, latency_kind=rec.latency.kind,
                                trial=rec.number)
    return sorted(by_name.values(), key=lambda r: (r.family, r.latency_ms))


# ------------------------------------------------------------------------------------------------ loading
def metric_of(records: Iterable[TrialRecord | None]) -> tuple[str, bool]:
    """The value's name ('accuracy' or the proxy's score name) and whether it is an accuracy in [0, 1]."""
    for rec in records:
        if rec is not None and rec.evaluation is not None:
            ev = rec.evaluation
            return ev.metric, ev.accuracy is not None
    return "accuracy", True


def signature_of(trials: Sequence[Any], study: Any) -> str:
    """Changes whenever a trial is added or finishes or a measurement is stored (cheap change detection)."""
    finished = sum(1 for t in trials if t.state.is_finished())
    last = max((t.datetime_complete for t in trials if t.datetime_complete), default=None)
    measured = study.user_attrs.get(ATTR_MEASURED, {})
    return f"{len(trials)}:{finished}:{_when(last)}:{len(measured)}"


def study_data(study: Any, storage_label: str, profile: Profile | None = None, profile_note: str = "",
               with_references: bool = True) -> StudyData:
    """The dashboard's view of `study` (an Optuna study made by `nas search`)."""
    config = stored_config(study)
    trials = study.get_trials(deepcopy=False)
    measured = study.user_attrs.get(ATTR_MEASURED, {})
    recs = {t.number: TrialRecord.from_trial(t, measured if isinstance(measured, dict) else {}) for t in trials}
    rows = trial_rows(trials, recs)
    counts: dict[str, int] = {c: 0 for c in CATEGORIES}
    for r in rows:
        counts[r.category] += 1
    metric, is_acc = metric_of(recs.values())
    values = [r.value for r in rows if r.value is not None]
    ref_value = min(0.0, min(values, default=0.0))
    hv_latency = hypervolume_latency(rows, config)
    hv = hypervolume_history(rows, ref_value, hv_latency)
    num_classes = _int(study.user_attrs.get("num_classes")) or 10
    if profile is None and not profile_note and with_references:
        profile, profile_note = load_profile(config.platform)
    refs = reference_points(profile, config.resolution, num_classes) if profile and with_references else []
    refs = with_study_references(refs, list(recs.values()))
    return StudyData(study=study.study_name, storage=storage_label, config=config, num_classes=num_classes,
                     rows=tuple(rows), counts=counts, metric=metric, is_accuracy=is_acc, hypervolume=tuple(hv),
                     hv_reference=(ref_value, hv_latency), references=tuple(refs),
                     profile=profile_info(profile) if profile else None, profile_note=profile_note,
                     loaded_at=datetime.now().isoformat(sep=" ", timespec="seconds"),
                     signature=signature_of(trials, study))


def load_study_data(storage: str | None, study_name: str | None) -> StudyData:
    """Open the storage read-only and read the study (StorageError, one line, when either is missing)."""
    store = open_read_only(storage)
    study = open_study(store, study_name)
    return study_data(study, display_storage(storage))


def spec_json_pretty(spec: str | None) -> str:
    """The stored spec JSON indented (empty when absent)."""
    return json.dumps(json.loads(spec), indent=1, sort_keys=True) if spec else ""
