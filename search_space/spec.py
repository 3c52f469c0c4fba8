"""ArchSpec: the one encoding of a ShuffleNet-V2-style architecture (frozen, canonical JSON, arch_id)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from search_space.errors import UserError

SCHEMA_VERSION = 1
FAMILY = "shufflenet_v2"
KERNELS = (3, 5, 7)
#: Unit variants: the plain unit (Fig. 3c/3d), ShuffleNet v2* (extra 3x3 DW before the first 1x1,
#: section 4 "Object Detection") and the Xception-like branch (three DW + 1x1 pairs).
VARIANTS = ("v2", "v2_star", "xception")
MIN_RESOLUTION = 16
MAX_RESOLUTION = 4096


class SpecError(UserError, ValueError):
    """An architecture description is invalid; the message starts with the offending field."""

    def __init__(self, field_path: str, problem: str):
        self.field, self.problem = field_path, problem
        super().__init__(f"{field_path}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:  # raised in a worker process, it reaches the parent whole
        return type(self), (self.field, self.problem)


def _need_int(path: str, value: Any, lo: int | None = None, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"expected an integer, got {value!r}")
    if lo is not None and value < lo:
        raise SpecError(path, f"{value} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise SpecError(path, f"{value} is above the maximum {hi}")


def _need_bool(path: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(path, f"expected true/false, got {value!r}")


def split_channels(channels: int, ratio: float) -> int:
    """Channels c' routed through the branch for a split ratio c'/c; exact or raises ValueError."""
    exact = channels * ratio
    rounded = round(exact)
    if not math.isclose(exact, rounded, abs_tol=1e-9):
        raise ValueError(f"{channels} channels x split ratio {ratio} = {exact:g} is not a whole number")
    return int(rounded)


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError("json", f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


class SpecBase:
    """JSON, identity and resizing shared by every network spec (ArchSpec, BaselineSpec)."""

    name: str
    _id: str

    def to_dict(self, with_name: bool = True) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        d.pop("_id")
        if not with_name:
            d.pop("name")
        return d

    def _canonical(self, with_name: bool = True) -> str:
        return json.dumps(self.to_dict(with_name), sort_keys=True, separators=(",", ":"))

    def _set_id(self) -> None:
        object.__setattr__(self, "_id", hashlib.sha256(self._canonical(with_name=False).encode()).hexdigest()[:12])

    @property
    def arch_id(self) -> str:
        """Short hash of the canonical JSON (the name is excluded: same structure, same id)."""
        return self._id

    def label(self) -> str:
        """The name if it has one, else the arch_id."""
        return self.name or self.arch_id

    def to_json(self, indent: int | None = None) -> str:
        """Canonical JSON (sorted keys); `indent` only changes whitespace."""
        if indent is None:
            return self._canonical()
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @classmethod
    def from_json(cls, text: str):
        """Parse JSON text; malformed JSON raises SpecError("json", ...)."""
        return cls.from_dict(parse_json(text))  # type: ignore[attr-defined]

    def with_resolution(self, resolution: int):
        return replace(self, resolution=resolution)  # type: ignore[type-var]

    def with_classes(self, num_classes: int):
        return replace(self, num_classes=num_classes)  # type: ignore[type-var]

    def with_name(self, name: str):
        return replace(self, name=name)  # type: ignore[type-var]


@dataclass(frozen=True)
class UnitSpec:
    """One ShuffleNet v2 unit: depthwise kernel, branch variant, split ratio c'/c, SE and residual flags."""

    kernel: int = 3
    variant: str = "v2"
    split_ratio: float = 0.5
    se: bool = False
    residual: bool = False

    def validate(self, path: str = "unit") -> None:
        """Raise SpecError naming the first bad field."""
        _need_int(f"{path}.kernel", self.kernel)
        if self.kernel not in KERNELS:
            raise SpecError(f"{path}.kernel", f"{self.kernel} not in {{3, 5, 7}}")
        if self.variant not in VARIANTS:
            raise SpecError(f"{path}.variant", f"{self.variant!r} not one of {', '.join(VARIANTS)}")
        ratio = self.split_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio < 1.0:
            raise SpecError(f"{path}.split_ratio", f"{ratio!r} must be a number strictly between 0 and 1")
        _need_bool(f"{path}.se", self.se)
        _need_bool(f"{path}.residual", self.residual)


@dataclass(frozen=True)
class StageSpec:
    """A stage: output width (channels), stride of its first unit, and its units (the first one down-samples)."""

    width: int
    units: tuple[UnitSpec, ...]
    stride: int = 2

    @property
    def depth(self) -> int:
        return len(self.units)


