"""Measurement inside the search loop: a candidate that would be trained is timed on the device first (this
machine, or a device running `nas agent`), and the measurement decides the budget; candidates the (loop-
corrected) predictor puts beyond its error band over the budget are rejected unmeasured. Under a FLOPs budget
the multiply-adds decide and nothing needs measuring; the candidates within it are still timed, so the study
shows their device latency.

The prediction is corrected as the search goes: the study's own measured candidates give the ratio measured /
predicted (median) and its spread; the corrected prediction and the band come from them, so the predictor's
error near the budget shrinks with every measurement. A drift reference network is timed beside the
measurements (at most every REFERENCE_EVERY_S seconds) and a measurement taken while the machine's speed had
moved by more than DRIFT_TOLERANCE from the session's first reading is flagged.

A budget with a time frame (relative to a network, `--budget shufflenet_v2_x0_5`) is measured differently: the
frame network is timed beside every candidate, run by run (`KeptNetworks.time_beside`: the frame network is
prepared once and kept), and the candidate's reading is
put on the frame (times frame ms / the frame network's reading now), so the budget decision is the side-by-side
ratio, which the machine's drift does not move; nothing is flagged as drifted then, the drift is corrected.
"""

from __future__ import annotations

import statistics
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

from latency_models.agent import AgentClient, AgentLink
from latency_models.backends import Backend
from latency_models.estimate import LatencyEstimate
from latency_models.measure import KeptNetworks, backend_for, measure_network
from latency_models.platform import Platform, builtin_platforms
from latency_models.profiles import get_platform
from nas.search.budget import TimeFrame
from nas.search.record import DECIDED_BY_FLOPS, EVALUATED, PRUNED, REJECTED, TrialRecord, load_records
from search_space.references import reference_spec
from search_space.spec import NetSpec

DRIFT_REFERENCE = "shufflenet_v2_x1_0"
REFERENCE_EVERY_S = 60.0
DRIFT_TOLERANCE = 0.10
#: The band (relative) a corrected prediction must clear over the budget to be rejected unmeasured: this many
#: times the error (the profile's held-out RMSPE at first, the loop's own spread once it has MIN_LOOP points).
BAND_SIGMAS = 2.0
MIN_LOOP = 4


class Measurer(ABC):
    """Times a network on the search's platform; `measure` returns None when the device is unreachable now."""

    name: str = ""

    @abstractmethod
    def measure(self, spec: NetSpec) -> LatencyEstimate | None:
        """A measured LatencyEstimate of `spec` (with the drift reference beside it), or None if unavailable."""

    def close(self) -> None:
        """Free what the measurer keeps between measurements (nothing by default)."""

    def describe(self) -> str:
        return self.name


class LocalMeasurer(Measurer):
    """This machine is the platform's device (cpu, cpu-torch, gpu with CUDA); with a `frame`, every figure is put
    on the budget's time frame by its network timed beside (module docstring), prepared once per input size and
    kept until `close()`."""

    def __init__(self, platform: Platform, frame: TimeFrame | None = None, backend: Backend | None = None):
        self.platform = platform
        self.frame = frame
        self.backend = backend or backend_for(platform)
        self.name = f"this machine ({platform.name}, {platform.runtime})"
        self._reference: dict[int, tuple[float, float]] = {}  # resolution -> (ms, when)
        self._first: dict[int, float] = {}
        self._kept: KeptNetworks | None = None

    def _timing(self, spec: NetSpec) -> Any:
        return measure_network(spec, self.platform, backend=self.backend)

    def reference_ms(self, resolution: int) -> float:
        """The drift reference at `resolution`, re-timed when the last reading is older than REFERENCE_EVERY_S."""
        ms, when = self._reference.get(resolution, (0.0, 0.0))
        if time.monotonic() - when > REFERENCE_EVERY_S:
            ref = reference_spec(DRIFT_REFERENCE).with_resolution(resolution)
            ms = self._timing(ref).latency_ms
            self._reference[resolution] = (ms, time.monotonic())
            self._first.setdefault(resolution, ms)
        return ms

    def measure(self, spec: NetSpec) -> LatencyEstimate | None:
        if self.frame is not None:
            return self._on_frame(spec, self.frame)
        ref = self.reference_ms(spec.resolution)
        t = self._timing(spec)
        first = self._first[spec.resolution]
        return LatencyEstimate(latency_ms=t.latency_ms, kind="measured", platform=self.platform.name,
                               runtime=self.platform.runtime, batch=self.platform.batch, resolution=spec.resolution,
                               cv=t.cv, noisy=t.noisy, reference_ms=ref,
                               drifted=abs(ref / first - 1.0) > DRIFT_TOLERANCE)

    def _on_frame(self, spec: NetSpec, frame: TimeFrame) -> LatencyEstimate:
        anchor = frame_spec(frame.network, spec.resolution, spec.num_classes)
        if self._kept is None:
            self._kept = KeptNetworks(self.platform, self.backend)
        t, a = self._kept.time_beside(spec, anchor)  # the frame network itself: its frame figure by definition
        scale = frame.ms / a.latency_ms
        return LatencyEstimate(latency_ms=t.latency_ms * scale, kind="measured", platform=self.platform.name,
                               runtime=self.platform.runtime, batch=self.platform.batch, resolution=spec.resolution,
                               cv=t.cv, noisy=t.noisy or a.noisy, reference_ms=a.latency_ms, frame_scale=scale)

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None


