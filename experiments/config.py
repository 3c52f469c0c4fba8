"""Experiment configs (experiments/configs/NAME.json, read on demand) and the settings of one run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from search_space.errors import UserError


class ExperimentError(UserError):
    """An experiment that cannot run as asked (unknown name, bad setting, missing input file)."""


@dataclass(frozen=True)
class ExperimentConfig:
    """One study: what it runs (`params`) and how it times (rounds x repeats after warm-up runs).

    `repeats` / `warmup` None means the platform's own protocol. `quick` holds the overrides `--quick` applies
    (top-level keys and a nested `params` dict merged key by key).
    """

    name: str
    title: str
    description: str
    rounds: int = 3
    repeats: int | None = None
    warmup: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    quick: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ExperimentError(f"experiment {self.name}: rounds must be at least 1")
        if self.repeats is not None and self.repeats < 1:
            raise ExperimentError(f"experiment {self.name}: repeats must be at least 1")
        if self.warmup is not None and self.warmup < 0:
            raise ExperimentError(f"experiment {self.name}: warmup must not be negative")

    def quick_version(self) -> "ExperimentConfig":
        """The config with its `quick` overrides applied (few repeats, small sizes)."""
        top = {k: v for k, v in self.quick.items() if k != "params"}
        params = {**self.params, **dict(self.quick.get("params", {}))}
        return replace(self, params=params, quick={}, **top)

    def param(self, key: str) -> Any:
        if key not in self.params:
            raise ExperimentError(f"experiment {self.name}: config has no parameter {key!r}")
        return self.params[key]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description, "rounds": self.rounds,
                "repeats": self.repeats, "warmup": self.warmup, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> "ExperimentConfig":
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(data) - known)
        if extra:
            raise ExperimentError(f"{source}: unknown field {extra[0]!r}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ExperimentError(f"{source}: {exc}") from None


def load_config(name: str, path: str | Path | None = None) -> ExperimentConfig:
    """The shipped config of experiment `name` (or the JSON file at `path`)."""
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ExperimentError(f"cannot read config {path}: {exc.strerror or exc}") from None
        source = str(path)
    else:
        res = resources.files("experiments").joinpath("configs", f"{name}.json")
        if not res.is_file():
            raise ExperimentError(f"experiment {name!r} has no config file")
        text, source = res.read_text(), f"configs/{name}.json"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExperimentError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"{source}: expected a JSON object")
    return ExperimentConfig.from_dict(data, source)


@dataclass(frozen=True)
class RunSettings:
    """How one run was asked for: platform name, output folder, overrides of the config, seed, input files, and
    how the HTML figure carries plotly.js ("inline": self-contained file; "directory": one shared plotly.min.js)."""

    platform: str
    out_dir: Path | None = None
    repeats: int | None = None
    rounds: int | None = None
    warmup: int | None = None
    quick: bool = False
    seed: int = 0
    timings: tuple[Path, ...] = ()
    plotlyjs: str = "inline"

    def __post_init__(self) -> None:
        for key in ("repeats", "rounds"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ExperimentError(f"--{key} must be at least 1 (got {value})")
        if self.warmup is not None and self.warmup < 0:
            raise ExperimentError(f"--warmup must not be negative (got {self.warmup})")
        if self.plotlyjs not in ("inline", "directory", "cdn"):
            raise ExperimentError(f"--plotlyjs must be inline, directory or cdn (got {self.plotlyjs!r})")

    def apply(self, config: ExperimentConfig) -> ExperimentConfig:
        """The config this run uses: `--quick` overrides first, then explicit --repeats/--rounds/--warmup."""
        cfg = config.quick_version() if self.quick else config
        changes = {k: getattr(self, k) for k in ("repeats", "rounds", "warmup") if getattr(self, k) is not None}
        return replace(cfg, **changes) if changes else cfg