@dataclass(frozen=True)
class ArchSpec(SpecBase):
    """A whole ShuffleNet-V2-style network at a deployment input size.

    `stem` lists the widths of the 3x3 stem convolutions (the first has stride `stem_stride`, 2 for
    ImageNet-size inputs, 1 for a small proxy input), optionally followed by a 3x3/2 max-pool; then the stages; then a 1x1 head conv of `head_width` channels (0 = none), global
    average pooling and a `num_classes` classifier. `name` labels the spec and is not part of `arch_id`.
    """

    stages: tuple[StageSpec, ...]
    resolution: int = 224
    num_classes: int = 1000
    in_channels: int = 3
    stem: tuple[int, ...] = (24,)
    stem_pool: bool = True
    stem_stride: int = 2
    head_width: int = 1024
    name: str = ""
    family: str = FAMILY
    schema_version: int = SCHEMA_VERSION
    _id: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON) but store tuples so the spec is hashable and immutable.
        object.__setattr__(self, "stem", tuple(self.stem))
        stages = []
        for st in self.stages:
            if isinstance(st, Mapping):
                raise SpecError("stages", "use ArchSpec.from_dict for mappings")
            stages.append(replace(st, units=tuple(st.units)))
        object.__setattr__(self, "stages", tuple(stages))
        self.validate()
        self._set_id()

    # ----------------------------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise SpecError naming the first invalid field (called on construction)."""
        if self.schema_version != SCHEMA_VERSION:
            raise SpecError("schema_version", f"{self.schema_version!r} is not supported (expected {SCHEMA_VERSION})")
        if self.family != FAMILY:
            raise SpecError("family", f"{self.family!r} is not {FAMILY!r}")
        if not isinstance(self.name, str):
            raise SpecError("name", f"expected a string, got {self.name!r}")
        _need_int("resolution", self.resolution, MIN_RESOLUTION, MAX_RESOLUTION)
        _need_int("num_classes", self.num_classes, 1)
        _need_int("in_channels", self.in_channels, 1)
        if not self.stem:
            raise SpecError("stem", "needs at least one convolution width")
        for i, w in enumerate(self.stem):
            _need_int(f"stem[{i}]", w, 1)
        _need_bool("stem_pool", self.stem_pool)
        _need_int("stem_stride", self.stem_stride)
        if self.stem_stride not in (1, 2):
            raise SpecError("stem_stride", f"{self.stem_stride} not in {{1, 2}}")
        _need_int("head_width", self.head_width, 0)
        if not self.stages:
            raise SpecError("stages", "needs at least one stage")
        for s, st in enumerate(self.stages):
            path = f"stages[{s}]"
            _need_int(f"{path}.width", st.width, 2)
            _need_int(f"{path}.stride", st.stride)
            if st.stride not in (1, 2):
                raise SpecError(f"{path}.stride", f"{st.stride} not in {{1, 2}}")
            if not st.units:
                raise SpecError(f"{path}.units", "empty stage (a stage needs at least one unit)")
            for u, unit in enumerate(st.units):
                upath = f"{path}.units[{u}]"
                if not isinstance(unit, UnitSpec):
                    raise SpecError(upath, f"expected a UnitSpec, got {type(unit).__name__}")
                unit.validate(upath)
                try:
                    branch = split_channels(st.width, unit.split_ratio)
                except ValueError as exc:
                    raise SpecError(f"{path}.width", f"channels not divisible as {upath}.split_ratio requires: {exc}")
                if branch < 1 or branch >= st.width:
                    raise SpecError(f"{upath}.split_ratio", f"leaves an empty side of the split ({branch}/{st.width})")
                if unit.se and branch < 2:
                    raise SpecError(f"{upath}.se", "SE needs a branch of at least 2 channels")
                if u == 0 and unit.residual:
                    raise SpecError(f"{upath}.residual", "the first unit of a stage changes shape; residual needs a basic unit")

    @property
    def units(self) -> int:
        return sum(st.depth for st in self.stages)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ArchSpec":
        """Build from a parsed JSON mapping; unknown or missing fields raise SpecError naming them."""
        if not isinstance(data, Mapping):
            raise SpecError("spec", f"expected a JSON object, got {type(data).__name__}")
        known = {"stages", "resolution", "num_classes", "in_channels", "stem", "stem_pool", "stem_stride",
                 "head_width", "name", "family", "schema_version"}
        extra = sorted(set(data) - known)
        if extra:
            raise SpecError(extra[0], "unknown field")
        if "stages" not in data:
            raise SpecError("stages", "missing")
        if "schema_version" not in data:
            raise SpecError("schema_version", "missing")
        stages_raw = data["stages"]
        if not isinstance(stages_raw, list):
            raise SpecError("stages", "expected a list")
        stages = []
        for s, st in enumerate(stages_raw):
            path = f"stages[{s}]"
            if not isinstance(st, Mapping):
                raise SpecError(path, "expected an object")
            extra = sorted(set(st) - {"width", "units", "stride"})
            if extra:
                raise SpecError(f"{path}.{extra[0]}", "unknown field")
            for key in ("width", "units"):
                if key not in st:
                    raise SpecError(f"{path}.{key}", "missing")
            if not isinstance(st["units"], list):
                raise SpecError(f"{path}.units", "expected a list")
            units = []
            for u, unit in enumerate(st["units"]):
                upath = f"{path}.units[{u}]"
                if not isinstance(unit, Mapping):
                    raise SpecError(upath, "expected an object")
                extra = sorted(set(unit) - {"kernel", "variant", "split_ratio", "se", "residual"})
                if extra:
                    raise SpecError(f"{upath}.{extra[0]}", "unknown field")
                units.append(UnitSpec(**unit))
            stages.append(StageSpec(width=st["width"], units=tuple(units), stride=st.get("stride", 2)))
        kwargs = {k: v for k, v in data.items() if k != "stages"}
        if "stem" in kwargs:
            if not isinstance(kwargs["stem"], (list, tuple)):
                raise SpecError("stem", "expected a list of widths")
            kwargs["stem"] = tuple(kwargs["stem"])
        return cls(stages=tuple(stages), **kwargs)


