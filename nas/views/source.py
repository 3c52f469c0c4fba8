"""Where an exported or trained network comes from: a trial of a study (opened read-only), a study's best, or an
architecture given by name / JSON file; with what the search knew about it (latency with its kind, platform,
runtime and predictor error; the proxy accuracy with its evaluator and metric)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from search_space.errors import UserError
from search_space.spec import NetSpec, SpecError, spec_from_dict

from nas.data.errors import DatasetError
from nas.data.proxy import ProxyTask
from nas.search.record import ATTR_MEASURED, FAILED, INTERRUPTED, PRUNED, REJECTED, TrialRecord
from nas.search.results import load_results
from nas.search.storage import display_storage
from nas.search.study import load_study, stored_config


class SourceError(UserError):
    """A study, trial, architecture or weights file that cannot be exported or trained; the message says which."""


ORIGIN_KINDS = ("study", "arch")
SELECTED_BY = ("best", "trial", "arch")


def _from_fields(cls: type, data: Mapping[str, Any]) -> Any:
    """A dataclass from a mapping, ignoring unknown keys (records written by a newer version stay readable)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Origin:
    """How the network was chosen: trial `trial` of `study` in `storage` (by --trial or --best), or --arch `ref`."""

    kind: str
    selected_by: str
    ref: str
    storage: str | None = None
    study: str | None = None
    trial: int | None = None
    status: str | None = None

    def describe(self) -> str:
        """One line, e.g. 'trial 22 of study arm-25ms (/tmp/exp.db), evaluated'."""
        if self.kind == "arch":
            return f"architecture {self.ref}"
        how = "best within budget: " if self.selected_by == "best" else ""
        return f"{how}trial {self.trial} of study {self.study} ({self.storage}), {self.status}"


@dataclass(frozen=True)
class LatencyRecord:
    """A latency of network `arch_id` at `resolution` px on `platform`, in ms, and what kind of figure it is.

    kind: "measured" (timed on the device; `measured_cv` its noise) or "predicted" (by `predictor`, typical
    relative error `predictor_error_rmspe` on held-out networks). `calibration` says where the platform's numbers
    come from ("measured" on a device or "published" measurements). `budget_ms` is the search's latency budget, if
    any; `budget` the search's budget with its unit ({value, unit, kind}: a latency or a FLOPs budget), if any.
    """

    latency_ms: float
    kind: str
    platform: str
    runtime: str
    arch_id: str
    resolution: int
    batch: int | None = None
    predictor: str | None = None
    predictor_error_rmspe: float | None = None
    predicted_ms: float | None = None
    measured_ms: float | None = None
    measured_cv: float | None = None
    calibration: str | None = None
    budget_ms: float | None = None
    budget: dict[str, Any] | None = None

    @property
    def within_budget(self) -> bool | None:
        return None if self.budget_ms is None else self.latency_ms <= self.budget_ms

    def label(self) -> str:
        """Human form, e.g. '23.75 ms predicted (arm, paper-arm-neon, batch 1, ±9% RMSPE, 224 px)'."""
        bits = [self.platform, self.runtime] + ([f"batch {self.batch}"] if self.batch else [])
        if self.kind == "predicted" and self.predictor_error_rmspe is not None:
            bits.append(f"±{self.predictor_error_rmspe * 100:.0f}% RMSPE")
        if self.kind == "measured" and self.measured_cv is not None:
            bits.append(f"CV {self.measured_cv * 100:.1f}%")
        bits.append(f"{self.resolution} px")
        return f"{self.latency_ms:.2f} ms {self.kind} ({', '.join(bits)})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "within_budget": self.within_budget}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LatencyRecord":
        return _from_fields(cls, data)


@dataclass(frozen=True)
class SearchAccuracy:
    """What the search's evaluator said of the network on its proxy task (a validation subset, never the test set).

    `value` is an accuracy in [0, 1] for kind "trained", a score for "zero-cost proxy", None when not evaluated.
    """

    value: float | None
    metric: str
    kind: str
    evaluator: str
    dataset: str
    proxy_resolution: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchAccuracy":
        return _from_fields(cls, data)


