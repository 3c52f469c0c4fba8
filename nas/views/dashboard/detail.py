"""One trial in detail: its architecture unit by unit, cost, guideline findings, latency by stage, export command."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from latency_models.profiles import Profile
from nas.views.dashboard.data import StudyData, TrialRow
from search_space.spec import ArchSpec, NetSpec, SpecError, spec_from_json


@dataclass(frozen=True)
class UnitCell:
    """One unit of a stage: where it is and its choices (kernel, variant, split ratio c'/c, SE, residual)."""

    stage: int
    stage_name: str
    index: int
    width: int
    stride: int
    kernel: int
    variant: str
    split_ratio: float
    se: bool
    residual: bool

    def short(self) -> str:
        """Compact cell text, e.g. "k5 .25 SE R" (kernel, split ratio, SE, residual)."""
        bits = [f"k{self.kernel}", f"{self.split_ratio:.2g}".lstrip("0")]
        if self.se:
            bits.append("SE")
        if self.residual:
            bits.append("R")
        return " ".join(bits)


@dataclass(frozen=True)
class TrialDetail:
    """What the architecture view shows for one trial."""

    row: TrialRow
    spec: NetSpec | None
    spec_error: str
    units: tuple[UnitCell, ...]
    stages: tuple[dict[str, Any], ...]
    cost: dict[str, float | int]
    cost_by_stage: dict[str, dict[str, float]]
    findings: tuple[dict[str, Any], ...]
    lint_summary: dict[str, dict[str, int]]
    breakdown_ms: dict[str, float] | None
    breakdown_label: str
    export_command: str


def unit_cells(spec: ArchSpec) -> list[UnitCell]:
    """Every unit of every stage, in network order (stage names as the cost model's: stage2, stage3, ...)."""
    return [UnitCell(s, f"stage{s + 2}", u, st.width, st.stride if u == 0 else 1, unit.kernel, unit.variant,
                     float(unit.split_ratio), bool(unit.se), bool(unit.residual))
            for s, st in enumerate(spec.stages) for u, unit in enumerate(st.units)]


def export_command(storage_arg: str, study: str, number: int) -> str:
    """The exact `nas export` command line of a trial (arguments shell-quoted)."""
    return (f"nas export --storage {shlex.quote(storage_arg)} --study {shlex.quote(study)} --trial {number} "
            f"--format onnx")


def breakdown_label(data: StudyData) -> str:
    """What the per-stage latency is: predicted, by which profile, with its error."""
    if data.profile is None:
        return data.profile_note or "no latency profile here"
    return f"latency per stage, {data.profile.label()}, at {data.config.resolution}px"


def trial_detail(data: StudyData, number: int, profile: Profile | None) -> TrialDetail | None:
    """The detail of trial `number`, or None when the study has no such trial."""
    from search_space.cost import cost
    from search_space.lint import lint

    row = data.row(number)
    if row is None:
        return None
    spec: NetSpec | None = None
    error = ""
    if row.spec:
        try:
            spec = spec_from_json(row.spec)
        except SpecError as exc:
            error = f"stored spec does not load here: {exc}"
    else:
        error = "the trial stored no architecture"
    units: list[UnitCell] = unit_cells(spec) if isinstance(spec, ArchSpec) else []
    stages: list[dict[str, Any]] = []
    summary: dict[str, float | int] = {}
    by_stage: dict[str, dict[str, float]] = {}
    findings: list[dict[str, Any]] = []
    lint_summary: dict[str, dict[str, int]] = {}
    breakdown = None
    if spec is not None:
        rep = cost(spec)
        summary, by_stage = rep.summary(), rep.by_stage()
        report = lint(spec)
        findings = [f.to_dict() for f in report.findings]
        lint_summary = report.summary()
        if isinstance(spec, ArchSpec):
            stages = [{"stage": f"stage{i + 2}", "width": st.width, "units": st.depth, "stride": st.stride}
                      for i, st in enumerate(spec.stages)]
        if profile is not None:
            try:
                breakdown = profile.breakdown(spec)
            except Exception:  # noqa: BLE001 - a predictor that cannot split this network
                breakdown = None
    return TrialDetail(row, spec, error, tuple(units), tuple(stages), summary, by_stage, tuple(findings),
                       lint_summary, breakdown, breakdown_label(data),
                       export_command(data.storage, data.study, number))
