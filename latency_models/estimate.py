"""LatencyEstimate: a latency together with where it came from (measured or predicted, platform, runtime,
batch, predictor error), so nothing downstream can show a bare number."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("measured", "predicted")


@dataclass(frozen=True)
class LatencyEstimate:
    """One forward pass of `batch` inputs at `resolution` on `platform`, in ms.

    kind: "measured" (timed on the device; `cv` is its noise) or "predicted" (by `predictor`, whose typical
    relative error on held-out networks is `error_rmspe`; `extrapolates` flags a network outside the data it
    was fit on). `source` says where the platform's numbers come from ("measured" on a device, or
    "published" measurements the profile was calibrated from).
    """

    latency_ms: float
    kind: str
    platform: str
    runtime: str
    batch: int
    resolution: int
    source: str = "measured"
    predictor: str | None = None
    error_rmspe: float | None = None
    extrapolates: bool = False
    cv: float | None = None
    noisy: bool = False
    #: The drift reference network's latency (ShuffleNet v2 1x on the platform: at the figure's resolution for a
    #: measurement in the search loop, at 224 px for a timings file or a profile; the budget's frame network for
    #: a figure put on a budget's time frame) timed beside a measured figure,
    #: or at the speed a predicting profile's timings were put on; the ratio to it is free of the machine's drift,
    #: so either figure can be put on another moment's speed.
    reference_ms: float | None = None
    #: Measured figures: the reference had drifted from the session's first reading by more than the
    #: drift tolerance when this was taken (the figure is shown, but flagged, not trusted).
    drifted: bool = False
    #: Measured figures put on a budget's time frame (nas.search.budget.TimeFrame): the reading times this factor
    #: (the frame network's latency when the budget was fixed over its reading beside this one); None: as read.
    frame_scale: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"latency kind must be one of {KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        """Human form, e.g. '20.4 ms predicted (arm, paper-arm-neon, batch 1, ±6% RMSPE)'."""
        bits = [self.platform, self.runtime, f"batch {self.batch}"]
        if self.kind == "predicted" and self.error_rmspe is not None:
            bits.append(f"±{self.error_rmspe * 100:.0f}% RMSPE")
        if self.kind == "measured" and self.cv is not None:
            bits.append(f"CV {self.cv * 100:.1f}%")
        if self.extrapolates:
            bits.append("extrapolated")
        if self.noisy:
            bits.append("noisy")
        if self.drifted:
            bits.append("machine speed drifted")
        if self.frame_scale is not None:
            bits.append(f"on the budget's time frame, x{self.frame_scale:.2f}")
        if self.source == "published":
            bits.append("calibrated from published measurements")
        return f"{self.latency_ms:.2f} ms {self.kind} ({', '.join(bits)})"