@dataclass(frozen=True)
class Source:
    """The network to export or train (`spec`, at its deployment input) and what is known about it."""

    spec: NetSpec
    origin: Origin
    latency: LatencyRecord | None = None
    accuracy: SearchAccuracy | None = None
    dataset: str | None = None
    proxy_resolution: int | None = None
    platform: dict[str, Any] | None = None
    proxy_task: ProxyTask | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the spec as its JSON object)."""
        return {"spec": json.loads(self.spec.to_json()), "origin": asdict(self.origin),
                "latency": self.latency.to_dict() if self.latency else None,
                "accuracy": self.accuracy.to_dict() if self.accuracy else None, "dataset": self.dataset,
                "proxy_resolution": self.proxy_resolution, "platform": self.platform,
                "proxy_task": self.proxy_task.to_dict() if self.proxy_task else None, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Source":
        """Inverse of to_dict; a damaged record raises SourceError."""
        try:
            return cls(spec=spec_from_dict(data["spec"]), origin=_from_fields(Origin, data["origin"]),
                       latency=LatencyRecord.from_dict(data["latency"]) if data.get("latency") else None,
                       accuracy=SearchAccuracy.from_dict(data["accuracy"]) if data.get("accuracy") else None,
                       dataset=data.get("dataset"), proxy_resolution=data.get("proxy_resolution"),
                       platform=data.get("platform"),
                       proxy_task=ProxyTask.from_dict(data["proxy_task"]) if data.get("proxy_task") else None,
                       notes=tuple(data.get("notes", ())))
        except (KeyError, TypeError, SpecError, DatasetError) as exc:
            raise SourceError(f"damaged source record ({type(exc).__name__}: {exc})") from None


# ------------------------------------------------------------------------------------------------- studies
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_study_read_only(storage: str | None, study_name: str | None) -> Any:
    """An existing Optuna study opened without any write (nas.search.study.load_study); SourceError otherwise."""
    try:
        return load_study(storage, study_name)
    except UserError as exc:
        raise SourceError(str(exc)) from None


def _study_config(study: Any) -> Any:
    try:
        return stored_config(study)
    except Exception as exc:  # noqa: BLE001 - a study not made by `nas search`
        raise SourceError(f"study {study.study_name!r} cannot be exported: {_first_line(exc)}") from None


def _trial(study: Any, number: int) -> Any:
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.number == number:
            return t
    span = f"trials 0-{max(t.number for t in trials)}" if trials else "no trials"
    raise SourceError(f"no trial {number} in study {study.study_name!r} ({span})")


def _best_number(study: Any, storage_label: str) -> int:
    res = load_results(study, storage_label)
    if res.best is None:
        raise SourceError(f"study {study.study_name!r} has no evaluated architecture within its "
                          f"{res.config.budget.label()} budget; choose one with --trial N")
    return res.best.number


def trial_latency(rec: TrialRecord) -> LatencyRecord:
    """The trial's latency: the measured figure when its network was timed on the device, else the prediction."""
    lat, p = rec.latency, rec.predicted
    return LatencyRecord(
        latency_ms=lat.latency_ms, kind=lat.kind, platform=lat.platform, runtime=lat.runtime, arch_id=rec.arch_id,
        resolution=p.resolution, batch=p.batch, predictor=p.predictor, predictor_error_rmspe=p.error_rmspe,
        predicted_ms=p.latency_ms, measured_ms=rec.measured.latency_ms if rec.measured else None,
        measured_cv=rec.measured.cv if rec.measured else None, calibration=p.source, budget_ms=rec.budget_ms,
        budget=rec.budget.to_dict() if rec.budget is not None else None)


def trial_accuracy(rec: TrialRecord, config: Any) -> SearchAccuracy:
    """The search's accuracy estimate of a trial (None for rejected trials, the last report for pruned ones)."""
    ev = rec.evaluation
    base = dict(dataset=config.dataset, proxy_resolution=config.proxy_resolution, evaluator=config.evaluator)
    if rec.status == REJECTED:
        return SearchAccuracy(None, "none", "not evaluated", note=f"rejected before training: {rec.decided_by} "
                              f"latency over the budget", **base)
    if rec.status == PRUNED and rec.pruned_at:
        step, value = rec.pruned_at
        return SearchAccuracy(value, "val_accuracy", "trained",
                              note=f"pruned at step {step}: the value is the last report", **base)
    if ev is not None:
        return SearchAccuracy(ev.value, ev.metric, ev.kind, **{**base, "evaluator": ev.evaluator})
    return SearchAccuracy(None, "value", "unknown", note=f"trial status {rec.status}", **base)


