"""What the measurement agent and its client exchange: endpoints, limits, typed records and errors.

The agent (`nas agent`, server.py) runs on the device; the client (client.py) runs wherever the search runs.
Both sides turn the JSON of the wire into these frozen records, so no raw dict crosses into callers:
`DeviceInfo` (GET /v1/device), `AgentTiming` with its `ReferenceTiming` (POST /v1/measure, /v1/measure/onnx).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from latency_models.platform import Platform, PlatformError
from latency_models.stats import Timing
from search_space.errors import UserError

#: Version of the wire format; the client refuses an agent that speaks another one.
API_VERSION = 1
DEVICE_PATH = "/v1/device"
MEASURE_PATH = "/v1/measure"
MEASURE_ONNX_PATH = "/v1/measure/onnx"
#: Environment variable holding the shared token (instead of `--token`, which other users see in `ps`).
TOKEN_ENV = "NAS_AGENT_TOKEN"
MIN_TOKEN_CHARS = 16
DEFAULT_PORT = 8765
#: Request bodies: a spec JSON is a few KiB; an ONNX file of the largest registered network is ~30 MiB.
MAX_JSON_BYTES = 1 << 20
MAX_ONNX_BYTES = 64 << 20
#: One measurement (build/export + timing) is stopped after this long (`--max-seconds`).
MAX_SECONDS = 120.0
#: A connection that sends nothing for this long is closed (slow or stuck clients cannot hold the agent).
SOCKET_TIMEOUT_S = 30.0
#: The reference network timed beside the measurements, re-timed when its last timing is older than this.
REFERENCE_NAME = "shufflenet_v2_x1_0"
REFERENCE_TTL_S = 90.0
#: |reference now / reference at the agent's first timing - 1| above which a timing is flagged as drifted
#: (the value of latency_models.dataset.DRIFT_FLAG; tested equal).
DRIFT_FLAG = 0.03
#: Input shapes accepted for ONNX files: 4-D, batch at most this, sides within the spec limits.
MAX_ONNX_BATCH = 1024


class AgentError(UserError):
    """Something went wrong talking to a measurement agent; the message is one line."""


class AgentAuthError(AgentError):
    """The agent refused the token (HTTP 401), or there is no token to send."""


class AgentUnavailable(AgentError):
    """The agent cannot be reached (connection refused, reset, timed out) or is busy: retry later."""


class AgentRequestError(AgentError):
    """The agent answered with an error (4xx/5xx); `status` is the HTTP status, the message the agent's line."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class ProtocolError(AgentError):
    """An answer that does not follow the agent protocol (another program on that port, another version)."""


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, Mapping) or key not in data:
        raise ProtocolError(f"{where}: missing field {key!r}")
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ProtocolError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _num(data: Mapping[str, Any], key: str, where: str) -> float:
    value = float(_need(data, key, (int, float), where))
    if not math.isfinite(value):
        raise ProtocolError(f"{where}: field {key!r} is not a finite number")
    return value


@dataclass(frozen=True)
class AgentLimits:
    """The agent's request limits: body sizes (bytes) and the time one measurement may take (s)."""

    max_json_bytes: int = MAX_JSON_BYTES
    max_onnx_bytes: int = MAX_ONNX_BYTES
    max_seconds: float = MAX_SECONDS
    socket_timeout_s: float = SOCKET_TIMEOUT_S

    def to_dict(self) -> dict[str, Any]:
        return {"max_json_bytes": self.max_json_bytes, "max_onnx_bytes": self.max_onnx_bytes,
                "max_seconds": self.max_seconds, "socket_timeout_s": self.socket_timeout_s}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AgentLimits":
        w = "device.limits"
        return cls(int(_num(data, "max_json_bytes", w)), int(_num(data, "max_onnx_bytes", w)),
                   _num(data, "max_seconds", w), _num(data, "socket_timeout_s", w))