def frame_spec(network: str, resolution: int, num_classes: int) -> NetSpec:
    """The registered `network` as a budget's time frame times it: at the deployment input, with the task's classes."""
    return reference_spec(network).with_resolution(resolution).with_classes(num_classes)


class AgentMeasurer(Measurer):
    """The device runs `nas agent` (token from NAS_AGENT_TOKEN); while it is unreachable, `measure` returns None
    (the search goes on with labelled predictions) and it is tried again at most every `retry_s` seconds."""

    def __init__(self, url: str, platform_name: str, retry_s: float = 30.0):
        self.link = AgentLink(AgentClient(url), retry_s=retry_s)
        self.platform_name = platform_name
        self.name = f"nas agent at {url}"

    def measure(self, spec: NetSpec) -> LatencyEstimate | None:
        own = self.platform_name if self.platform_name in builtin_platforms() else None
        t = self.link.measure(spec, own)
        if t is None:
            return None
        return LatencyEstimate(latency_ms=t.latency_ms, kind="measured", platform=self.platform_name,
                               runtime=t.platform.runtime, batch=t.batch, resolution=t.resolution, cv=t.cv,
                               noisy=t.noisy, reference_ms=t.reference.latency_ms, drifted=t.drifted)


@dataclass(frozen=True)
class LoopCalibration:
    """measured / predicted over the study's measured candidates: `factor` (median) and `spread` (median
    absolute relative deviation from it, as an RMSPE-like sigma); `n` points. factor 1 and the profile's error
    until there are MIN_LOOP points."""

    factor: float
    spread: float
    n: int

    @classmethod
    def from_records(cls, records: Sequence[TrialRecord], profile_error: float | None) -> "LoopCalibration":
        ratios = [r.measured.latency_ms / r.predicted.latency_ms for r in records
                  if r.measured is not None and r.decided_by == "measured" and r.predicted.latency_ms > 0
                  and not r.measured.drifted]
        default = profile_error if profile_error is not None else 0.25
        if len(ratios) < MIN_LOOP:
            return cls(1.0, default, len(ratios))
        factor = statistics.median(ratios)
        spread = 1.4826 * statistics.median(abs(r / factor - 1.0) for r in ratios)
        return cls(factor, max(spread, 0.02), len(ratios))

    def corrected_ms(self, predicted_ms: float) -> float:
        return predicted_ms * self.factor

    def clearly_over(self, predicted_ms: float, budget_ms: float) -> bool:
        """Whether the corrected prediction is beyond the error band over the budget (reject unmeasured)."""
        return self.corrected_ms(predicted_ms) > budget_ms * (1.0 + BAND_SIGMAS * self.spread)


