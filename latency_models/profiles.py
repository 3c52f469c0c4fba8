"""Platform profiles: a platform with its fitted predictors, their cross-validated error and provenance.

A profile is one JSON file. Profiles shipped with the package (the paper's ARM and GPU, calibrated from
published measurements) live in latency_models/data/profiles/ (rebuilt by `fit_published_profile(name).save(path)`; a test fails
when they differ from a fresh fit); profiles fit by the user (their CPU, a GPU, a Raspberry Pi measured with
`nas measure` and brought back) live in the profile store, `$NAS_HOME/profiles`
(default ~/.local/share/nas/profiles). A user profile of the same name overrides a shipped one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from latency_models.estimate import LatencyEstimate
from latency_models.platform import Platform, PlatformError, builtin_platforms
from latency_models.predictors import Predictor, PredictorError, predictor_from_dict
from search_space.spec import NetSpec

PROFILE_FORMAT = 1


class ProfileError(PlatformError):
    """No profile for a platform, or a profile file that cannot be used; the message says what to do."""


def nas_home() -> Path:
    """The user's data directory for this tool ($NAS_HOME, else $XDG_DATA_HOME/nas, else ~/.local/share/nas)."""
    if os.environ.get("NAS_HOME"):
        return Path(os.environ["NAS_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "nas"


def profile_dir() -> Path:
    return nas_home() / "profiles"


def user_profile_path(name: str) -> Path:
    return profile_dir() / f"{name}.json"


@dataclass
class Profile:
    """A platform and the predictors fit for it.

    `evaluation[kind]` holds the predictor's error on held-out data (method in `evaluation_method`), from
    which every estimate's `error_rmspe` comes. `default` is the predictor used unless another is asked for.
    """

    platform: Platform
    predictors: dict[str, Predictor]
    default: str
    evaluation: dict[str, dict[str, float]] = field(default_factory=dict)
    evaluation_method: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def predictor(self, kind: str | None = None) -> Predictor:
        kind = kind or self.default
        if kind not in self.predictors:
            raise ProfileError(f"platform {self.platform.name} has no {kind!r} predictor "
                               f"(it has: {', '.join(self.predictors)})")
        return self.predictors[kind]

    def error(self, kind: str | None = None) -> float | None:
        """The predictor's RMSPE on data it was not fit on: the held-out check of unseen networks when the profile
        has one (`nas latency eval --measure`), else its cross-validation (all networks either way)."""
        ev = self.evaluation.get(kind or self.default)
        if ev is None:
            return None
        unseen = ev.get("unseen")
        return unseen["rmspe"] if isinstance(unseen, dict) and "rmspe" in unseen else ev.get("rmspe")

    @property
    def reference_ms(self) -> float | None:
        """The drift reference network's latency at the speed the profile's timings were put on (None for
        published profiles): a prediction times (the reference's latency now / this) is on today's speed."""
        ref = self.provenance.get("reference")
        return float(ref["latency_ms"]) if isinstance(ref, dict) and ref.get("latency_ms") else None

    @property
    def reference_network(self) -> str | None:
        ref = self.provenance.get("reference")
        return ref.get("network") if isinstance(ref, dict) else None

    def estimate(self, spec: NetSpec, kind: str | None = None) -> LatencyEstimate:
        """Predicted latency of one forward pass of the platform's batch at the spec's resolution."""
        return self.estimates([spec], kind)[0]

    def estimates(self, specs: Sequence[NetSpec], kind: str | None = None) -> list[LatencyEstimate]:
        kind = kind or self.default
        pred = self.predictor(kind)
        ms = pred.predict(list(specs))
        extra = pred.extrapolates(list(specs))
        p = self.platform
        return [LatencyEstimate(float(m), "predicted", p.name, p.runtime, p.batch, s.resolution, p.source, kind,
                                self.error(kind), bool(e), reference_ms=self.reference_ms)
                for s, m, e in zip(specs, ms, extra)]

    def breakdown(self, spec: NetSpec) -> dict[str, float] | None:
        """Predicted ms per stage by the default predictor, if it can tell (the roofline can)."""
        pred = self.predictor()
        fn = getattr(pred, "breakdown", None)
        return fn(spec) if fn else None

    # ----------------------------------------------------------------------------------------- file I/O
    def to_dict(self) -> dict[str, Any]:
        return {"format": PROFILE_FORMAT, "platform": self.platform.to_dict(), "default": self.default,
                "predictors": {k: p.to_dict() for k, p in self.predictors.items()},
                "evaluation": self.evaluation, "evaluation_method": self.evaluation_method,
                "provenance": self.provenance, "created_at": self.created_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "profile") -> "Profile":
        if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
            raise ProfileError(f"{source}: not a platform profile of this version")
        try:
            preds = {k: predictor_from_dict(v) for k, v in data["predictors"].items()}
            return cls(Platform.from_dict(data["platform"]), preds, data["default"], data.get("evaluation", {}),
                       data.get("evaluation_method", ""), data.get("provenance", {}), data.get("created_at", ""))
        except (KeyError, TypeError, PredictorError) as exc:
            raise ProfileError(f"{source}: damaged profile ({exc}); refit it with `nas latency fit`") from None

    def save(self, path: str | Path | None = None) -> Path:
        """Write atomically (a crash never leaves a half-written profile); default: the user store."""
        path = Path(path) if path else user_profile_path(self.platform.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True, default=_json_default))
        tmp.replace(path)
        return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_profile_file(path: str | Path) -> Profile:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None
    return Profile.from_dict(data, str(path))


def shipped_profile_names() -> list[str]:
    root = resources.files("latency_models").joinpath("data", "profiles")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json")) if root.is_dir() else []


def load_shipped_profile(name: str) -> Profile | None:
    res = resources.files("latency_models").joinpath("data", "profiles", f"{name}.json")
    if not res.is_file():
        return None
    return Profile.from_dict(json.loads(res.read_text()), f"shipped profile {name}")


def user_profile_names() -> list[str]:
    d = profile_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def known_platforms() -> dict[str, Platform]:
    """Built-in platforms plus those of user profiles (e.g. `nas latency fit --platform my-pi`)."""
    out = dict(builtin_platforms())
    for name in user_profile_names():
        if name not in out:
            try:
                out[name] = load_profile_file(user_profile_path(name)).platform
            except ProfileError:
                continue
    return out


def get_platform(name: str) -> Platform:
    known = known_platforms()
    if name not in known:
        raise PlatformError(f"unknown platform {name!r} (known: {', '.join(known)}); register one from a timings "
                            f"file with `nas latency fit --platform {name} --timings FILE`")
    return known[name]


def find_profile(name: str) -> Profile | None:
    """The user's profile of `name`, else the shipped one, else None (the platform must be known)."""
    get_platform(name)
    path = user_profile_path(name)
    if path.exists():
        return load_profile_file(path)
    return load_shipped_profile(name)


def require_profile(name: str) -> Profile:
    """The profile of `name`; ProfileError saying how to make one when there is none."""
    prof = find_profile(name)
    if prof is None:
        platform = get_platform(name)
        how = (f"`nas latency fit --platform {name}` measures this machine and fits one (a few minutes)"
               if platform.measurable else f"fit one from published numbers with `nas latency fit --platform {name}`")
        raise ProfileError(f"platform {name} has no latency profile yet: {how}")
    return prof