@dataclass(frozen=True)
class DeviceInfo:
    """The device an agent measures on: its default platform (runtime, threads, batch), host, CPU/GPU,
    library versions, the platforms it can measure, its protocol (warm-up / repeats) and limits."""

    platform: Platform
    hostname: str
    os: str
    cpu_model: str
    gpu_model: str | None = None
    versions: Mapping[str, str | None] = field(default_factory=dict)
    system: Mapping[str, Any] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    reference: str = REFERENCE_NAME
    reference_ttl_s: float = REFERENCE_TTL_S
    warmup: int | None = None
    repeats: int | None = None
    limits: AgentLimits = AgentLimits()
    api_version: int = API_VERSION

    @property
    def runtime(self) -> str:
        return self.platform.runtime

    @property
    def threads(self) -> int:
        return self.platform.threads

    @property
    def batch(self) -> int:
        return self.platform.batch

    def describe(self) -> str:
        """One line: host, CPU (or GPU) model and the platform's runtime, threads and batch."""
        hw = self.gpu_model if self.platform.runtime == "cuda" and self.gpu_model else self.cpu_model
        return f"{self.hostname} ({hw}): {self.platform.describe()}"

    def to_dict(self) -> dict[str, Any]:
        return {"api_version": self.api_version, "platform": self.platform.to_dict(), "hostname": self.hostname,
                "os": self.os, "cpu_model": self.cpu_model, "gpu_model": self.gpu_model,
                "versions": dict(self.versions), "system": dict(self.system), "platforms": list(self.platforms),
                "reference": self.reference, "reference_ttl_s": self.reference_ttl_s, "warmup": self.warmup,
                "repeats": self.repeats, "limits": self.limits.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> "DeviceInfo":
        w = "device"
        if not isinstance(data, Mapping):
            raise ProtocolError(f"{w}: expected a JSON object")
        version = _need(data, "api_version", int, w)
        if version != API_VERSION:
            raise ProtocolError(f"the agent speaks protocol version {version}, this client {API_VERSION}: "
                                f"install the same version of this package on both machines")
        try:
            platform = Platform.from_dict(_need(data, "platform", Mapping, w))
        except (PlatformError, TypeError) as exc:
            raise ProtocolError(f"{w}.platform: {exc}") from None
        gpu = data.get("gpu_model")
        warmup, repeats = data.get("warmup"), data.get("repeats")
        return cls(platform=platform, hostname=str(_need(data, "hostname", str, w)), os=str(data.get("os", "")),
                   cpu_model=str(data.get("cpu_model", "")), gpu_model=None if gpu is None else str(gpu),
                   versions=dict(data.get("versions") or {}), system=dict(data.get("system") or {}),
                   platforms=tuple(str(p) for p in data.get("platforms") or ()),
                   reference=str(data.get("reference", REFERENCE_NAME)),
                   reference_ttl_s=float(data.get("reference_ttl_s", REFERENCE_TTL_S)),
                   warmup=None if warmup is None else int(warmup), repeats=None if repeats is None else int(repeats),
                   limits=AgentLimits.from_dict(_need(data, "limits", Mapping, w)), api_version=version)


@dataclass(frozen=True)
class ReferenceTiming:
    """The reference network timed beside a measurement (same platform and resolution), in ms.

    `age_s`: how long before the answer it was timed (it is re-timed every `reference_ttl_s`);
    `drift_ratio`: its latency over its first latency at that resolution on this agent (1.0 = no drift);
    `drifted`: |drift_ratio - 1| above DRIFT_FLAG (the device got slower or faster since: a shared host,
    thermal throttling), so timings taken at different times are comparable only after dividing by the ratio.
    """

    name: str
    arch_id: str
    resolution: int
    latency_ms: float
    cv: float
    noisy: bool
    measured_at: str
    age_s: float
    drift_ratio: float
    drifted: bool
    spec_json: str
    iqr_ms: float = 0.0
    min_ms: float = 0.0
    samples: int = 1

    def timing(self) -> Timing:
        return Timing(self.latency_ms, self.iqr_ms, self.cv, self.min_ms or self.latency_ms, self.samples, self.noisy)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arch_id": self.arch_id, "resolution": self.resolution,
                "latency_ms": self.latency_ms, "iqr_ms": self.iqr_ms, "min_ms": self.min_ms, "samples": self.samples,
                "cv": self.cv, "noisy": self.noisy, "measured_at": self.measured_at, "age_s": self.age_s,
                "drift_ratio": self.drift_ratio, "drifted": self.drifted, "spec_json": self.spec_json}

    @classmethod
    def from_dict(cls, data: Any) -> "ReferenceTiming":
        w = "reference"
        return cls(name=str(_need(data, "name", str, w)), arch_id=str(_need(data, "arch_id", str, w)),
                   resolution=int(_num(data, "resolution", w)), latency_ms=_num(data, "latency_ms", w),
                   cv=_num(data, "cv", w), noisy=bool(_need(data, "noisy", bool, w)),
                   measured_at=str(_need(data, "measured_at", str, w)), age_s=_num(data, "age_s", w),
                   drift_ratio=_num(data, "drift_ratio", w), drifted=bool(_need(data, "drifted", bool, w)),
                   spec_json=str(_need(data, "spec_json", str, w)), iqr_ms=float(data.get("iqr_ms", 0.0)),
                   min_ms=float(data.get("min_ms", 0.0)), samples=int(data.get("samples", 1)))