def can_measure_here(platform_name: str) -> tuple[bool, str]:
    """Whether this machine is the platform's device: a built-in local platform (cpu, cpu-torch, gpu) whose
    runtime works here. A user platform fit from timings measured elsewhere (a Raspberry Pi, a phone) is not."""
    platform = get_platform(platform_name)
    if not platform.measurable:
        return False, f"{platform_name} is calibrated from published measurements; its latencies stay predicted"
    builtin = builtin_platforms().get(platform_name)
    if builtin is None or not builtin.measurable:
        return False, f"{platform_name} was measured on its own device; its latencies here stay predicted"
    try:
        backend_for(platform)
    except Exception as exc:  # noqa: BLE001 - e.g. no CUDA device, no onnxruntime
        return False, str(exc)
    return True, ""


def measured_records(study: Any) -> list[TrialRecord]:
    """The study's candidates whose budget check was decided by a measurement."""
    return [r for r in load_records(study) if r.measured is not None and r.decided_by == "measured"]


def make_measurer(platform_name: str, measure_on: str | None, frame: TimeFrame | None = None) -> Measurer | None:
    """The agent at `measure_on` when given, else this machine when it is the platform's device (its figures put
    on `frame` when given), else None. An agent's figures stay as read (it times its own drift reference)."""
    if measure_on:
        return AgentMeasurer(measure_on, platform_name)
    ok, _ = can_measure_here(platform_name)
    return LocalMeasurer(builtin_platforms()[platform_name], frame) if ok else None


@dataclass(frozen=True)
class LoopSummary:
    """What measuring in the loop did in a study: candidates measured before training, rejected by the
    corrected prediction unmeasured, trained ones measured over the budget (0 by construction), seconds spent
    measuring and their share of all trials' seconds, the corrected prediction's median relative error near
    the budget (within NEAR of it) over the first and the last NEAR_N measured candidates, and the machine
    speed flags (measurements taken while the drift reference had moved). `budget_kind` "flops": a FLOPs
    budget decided, the measurements only show the device latency (nothing rejected unmeasured, no error near
    a latency budget)."""

    measured: int
    rejected_unmeasured: int
    trained_over_budget: int
    measure_s: float
    trials_s: float
    near_budget_error_start: float | None
    near_budget_error_end: float | None
    drifted: int
    budget_kind: str = "latency"

    @property
    def share(self) -> float | None:
        return self.measure_s / self.trials_s if self.trials_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "share": self.share}


NEAR = 0.25
NEAR_N = 5


def loop_summary(records: Sequence[TrialRecord]) -> LoopSummary | None:
    """The summary of a study's in-loop measurements (None when it measured nothing in the loop)."""
    records = [r for r in records if r.reference is None]  # references are evaluated whatever their latency
    shown = [r for r in records if r.measured is not None and r.decided_by == DECIDED_BY_FLOPS]
    if shown:  # a FLOPs budget: measured to show the device latency, not to decide
        return LoopSummary(
            measured=len(shown), rejected_unmeasured=0,
            trained_over_budget=sum(1 for r in shown if r.status in (EVALUATED, PRUNED) and not r.within_budget),
            measure_s=sum(r.measure_s for r in records), trials_s=sum(r.duration_s or 0.0 for r in records),
            near_budget_error_start=None, near_budget_error_end=None,
            drifted=sum(1 for r in shown if r.measured is not None and r.measured.drifted), budget_kind="flops")
    measured = [r for r in records if r.measured is not None and r.decided_by == "measured"]
    if not measured and not any(r.loop_factor is not None for r in records):
        return None
    near = [abs(r.predicted.latency_ms * (r.loop_factor or 1.0) / r.measured.latency_ms - 1.0)  # type: ignore[union-attr]
            for r in measured
            if r.budget_ms and abs(r.measured.latency_ms / r.budget_ms - 1.0) <= NEAR]  # type: ignore[union-attr]
    return LoopSummary(
        measured=len(measured),
        rejected_unmeasured=sum(1 for r in records if r.status == REJECTED and r.decided_by == "predicted"
                                and r.loop_factor is not None),
        trained_over_budget=sum(1 for r in measured if r.status in (EVALUATED, PRUNED) and not r.within_budget),
        measure_s=sum(r.measure_s for r in records),
        trials_s=sum(r.duration_s or 0.0 for r in records),
        near_budget_error_start=statistics.median(near[:NEAR_N]) if near else None,
        near_budget_error_end=statistics.median(near[-NEAR_N:]) if near else None,
        drifted=sum(1 for r in measured if r.measured is not None and r.measured.drifted))