def uniform_stages(widths: tuple[int, ...], depths: tuple[int, ...], unit: UnitSpec = UnitSpec(),
                   strides: tuple[int, ...] | None = None) -> tuple[StageSpec, ...]:
    """Stages whose units are all `unit` (the first unit of a stage never carries the residual flag)."""
    strides = strides or (2,) * len(widths)
    first = replace(unit, residual=False)
    return tuple(StageSpec(width=w, units=((first,) + (unit,) * (d - 1)) if d > 0 else (), stride=s)
                 for w, d, s in zip(widths, depths, strides))


#: Families of the hand-designed baselines of Table 8 (their blocks live in search_space/baselines.py).
BASELINE_FAMILIES = ("mobilenet_v1", "mobilenet_v2", "shufflenet_v1", "xception")
#: The rest of Table 8: DenseNet, IGCV2, IGCV3-D, CondenseNet and the two searched networks (NASNet-A,
#: PNASNet-5); their blocks live in search_space/baselines_dense.py, baselines_igc.py and baselines_cells.py.
TABLE8_EXTRA_FAMILIES = ("densenet", "igcv2", "igcv3_d", "condensenet", "nasnet_a", "pnasnet_5")


@dataclass(frozen=True)
class BaselineSpec(SpecBase):
    """A hand-designed baseline network of another family, scaled by a width multiplier.

    `groups` is the group count of ShuffleNet v1's pointwise convolutions and CondenseNet's G = C (ignored by
    other families).
    """

    family: str
    width_mult: float
    resolution: int = 224
    num_classes: int = 1000
    in_channels: int = 3
    groups: int = 3
    name: str = ""
    schema_version: int = SCHEMA_VERSION
    _id: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.validate()
        self._set_id()

    def validate(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise SpecError("schema_version", f"{self.schema_version!r} is not supported (expected {SCHEMA_VERSION})")
        if self.family not in BASELINE_FAMILIES + TABLE8_EXTRA_FAMILIES:
            known = (FAMILY,) + BASELINE_FAMILIES + TABLE8_EXTRA_FAMILIES
            raise SpecError("family", f"{self.family!r} not one of {', '.join(known)}")
        wm = self.width_mult
        if isinstance(wm, bool) or not isinstance(wm, (int, float)) or not 0.0 < wm <= 8.0:
            raise SpecError("width_mult", f"{wm!r} must be a number in (0, 8]")
        _need_int("resolution", self.resolution, MIN_RESOLUTION, MAX_RESOLUTION)
        _need_int("num_classes", self.num_classes, 1)
        _need_int("in_channels", self.in_channels, 1)
        _need_int("groups", self.groups, 1)
        if not isinstance(self.name, str):
            raise SpecError("name", f"expected a string, got {self.name!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BaselineSpec":
        if not isinstance(data, Mapping):
            raise SpecError("spec", f"expected a JSON object, got {type(data).__name__}")
        known = {"family", "width_mult", "resolution", "num_classes", "in_channels", "groups", "name",
                 "schema_version"}
        extra = sorted(set(data) - known)
        if extra:
            raise SpecError(extra[0], "unknown field")
        for key in ("family", "width_mult", "schema_version"):
            if key not in data:
                raise SpecError(key, "missing")
        return cls(**data)


NetSpec = ArchSpec | BaselineSpec


def spec_from_dict(data: Any) -> NetSpec:
    """Any network spec from its parsed JSON (dispatch on `family`; ShuffleNet v2 when absent)."""
    if not isinstance(data, Mapping):
        raise SpecError("spec", f"expected a JSON object, got {type(data).__name__}")
    if data.get("family", FAMILY) == FAMILY:
        return ArchSpec.from_dict(data)
    return BaselineSpec.from_dict(data)


def spec_from_json(text: str) -> NetSpec:
    return spec_from_dict(parse_json(text))
