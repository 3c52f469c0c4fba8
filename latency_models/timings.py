"""Timings datasets: one schema of measured latencies (networks and single blocks), CSV or parquet + metadata.

A dataset is a table (`.csv`, or `.parquet` with pyarrow) whose columns are exactly `COLUMNS`, plus a
sidecar `<file>.meta.json` (`TimingsMeta`: platform, versions, CPU/GPU model, host, date). Rows are written
as they are measured (`TimingsWriter`), so an interrupted measurement keeps every row taken before it, and
validated on load (`load_timings`): a missing, extra or wrongly-united column, or a bad value, is a
`TimingsError` naming the column (and row).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from latency_models.platform import Platform, PlatformError
from latency_models.stats import Timing
from search_space.blocks import Block, ShuffleUnit
from search_space.errors import UserError
from search_space.layers import Layer
from search_space.spec import ArchSpec, BaselineSpec

TIMINGS_SCHEMA_VERSION = 2
#: Metadata schema versions this version reads (1: before `ref_ms` and layer rows; its files load unchanged).
READABLE_SCHEMA_VERSIONS = (1, 2)
#: "network": a whole network; "unit": one block timed alone; "layer": one layer of a network, timed inside the
#: whole network by the runtime's own profiler (ONNX Runtime), so cache and layout effects of its neighbours count.
KINDS = ("network", "unit", "layer")
#: "sample": a network/unit drawn from a search space; "reference": a named reference network;
#: "drift_ref": a fixed network re-timed through a run to detect drift of the machine's speed.
ROLES = ("sample", "reference", "drift_ref")
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

#: The columns, in file order, with their type ("str", "int", "float", "bool"). Network rows leave the
#: block columns empty; unit rows leave resolution empty and hold the block's own JSON in spec_json.
COLUMN_TYPES: dict[str, str] = {
    "kind": "str", "arch_id": "str", "name": "str", "family": "str", "resolution": "int", "batch": "int",
    "spec_json": "str",
    "block": "str", "block_type": "str", "cin": "int", "cout": "int", "h_in": "int", "w_in": "int",
    "stride": "int", "kernel": "int", "variant": "str", "split_ratio": "float", "se": "bool",
    "residual": "bool", "first": "bool",
    "latency_ms": "float", "iqr_ms": "float", "cv": "float", "min_ms": "float", "samples": "int",
    "noisy": "bool", "round": "int", "role": "str", "measured_at": "str", "ref_ms": "float", "ratio_to_ref": "float",
}
COLUMNS: tuple[str, ...] = tuple(COLUMN_TYPES)
#: Columns a file may lack (written by an older version): they load as empty. `ref_ms` is the drift reference
#: network's latency timed beside the row (interleaved run by run), the machine's speed at that moment;
#: `ratio_to_ref` the row's fastest run over the reference's fastest run in that pairing, the drift-free figure
#: (the fastest runs are what a loaded machine disturbs least).
OPTIONAL_COLUMNS = ("ref_ms", "ratio_to_ref")
#: Columns every row must fill; then those each kind must fill as well.
REQUIRED = ("kind", "arch_id", "family", "batch", "latency_ms", "iqr_ms", "cv", "min_ms", "samples", "noisy",
            "round", "role", "measured_at")
REQUIRED_BY_KIND = {"network": ("resolution", "spec_json"),
                    "unit": ("block", "block_type", "cout", "h_in", "w_in", "spec_json"),
                    "layer": ("block", "block_type", "cin", "cout", "h_in", "w_in", "kernel", "stride", "spec_json")}
_PANDAS_DTYPES = {"str": "string", "int": "Int64", "float": "Float64", "bool": "boolean"}
_WRONG_UNIT = re.compile(r"^(latency|iqr|min|time|runtime|duration)(_(us|ns|s|sec|secs|seconds|micros|millis|msec|"
                         r"milliseconds|microseconds|nanoseconds))?$", re.IGNORECASE)


class TimingsError(UserError):
    """A timings file that does not follow the schema; the message names the file, column and row."""


# ------------------------------------------------------------------------------------------------------ rows
@dataclass(frozen=True)
class TimingRow:
    """One measured network or block (see `COLUMN_TYPES`); None = empty cell."""

    kind: str
    arch_id: str
    name: str
    family: str
    resolution: int | None
    batch: int
    spec_json: str
    latency_ms: float
    iqr_ms: float
    cv: float
    min_ms: float
    samples: int
    noisy: bool
    round: int = 1
    role: str = "sample"
    measured_at: str = ""
    block: str | None = None
    block_type: str | None = None
    cin: int | None = None
    cout: int | None = None
    h_in: int | None = None
    w_in: int | None = None
    stride: int | None = None
    kernel: int | None = None
    variant: str | None = None
    split_ratio: float | None = None
    se: bool | None = None
    residual: bool | None = None
    first: bool | None = None
    ref_ms: float | None = None
    ratio_to_ref: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} not one of {KINDS}")
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} not one of {ROLES}")
        if not self.measured_at:
            object.__setattr__(self, "measured_at", now_iso())

    def record(self) -> dict[str, Any]:
        """The row as {column: value} in `COLUMNS` order."""
        return {c: getattr(self, c) for c in COLUMNS}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _timing_fields(t: Timing) -> dict[str, Any]:
    return dict(latency_ms=t.latency_ms, iqr_ms=t.iqr_ms, cv=t.cv, min_ms=t.min_ms, samples=t.samples, noisy=t.noisy)


def paired_fields(timing: Timing, ref: Timing | None) -> dict[str, float | None]:
    """`ref_ms` and `ratio_to_ref` of a row timed beside the drift reference `ref` (both None without one)."""
    if ref is None:
        return {"ref_ms": None, "ratio_to_ref": None}
    return {"ref_ms": ref.latency_ms, "ratio_to_ref": timing.min_ms / ref.min_ms}


def network_row(spec: ArchSpec | BaselineSpec, timing: Timing, batch: int, round: int = 1,
                role: str = "sample", ref: Timing | None = None) -> TimingRow:
    """The row of a whole network timed at its resolution with `batch` inputs (`ref`: the drift reference timed
    beside it, run by run)."""
    return TimingRow(kind="network", arch_id=spec.arch_id, name=spec.name, family=spec.family,
                     resolution=spec.resolution, batch=batch, spec_json=spec.to_json(), round=round, role=role,
                     **paired_fields(timing, ref), **_timing_fields(timing))


#: What identifies a layer's shape for latency: its kind, channels, input / output size, kernel, stride, groups.
LAYER_FIELDS = ("kind", "cin", "cout", "h_in", "w_in", "h_out", "w_out", "kernel", "stride", "groups")


def layer_key(layer: Layer) -> dict[str, Any]:
    """The `LAYER_FIELDS` of a layer."""
    return {f: getattr(layer, f) for f in LAYER_FIELDS}


def layer_row(spec: ArchSpec | BaselineSpec, layer: Layer, timing: Timing, batch: int, round: int = 1,
              role: str = "sample", ref_ms: float | None = None) -> TimingRow:
    """The row of one layer of network `spec`, timed inside it by the runtime's profiler (arch_id: the network's,
    so its layers go with it in cross-validation; spec_json: the layer's shape, `layer_key`)."""
    return TimingRow(kind="layer", arch_id=spec.arch_id, name=layer.name, family=spec.family,
                     resolution=spec.resolution, batch=batch,
                     spec_json=json.dumps(layer_key(layer), sort_keys=True, separators=(",", ":")), round=round,
                     role=role, block=layer.block, block_type=layer.kind, cin=layer.cin, cout=layer.cout,
                     h_in=layer.h_in, w_in=layer.w_in, stride=layer.stride, kernel=layer.kernel, ref_ms=ref_ms,
                     **_timing_fields(timing))