def source_from_study(storage: str | None, study_name: str | None, trial: int | None = None,
                      best: bool = False) -> Source:
    """The network of trial `trial` (or the best within the budget) of a study, opened read-only."""
    if (trial is None) == (not best):
        raise SourceError("choose the network with exactly one of --trial N and --best")
    study = open_study_read_only(storage, study_name)
    config = _study_config(study)
    label = display_storage(storage)
    number = _best_number(study, label) if best else int(trial)  # type: ignore[arg-type]
    t = _trial(study, number)
    name = study.study_name
    try:
        rec = TrialRecord.from_trial(t, study.user_attrs.get(ATTR_MEASURED) or {})
    except (KeyError, TypeError, ValueError, SpecError) as exc:
        raise SourceError(f"trial {number} of study {name!r}: damaged trial record ({type(exc).__name__}: {exc})") \
            from None
    if rec is None:
        raise SourceError(f"trial {number} of study {name!r} has no architecture (state {t.state.name.lower()}); "
                          f"choose another trial")
    if rec.status in (FAILED, INTERRUPTED) or t.state.name == "FAIL":
        raise SourceError(f"trial {number} of study {name!r} {rec.status} ({rec.failure or 'no reason recorded'}); "
                          f"choose another trial")
    try:
        spec = rec.net_spec()
    except SpecError as exc:
        raise SourceError(f"trial {number} of study {name!r}: stored architecture is invalid: {exc}") from None
    latency = trial_latency(rec)
    notes = []
    if rec.status == REJECTED:
        figure = (f"{rec.cost.flops_m:.1f} MFLOPs" if rec.budget_mflops is not None else
                  f"{rec.decided_by} {rec.latency_ms:.2f} ms")
        notes.append(f"over budget: rejected by the search ({figure} > {config.budget.label()} budget on "
                     f"{config.platform}); never trained during the search")
    elif latency.within_budget is False:
        notes.append(f"over budget: {latency.label()} > {config.budget.label()}")
    if t.state.name == "RUNNING":
        notes.append("the trial had not finished when exported")
    origin = Origin("study", "best" if best else "trial", name, label, name, number, rec.status)
    return Source(spec=spec, origin=origin, latency=latency, accuracy=trial_accuracy(rec, config),
                  dataset=config.dataset, proxy_resolution=config.proxy_resolution,
                  platform=study.user_attrs.get("platform"), proxy_task=_proxy_task(study), notes=tuple(notes))


def _proxy_task(study: Any) -> ProxyTask | None:
    """The proxy task the search estimated accuracy on (None for studies that did not record it)."""
    data = study.user_attrs.get("proxy_task")
    try:
        return ProxyTask.from_dict(data) if data else None
    except DatasetError:
        return None


# ------------------------------------------------------------------------------------------------- architectures
def profile_latency(spec: NetSpec, platform: str, predictor: str | None = None) -> LatencyRecord | None:
    """The platform profile's predicted latency of `spec` (None when the platform has no profile yet)."""
    from latency_models.profiles import find_profile

    profile = find_profile(platform)
    if profile is None:
        return None
    est = profile.estimate(spec, predictor)
    return LatencyRecord(latency_ms=est.latency_ms, kind=est.kind, platform=est.platform, runtime=est.runtime,
                         arch_id=spec.arch_id, resolution=est.resolution, batch=est.batch, predictor=est.predictor,
                         predictor_error_rmspe=est.error_rmspe, predicted_ms=est.latency_ms,
                         calibration=est.source)


def source_from_arch(spec: NetSpec, ref: str, platform: str | None = None) -> Source:
    """The network `spec` given as --arch `ref` (a name or a JSON file); latency predicted with `platform`'s
    profile when given."""
    latency = None
    notes: list[str] = []
    if platform is not None:
        latency = profile_latency(spec, platform)
        if latency is None:
            notes.append(f"no latency: platform {platform} has no profile yet (`nas latency fit --platform "
                         f"{platform}`)")
    else:
        notes.append("no latency: exported with --arch and no --platform")
    return Source(spec=spec, origin=Origin("arch", "arch", ref), latency=latency, notes=tuple(notes))