@dataclass(frozen=True)
class AgentTiming:
    """One network (or ONNX file) measured on an agent's device: robust statistics in ms (median `latency_ms`,
    `iqr_ms`, robust `cv`, `noisy`), what was measured (`arch_id`, `name`, `resolution`, `batch`), where
    (`platform`, `device`), when (`measured_at`, the device's clock) and the `reference` timed beside it."""

    latency_ms: float
    iqr_ms: float
    cv: float
    min_ms: float
    samples: int
    noisy: bool
    arch_id: str
    name: str
    resolution: int
    batch: int
    platform: Platform
    device: DeviceInfo
    reference: ReferenceTiming
    measured_at: str
    elapsed_s: float = 0.0
    kind: str = "measured"

    @property
    def drift_ratio(self) -> float:
        return self.reference.drift_ratio

    @property
    def drifted(self) -> bool:
        return self.reference.drifted

    @property
    def corrected_latency_ms(self) -> float:
        """latency_ms divided by the reference's drift ratio: the latency at the device's first-seen speed."""
        return self.latency_ms / self.reference.drift_ratio if self.reference.drift_ratio > 0 else self.latency_ms

    @property
    def relative_to_reference(self) -> float:
        """latency_ms over the reference's latency taken beside it (comparable across time and devices)."""
        return self.latency_ms / self.reference.latency_ms

    def timing(self) -> Timing:
        return Timing(self.latency_ms, self.iqr_ms, self.cv, self.min_ms, self.samples, self.noisy)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "latency_ms": self.latency_ms, "iqr_ms": self.iqr_ms, "cv": self.cv,
                "min_ms": self.min_ms, "samples": self.samples, "noisy": self.noisy, "arch_id": self.arch_id,
                "name": self.name, "resolution": self.resolution, "batch": self.batch,
                "platform": self.platform.to_dict(), "device": self.device.to_dict(),
                "reference": self.reference.to_dict(), "measured_at": self.measured_at, "elapsed_s": self.elapsed_s}

    @classmethod
    def from_dict(cls, data: Any) -> "AgentTiming":
        w = "measurement"
        if not isinstance(data, Mapping):
            raise ProtocolError(f"{w}: expected a JSON object")
        if data.get("kind") != "measured":
            raise ProtocolError(f"{w}: kind is {data.get('kind')!r}, expected 'measured'")
        try:
            platform = Platform.from_dict(_need(data, "platform", Mapping, w))
        except (PlatformError, TypeError) as exc:
            raise ProtocolError(f"{w}.platform: {exc}") from None
        return cls(latency_ms=_num(data, "latency_ms", w), iqr_ms=_num(data, "iqr_ms", w), cv=_num(data, "cv", w),
                   min_ms=_num(data, "min_ms", w), samples=int(_num(data, "samples", w)),
                   noisy=bool(_need(data, "noisy", bool, w)), arch_id=str(_need(data, "arch_id", str, w)),
                   name=str(data.get("name") or ""), resolution=int(_num(data, "resolution", w)),
                   batch=int(_num(data, "batch", w)), platform=platform,
                   device=DeviceInfo.from_dict(_need(data, "device", Mapping, w)),
                   reference=ReferenceTiming.from_dict(_need(data, "reference", Mapping, w)),
                   measured_at=str(_need(data, "measured_at", str, w)), elapsed_s=float(data.get("elapsed_s", 0.0)))

    def with_device(self, device: DeviceInfo) -> "AgentTiming":
        return replace(self, device=device)


def check_token(token: str | None, source: str = "--token") -> str:
    """The token, stripped; AgentAuthError when it is missing or shorter than MIN_TOKEN_CHARS."""
    token = (token or "").strip()
    if not token:
        raise AgentAuthError(f"no agent token: give {source} T or set {TOKEN_ENV} (the same on both machines)")
    if len(token) < MIN_TOKEN_CHARS:
        raise AgentAuthError(f"the agent token is too short ({len(token)} characters; at least {MIN_TOKEN_CHARS}, "
                             f"e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise AgentAuthError("the agent token must be printable characters without spaces")
    return token