def block_key(block: Block, h: int, w: int, batch: int) -> dict[str, Any]:
    """What identifies a block measurement: its type, its plan fields (name excluded), input size and batch."""
    fields = dataclasses.asdict(block) if dataclasses.is_dataclass(block) else {"cout": block.cout}
    fields.pop("name", None)
    return {"block_type": type(block).__name__, **fields, "h_in": h, "w_in": w, "batch": batch}


def block_id(block: Block, h: int, w: int, batch: int) -> str:
    """Short hash of `block_key` (equal blocks of different networks share it)."""
    text = json.dumps(block_key(block, h, w, batch), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def unit_row(block: Block, h: int, w: int, batch: int, timing: Timing, family: str, round: int = 1,
             role: str = "sample") -> TimingRow:
    """The row of one block (a ShuffleNet v2 unit, or a stem/head block) timed alone at input (batch, cin, h, w)."""
    key = block_key(block, h, w, batch)
    cols: dict[str, Any] = dict(cin=getattr(block, "cin", None), cout=block.cout, h_in=h, w_in=w)
    if isinstance(block, ShuffleUnit):
        u = block.unit
        cols.update(stride=block.stride, kernel=u.kernel, variant=u.variant, split_ratio=float(u.split_ratio),
                    se=u.se, residual=u.residual, first=block.first)
    else:
        conv = getattr(block, "conv", None)
        src = conv if conv is not None else block
        cols.update(cin=getattr(src, "cin", cols["cin"] if cols["cin"] is not None else getattr(block, "channels", None)),
                    stride=getattr(src, "stride", None), kernel=getattr(src, "kernel", None))
    return TimingRow(kind="unit", arch_id=block_id(block, h, w, batch), name=block.name, family=family,
                     resolution=None, batch=batch, spec_json=json.dumps(key, sort_keys=True, separators=(",", ":")),
                     round=round, role=role, block=block.name, block_type=key["block_type"], **cols,
                     **_timing_fields(timing))


# -------------------------------------------------------------------------------------------------- metadata
@dataclass(frozen=True)
class TimingsMeta:
    """Where and how a timings file was measured (the sidecar `<file>.meta.json`)."""

    platform: Platform
    created_at: str = field(default_factory=now_iso)
    hostname: str = ""
    os: str = ""
    cpu_model: str = ""
    gpu_model: str | None = None
    versions: Mapping[str, str | None] = field(default_factory=dict)
    system: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = TIMINGS_SCHEMA_VERSION

    @classmethod
    def collect(cls, platform: Platform, **settings: Any) -> "TimingsMeta":
        """Metadata of a measurement about to run here (reads CPU/GPU model and versions now)."""
        from latency_models.sysinfo import system_info

        info = system_info(with_gpu=platform.runtime == "cuda")
        versions = info.pop("versions")
        return cls(platform=platform, hostname=str(info.pop("hostname")), os=str(info.pop("os")),
                   cpu_model=str(info.pop("cpu_model")), gpu_model=info.pop("gpu_model"),  # type: ignore[arg-type]
                   versions=versions, system=info, settings=settings)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "platform": self.platform.to_dict(),
                "created_at": self.created_at, "hostname": self.hostname, "os": self.os, "cpu_model": self.cpu_model,
                "gpu_model": self.gpu_model, "versions": dict(self.versions), "system": dict(self.system),
                "settings": dict(self.settings)}

    @classmethod
    def from_dict(cls, data: Any, source: str = "metadata") -> "TimingsMeta":
        if not isinstance(data, Mapping):
            raise TimingsError(f"{source}: expected a JSON object")
        if data.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
            raise TimingsError(f"{source}: schema_version {data.get('schema_version')!r} is not supported "
                               f"(this version reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
        if "platform" not in data:
            raise TimingsError(f"{source}: missing field 'platform'")
        try:
            platform = Platform.from_dict(data["platform"])
        except (PlatformError, TypeError) as exc:
            raise TimingsError(f"{source}: platform: {exc}") from None
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise TimingsError(f"{source}: unknown field {extra[0]!r}")
        kwargs = {k: v for k, v in data.items() if k != "platform"}
        return cls(platform=platform, **kwargs)


def meta_path(path: str | Path) -> Path:
    """The sidecar metadata file of a timings file: `<file>.meta.json`."""
    p = Path(path)
    return p.with_name(p.name + ".meta.json")


def write_meta(path: str | Path, meta: TimingsMeta) -> Path:
    out = meta_path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(meta.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, out)
    return out


def read_meta(path: str | Path) -> TimingsMeta:
    mp = meta_path(path)
    try:
        text = mp.read_text()
    except FileNotFoundError:
        raise TimingsError(f"{path}: its metadata file {mp.name} is missing (it says which platform was measured)") \
            from None
    except OSError as exc:
        raise TimingsError(f"cannot read {mp}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TimingsError(f"{mp}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return TimingsMeta.from_dict(data, str(mp))


def file_format(path: str | Path) -> str:
    """"csv" or "parquet" from the file extension; TimingsError otherwise."""
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise TimingsError(f"{path}: unknown timings format {ext or '(no extension)'!r} (use .csv or .parquet)")
    return FORMATS[ext]


def _require_parquet(path: str | Path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TimingsError(f"{path}: parquet files need pyarrow (pip install pyarrow); use a .csv file instead") \
            from None


# ------------------------------------------------------------------------------------------------------ writer
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


class TimingsWriter:
    """Writes rows as they are measured: CSV rows are appended and flushed one by one; parquet rows are
    written on `close()` (which a `with` block or a `finally` runs on Ctrl-C too). The metadata sidecar is
    written when the writer opens, so a file always has it.
    """

    def __init__(self, path: str | Path, meta: TimingsMeta, append: bool = False):
        self.path = Path(path)
        self.format = file_format(self.path)
        self.meta = meta
        self.rows_written = 0
        self._buffer: list[dict[str, Any]] = []
        self._existing: pd.DataFrame | None = None
        self._fh = None
        exists = self.path.exists()
        self._created = not exists
        if exists and not append:
            raise TimingsError(f"{self.path} already exists (pass --append to add rows to it, or choose another --out)")
        if exists:
            old = load_timings(self.path)
            if old.meta.platform.name != meta.platform.name:
                raise TimingsError(f"{self.path} holds timings of platform {old.meta.platform.name}, "
                                   f"not {meta.platform.name}")
            self.meta = old.meta
            if self.format == "parquet":
                self._existing = old.frame
        if self.format == "parquet":
            _require_parquet(self.path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        write_meta(self.path, self.meta)
        if self.format == "csv":
            self._fh = open(self.path, "a" if exists else "w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh)
            if not exists:
                self._csv.writerow(COLUMNS)
                self._fh.flush()

    def write(self, row: TimingRow) -> None:
        rec = row.record()
        if self.format == "csv":
            if self._fh is None:
                raise RuntimeError("writer is closed")
            self._csv.writerow([_cell(rec[c]) for c in COLUMNS])
            self._fh.flush()
        else:
            self._buffer.append(rec)
        self.rows_written += 1

    def write_all(self, rows: Iterable[TimingRow]) -> None:
        for r in rows:
            self.write(r)

    def close(self) -> None:
        if self.format == "csv":
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            return
        if self._buffer or self._existing is None:
            frame = rows_frame(self._buffer)
            if self._existing is not None:
                frame = pd.concat([self._existing, frame], ignore_index=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, self.path)
            self._existing, self._buffer = frame, []

    def discard_if_empty(self) -> bool:
        """Close, and remove the file and its metadata if this writer created them and wrote no row."""
        self.close()
        if not self._created or self.rows_written:
            return False
        for p in (self.path, meta_path(self.path)):
            p.unlink(missing_ok=True)
        return True

    def __enter__(self) -> "TimingsWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def rows_frame(rows: Iterable[TimingRow | Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame with the schema's columns and (nullable) dtypes."""
    recs = [r.record() if isinstance(r, TimingRow) else dict(r) for r in rows]
    frame = pd.DataFrame.from_records(recs, columns=list(COLUMNS))
    return frame.astype({c: _PANDAS_DTYPES[t] for c, t in COLUMN_TYPES.items()})


def save_timings(path: str | Path, rows: Iterable[TimingRow], meta: TimingsMeta, append: bool = False) -> Path:
    """Write `rows` (and the metadata sidecar) to a .csv or .parquet file in one go."""
    with TimingsWriter(path, meta, append=append) as w:
        w.write_all(rows)
    return Path(path)


# ------------------------------------------------------------------------------------------------------ loading
@dataclass(frozen=True)
class Timings:
    """A validated timings dataset: the table (schema dtypes) and its metadata."""

    frame: pd.DataFrame
    meta: TimingsMeta
    path: Path

    @property
    def platform(self) -> Platform:
        return self.meta.platform

    def networks(self) -> pd.DataFrame:
        return self.frame[self.frame["kind"] == "network"].reset_index(drop=True)

    def units(self) -> pd.DataFrame:
        return self.frame[self.frame["kind"] == "unit"].reset_index(drop=True)

    def layers(self) -> pd.DataFrame:
        return self.frame[self.frame["kind"] == "layer"].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.frame)


def load_timings(path: str | Path) -> Timings:
    """Read and validate a timings file and its `<file>.meta.json`; TimingsError names what is wrong."""
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise TimingsError(f"{path}: no such timings file")
    try:
        if fmt == "csv":
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8")
        else:
            _require_parquet(path)
            raw = pd.read_parquet(path)
    except TimingsError:
        raise
    except pd.errors.EmptyDataError:
        raise TimingsError(f"{path}: empty file (no header row)") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file of either format
        raise TimingsError(f"{path}: cannot read as {fmt}: {exc}") from None
    frame = validate_frame(raw, str(path), csv_lines=fmt == "csv")
    meta = read_meta(path)
    return Timings(frame, meta, path)


def _check_columns(columns: list[str], source: str) -> None:
    cols = [str(c) for c in columns]
    for c in cols:
        m = _WRONG_UNIT.match(c.strip())
        if c not in COLUMN_TYPES and m:
            want = {"latency": "latency_ms", "iqr": "iqr_ms", "min": "min_ms"}.get(m.group(1).lower(), "latency_ms")
            raise TimingsError(f"{source}: column {c!r}: times must be in milliseconds, as column {want!r}")
    missing = [c for c in COLUMNS if c not in cols and c not in OPTIONAL_COLUMNS]
    if missing:
        raise TimingsError(f"{source}: missing column {missing[0]!r}" +
                           (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    extra = [c for c in cols if c not in COLUMN_TYPES]
    if extra:
        raise TimingsError(f"{source}: unexpected column {extra[0]!r} (the columns are: {', '.join(COLUMNS)})")
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise TimingsError(f"{source}: column {dup[0]!r} appears twice")


def _row_label(i: int, csv_lines: bool) -> str:
    return f"row {i + 1} (line {i + 2})" if csv_lines else f"row {i + 1}"


def _convert(series: pd.Series, col: str, typ: str, source: str, csv_lines: bool) -> pd.Series:
    """Parse one column into its schema dtype; empty cells become <NA>; a bad cell raises with its row."""
    vals = series.astype(object).where(series.notna(), None)
    vals = vals.map(lambda v: None if (isinstance(v, str) and v.strip() == "") else v)
    empty = vals.isna()
    if typ == "str":
        return vals.map(lambda v: None if v is None or pd.isna(v) else str(v)).astype("string")
    if typ == "bool":
        mapping = {"true": True, "false": False, "1": True, "0": False}

        def parse_bool(v: Any) -> Any:
            if v is None or pd.isna(v):
                return None
            if isinstance(v, bool):
                return v
            key = str(v).strip().lower()
            if key in ("1.0", "0.0"):
                key = key[0]
            return mapping.get(key, "bad")

        out = vals.map(parse_bool)
        bad = out.map(lambda v: isinstance(v, str))
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise TimingsError(f"{source}: {_row_label(i, csv_lines)}: column {col!r}: expected true/false, "
                               f"got {series.iloc[i]!r}")
        return out.astype("boolean")
    num = pd.to_numeric(vals, errors="coerce")
    bad = num.isna() & ~empty
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise TimingsError(f"{source}: {_row_label(i, csv_lines)}: column {col!r}: expected a number, "
                           f"got {series.iloc[i]!r}")
    if typ == "int":
        frac = num.notna() & (num != num.round())
        if frac.any():
            i = int(frac.to_numpy().nonzero()[0][0])
            raise TimingsError(f"{source}: {_row_label(i, csv_lines)}: column {col!r}: expected an integer, "
                               f"got {series.iloc[i]!r}")
        return num.round().astype("Int64")
    return num.astype("Float64")


def validate_frame(raw: pd.DataFrame, source: str = "timings", csv_lines: bool = False) -> pd.DataFrame:
    """Check columns, types and values of a timings table; returns it with the schema's dtypes."""
    _check_columns(list(raw.columns), source)
    raw = raw.reset_index(drop=True)
    for c in OPTIONAL_COLUMNS:
        if c not in raw.columns:
            raw[c] = None
    frame = pd.DataFrame({c: _convert(raw[c], c, COLUMN_TYPES[c], source, csv_lines) for c in COLUMNS})

    def fail(col: str, mask: pd.Series, msg: str) -> None:
        mask = mask.fillna(True).astype(bool)
        if mask.any():
            i = int(mask.to_numpy().nonzero()[0][0])
            raise TimingsError(f"{source}: {_row_label(i, csv_lines)}: column {col!r} {msg}, got {raw[col].iloc[i]!r}")

    for col in REQUIRED:
        fail(col, frame[col].isna(), "is empty (it is required)")
    fail("kind", ~frame["kind"].isin(KINDS), f"must be one of {', '.join(KINDS)}")
    fail("role", ~frame["role"].isin(ROLES), f"must be one of {', '.join(ROLES)}")
    for col in ("latency_ms", "min_ms"):
        fail(col, ~((frame[col] > 0) & (frame[col] < math.inf)), "must be a positive, finite number of milliseconds")
    fail("ref_ms", frame["ref_ms"].notna() & ~((frame["ref_ms"] > 0) & (frame["ref_ms"] < math.inf)),
         "must be empty or a positive, finite number of milliseconds")
    fail("ratio_to_ref", frame["ratio_to_ref"].notna() & ~((frame["ratio_to_ref"] > 0) &
                                                           (frame["ratio_to_ref"] < math.inf)),
         "must be empty or a positive, finite ratio")
    fail("iqr_ms", ~(frame["iqr_ms"] >= 0), "must be a non-negative number of milliseconds")
    fail("cv", ~(frame["cv"] >= 0), "must be non-negative")
    fail("min_ms", frame["min_ms"] > frame["latency_ms"], "exceeds latency_ms (the median run)")
    for col in ("samples", "batch", "round"):
        fail(col, ~(frame[col] >= 1), "must be at least 1")
    for kind, cols in REQUIRED_BY_KIND.items():
        is_kind = frame["kind"] == kind
        for col in cols:
            fail(col, is_kind & frame[col].isna(), f"is required for {kind} rows but empty")
    for col in ("resolution", "cin", "cout", "h_in", "w_in", "stride", "kernel"):
        fail(col, frame[col].notna() & ~(frame[col] >= 1), "must be a positive integer")
    return frame
