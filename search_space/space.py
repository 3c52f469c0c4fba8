"""SearchSpace: ranges of the architecture choices; the only place parameters map to an ArchSpec."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

import numpy as np

from search_space.errors import UserError
from search_space.spec import KERNELS, VARIANTS, ArchSpec, SpecError, StageSpec, UnitSpec


class ParamError(UserError):
    """A parameter set does not describe a member of the search space."""


@dataclass(frozen=True)
class Dim:
    """One searchable dimension: a categorical `choices` tuple, or an integer range low..high by step."""

    name: str
    choices: tuple[Any, ...] = ()
    low: int = 0
    high: int = 0
    step: int = 1

    @property
    def is_int_range(self) -> bool:
        return not self.choices

    def values(self) -> tuple[Any, ...]:
        return self.choices if self.choices else tuple(range(self.low, self.high + 1, self.step))

    def draw(self, rng: np.random.Generator) -> Any:
        """A uniform draw from the dimension."""
        vals = self.values()
        return vals[int(rng.integers(len(vals)))]

    def contains(self, value: Any) -> bool:
        if self.choices:
            return any(value == c and type(value) is type(c) for c in self.choices)
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high \
            and (value - self.low) % self.step == 0


Ask = Callable[[Dim], Any]


@dataclass(frozen=True)
class StageRange:
    """Choices for one stage: output width range (multiples of `width_step`) and depth range."""

    width_low: int
    width_high: int
    depth_low: int
    depth_high: int
    width_step: int = 4
    stride: int = 2


@dataclass(frozen=True)
class SearchSpace:
    """A ShuffleNet-V2-style space: per-stage width/depth, per-unit kernel/variant/split/SE(/residual),
    head width and input resolution.

    Widths are multiples of 4 and split ratios are quarters, so every combination is a valid network
    (c' = ratio * width is whole). A dimension with a single choice is fixed and not a parameter.
    """

    stages: tuple[StageRange, ...]
    kernels: tuple[int, ...] = KERNELS
    variants: tuple[str, ...] = VARIANTS
    split_ratios: tuple[float, ...] = (0.25, 0.5, 0.75)
    se: tuple[bool, ...] = (False, True)
    residual: tuple[bool, ...] = (False,)
    head_widths: tuple[int, ...] = (512, 768, 1024, 1280, 1536, 2048)
    resolutions: tuple[int, ...] = (160, 192, 224)
    stem: tuple[int, ...] = (24,)
    num_classes: int = 1000
    in_channels: int = 3
    name: str = "default"

    @classmethod
    def default(cls) -> "SearchSpace":
        """The default space: around ShuffleNet v2 0.5x..2x (Table 5), every unit choice of the paper."""
        return cls(stages=(StageRange(24, 256, 2, 6), StageRange(48, 512, 4, 10), StageRange(96, 1024, 2, 6)))

    def with_fixed(self, resolution: int | None = None, num_classes: int | None = None,
                   in_channels: int | None = None) -> "SearchSpace":
        """The same space at a fixed deployment input (resolution, classes, input channels)."""
        out = self
        if resolution is not None:
            out = replace(out, resolutions=(resolution,))
        if num_classes is not None:
            out = replace(out, num_classes=num_classes)
        if in_channels is not None:
            out = replace(out, in_channels=in_channels)
        return out

    # ------------------------------------------------------------------------------------------ dimensions
    def _global_dims(self) -> tuple[Dim, Dim]:
        return Dim("resolution", self.resolutions), Dim("head_width", self.head_widths)

    def stage_dims(self, s: int) -> tuple[Dim, Dim]:
        r = self.stages[s]
        return (Dim(f"s{s}_width", low=r.width_low, high=r.width_high, step=r.width_step),
                Dim(f"s{s}_depth", low=r.depth_low, high=r.depth_high))

    def unit_dims(self, s: int, u: int) -> tuple[Dim, ...]:
        p = f"s{s}_u{u}_"
        dims = [Dim(p + "kernel", self.kernels), Dim(p + "variant", self.variants),
                Dim(p + "split", self.split_ratios), Dim(p + "se", self.se)]
        if u > 0:
            dims.append(Dim(p + "residual", self.residual))
        return tuple(dims)

    def build(self, ask: Ask) -> ArchSpec:
        """The spec chosen by `ask` (called once per dimension, define-by-run: depth before its units).

        Dimensions with one choice are not asked. Optuna's `trial.suggest_*`, a random generator and a
        stored parameter dict all drive this one function.
        """
        def pick(d: Dim) -> Any:
            vals = d.values()
            return vals[0] if len(vals) == 1 else ask(d)

        res_dim, head_dim = self._global_dims()
        resolution, head = pick(res_dim), pick(head_dim)
        stages = []
        for s, rng_s in enumerate(self.stages):
            wdim, ddim = self.stage_dims(s)
            width, depth = pick(wdim), pick(ddim)
            units = []
            for u in range(depth):
                dims = self.unit_dims(s, u)
                vals = {d.name.rsplit("_", 1)[-1]: pick(d) for d in dims}
                units.append(UnitSpec(kernel=vals["kernel"], variant=vals["variant"], split_ratio=vals["split"],
                                      se=vals["se"], residual=vals.get("residual", False)))
            stages.append(StageSpec(width=width, units=tuple(units), stride=rng_s.stride))
        return ArchSpec(stages=tuple(stages), resolution=resolution, num_classes=self.num_classes,
                        in_channels=self.in_channels, stem=self.stem, head_width=head)

    def sample(self, rng: np.random.Generator) -> ArchSpec:
        """A uniformly drawn member (each dimension independently uniform)."""
        return self.build(lambda d: d.draw(rng))

    def sample_scaled(self, rng: np.random.Generator, jitter: float = 0.15) -> ArchSpec:
        """A member whose size dimensions (resolution, head width, every stage's width and depth) sit around one
        level t ~ U(0, 1) of their ranges (each at t plus N(0, `jitter`), clipped), the unit choices uniform.

        Independent uniform dimensions make almost every member middle-sized (the sizes of many dimensions add
        up), so small or large networks are rare: under a tight budget one uniform draw in thousands fits. Drawing
        the level first spreads members evenly over sizes."""
        t = float(rng.random())
        sized = {"resolution", "head_width"}

        def ask(d: Dim) -> Any:
            vals = d.values()
            if d.name in sized or d.name.endswith(("_width", "_depth")):
                pos = min(1.0, max(0.0, t + float(rng.normal(0.0, jitter))))
                return vals[int(round(pos * (len(vals) - 1)))]
            return d.draw(rng)

        return self.build(ask)

    def from_params(self, params: Mapping[str, Any]) -> ArchSpec:
        """The spec of a parameter dict (as stored by Optuna / Ray); ParamError names a missing/bad one."""
        def ask(d: Dim) -> Any:
            if d.name not in params:
                raise ParamError(f"parameter {d.name!r} is missing")
            value = params[d.name]
            if isinstance(value, np.generic):
                value = value.item()
            if not d.contains(value):
                raise ParamError(f"parameter {d.name}={value!r} is outside the space")
            return value
        return self.build(ask)

    def to_params(self, spec: ArchSpec) -> dict[str, Any]:
        """The parameter dict of a member (inverse of `from_params`); ParamError if it is not a member."""
        params: dict[str, Any] = {}
        res_dim, head_dim = self._global_dims()
        self._put(params, res_dim, spec.resolution)
        self._put(params, head_dim, spec.head_width)
        if len(spec.stages) != len(self.stages):
            raise ParamError(f"spec has {len(spec.stages)} stages, the space {len(self.stages)}")
        for s, st in enumerate(spec.stages):
            wdim, ddim = self.stage_dims(s)
            self._put(params, wdim, st.width)
            self._put(params, ddim, st.depth)
            for u, unit in enumerate(st.units):
                values = {"kernel": unit.kernel, "variant": unit.variant, "split": unit.split_ratio, "se": unit.se,
                          "residual": unit.residual}
                for d in self.unit_dims(s, u):
                    self._put(params, d, values[d.name.rsplit("_", 1)[-1]])
        rebuilt = self.from_params(params)
        if rebuilt.arch_id != spec.arch_id:
            raise ParamError("spec differs from the space's fixed choices (stem, classes, input channels, strides)")
        return params

    @staticmethod
    def _put(params: dict[str, Any], d: Dim, value: Any) -> None:
        if not d.contains(value):
            raise ParamError(f"{d.name}={value!r} is outside the space")
        if len(d.values()) > 1:
            params[d.name] = value

    def contains(self, spec: ArchSpec) -> bool:
        """True if `spec` is a member of this space."""
        try:
            self.to_params(spec)
        except (ParamError, SpecError):
            return False
        return True

    def size_log10(self) -> float:
        """log10 of the number of members (for reporting)."""
        res_dim, head_dim = self._global_dims()
        total = np.log10(len(res_dim.values())) + np.log10(len(head_dim.values()))
        for s in range(len(self.stages)):
            wdim, ddim = self.stage_dims(s)
            per_unit = [float(np.prod([len(d.values()) for d in self.unit_dims(s, u)])) for u in range(2)]
            # sum over depths of (first unit choices) * (other unit choices)^(depth-1)
            depth_sum = sum(per_unit[0] * per_unit[1] ** (d - 1) for d in ddim.values())
            total += np.log10(len(wdim.values())) + np.log10(depth_sum)
        return float(total)
