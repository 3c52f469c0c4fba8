"""Timings datasets: schema, CSV/parquet round trips with metadata, incremental writing, validation errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from latency_models.platform import builtin_platforms
from latency_models.stats import Timing
from latency_models.timings import (COLUMNS, TimingsError, TimingsMeta, TimingsWriter, block_id, load_timings,
                                    meta_path, network_row, rows_frame, save_timings, unit_row)
from search_space.blocks import ShuffleUnit, spatial_sizes
from search_space.plan import plan
from search_space.references import reference_spec

PLAT = builtin_platforms()["cpu"]


def rows():
    spec = reference_spec("shufflenet_v2_x0_5").with_resolution(32)
    blocks = plan(spec)
    sizes = spatial_sizes(blocks, spec.resolution)
    t = Timing(1.5, 0.1, 0.05, 1.4, 10, False)
    out = [network_row(spec, t, 1, round=1, role="reference"),
           network_row(spec, Timing(1.6, 0.5, 0.2, 1.2, 10, True), 1, round=2, role="drift_ref")]
    for b, (h, w) in list(zip(blocks, sizes))[:5]:
        out.append(unit_row(b, h, w, 1, t, spec.family))
    return out


def meta():
    return TimingsMeta.collect(PLAT, warmup=1, repeats=3)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_round_trip_with_metadata(tmp_path, ext):
    if ext == "parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / f"t.{ext}"
    original = rows()
    save_timings(path, original, meta())
    assert meta_path(path).exists()
    loaded = load_timings(path)
    assert list(loaded.frame.columns) == list(COLUMNS)
    assert len(loaded) == len(original)
    pd.testing.assert_frame_equal(loaded.frame, rows_frame(original))
    assert loaded.platform == PLAT
    m = loaded.meta
    assert m.versions["torch"] and m.versions["python"] and "onnxruntime" in m.versions
    assert m.cpu_model and m.hostname and m.created_at
    assert m.settings == {"warmup": 1, "repeats": 3}
    assert len(loaded.networks()) == 2 and len(loaded.units()) == 5
    unit = loaded.units().iloc[-1]
    assert unit["block_type"] == "ShuffleUnit" and unit["variant"] == "v2" and unit["split_ratio"] == 0.5
    assert loaded.networks()["role"].tolist() == ["reference", "drift_ref"]


def test_csv_and_parquet_load_the_same(tmp_path):
    pytest.importorskip("pyarrow")
    save_timings(tmp_path / "a.csv", rows(), meta())
    save_timings(tmp_path / "a.parquet", rows(), meta())
    pd.testing.assert_frame_equal(load_timings(tmp_path / "a.csv").frame, load_timings(tmp_path / "a.parquet").frame)


def test_meta_json_contents(tmp_path):
    save_timings(tmp_path / "t.csv", rows(), meta())
    data = json.loads(meta_path(tmp_path / "t.csv").read_text())
    for key in ("schema_version", "platform", "versions", "cpu_model", "hostname", "created_at", "gpu_model", "os"):
        assert key in data
    assert data["platform"]["name"] == "cpu" and data["platform"]["runtime"] == "onnxruntime"


def test_csv_rows_are_on_disk_as_soon_as_written(tmp_path):
    path = tmp_path / "t.csv"
    writer = TimingsWriter(path, meta())
    r = rows()
    writer.write(r[0])
    writer.write(r[1])
    assert len(load_timings(path)) == 2  # readable while the writer is still open
    writer.close()


def test_parquet_rows_written_on_close_even_after_an_error(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "t.parquet"
    with pytest.raises(KeyboardInterrupt):
        with TimingsWriter(path, meta()) as writer:
            writer.write_all(rows()[:3])
            raise KeyboardInterrupt
    assert len(load_timings(path)) == 3


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_append(tmp_path, ext):
    if ext == "parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / f"t.{ext}"
    save_timings(path, rows()[:2], meta())
    with pytest.raises(TimingsError, match="already exists"):
        TimingsWriter(path, meta())
    save_timings(path, rows()[2:], meta(), append=True)
    assert len(load_timings(path)) == len(rows())
    other = TimingsMeta.collect(builtin_platforms()["cpu-torch"])
    with pytest.raises(TimingsError, match="platform cpu, not cpu-torch"):
        TimingsWriter(path, other, append=True)


def test_csv_without_pyarrow(tmp_path):
    """On a device with only the package installed: CSV works, parquet says what to install."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; sys.modules['pyarrow'] = None\n"  # makes `import pyarrow` fail, before pandas loads
        "from tests.latency_models.test_timings import rows, meta\n"
        "from latency_models.timings import save_timings, load_timings, TimingsError\n"
        f"d = {str(tmp_path)!r}\n"
        "save_timings(d + '/t.csv', rows(), meta())\n"
        "assert len(load_timings(d + '/t.csv')) == len(rows())\n"
        "try:\n"
        "    save_timings(d + '/t.parquet', rows(), meta())\n"
        "except TimingsError as exc:\n"
        "    print(exc)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stderr
    assert "pip install pyarrow" in out.stdout


def test_unit_rows_identify_blocks():
    spec = reference_spec("shufflenet_v2_x1_0")
    blocks = plan(spec)
    sizes = spatial_sizes(blocks, spec.resolution)
    units = [(b, s) for b, s in zip(blocks, sizes) if isinstance(b, ShuffleUnit)]
    (b1, (h1, w1)), (b2, (h2, w2)) = units[1], units[2]  # two identical basic units of stage 2
    assert block_id(b1, h1, w1, 1) == block_id(b2, h2, w2, 1)
    assert block_id(b1, h1, w1, 1) != block_id(b1, h1, w1, 8)
    assert block_id(units[0][0], *units[0][1], 1) != block_id(b1, h1, w1, 1)
    row = unit_row(b1, h1, w1, 1, Timing(1.0, 0.0, 0.0, 1.0, 3, False), spec.family)
    assert (row.cin, row.cout, row.h_in, row.w_in, row.stride, row.kernel, row.first) == (116, 116, 28, 28, 1, 3, False)


# ------------------------------------------------------------------------------------------- validation errors
def write_frame(tmp_path, frame: pd.DataFrame, name="bad.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    meta_path(path).write_text(json.dumps(meta().to_dict()))
    return path


def good_frame() -> pd.DataFrame:
    return rows_frame(rows())


def test_missing_column_is_named(tmp_path):
    path = write_frame(tmp_path, good_frame().drop(columns=["cv"]))
    with pytest.raises(TimingsError, match="missing column 'cv'"):
        load_timings(path)


def test_extra_column_is_named(tmp_path):
    frame = good_frame()
    frame["temperature_c"] = 40.0
    with pytest.raises(TimingsError, match="unexpected column 'temperature_c'"):
        load_timings(write_frame(tmp_path, frame))


@pytest.mark.parametrize("col", ["latency_us", "latency_s", "latency", "latency_ns"])
def test_latency_in_other_units_is_refused(tmp_path, col):
    frame = good_frame().rename(columns={"latency_ms": col})
    with pytest.raises(TimingsError, match=f"column '{col}': times must be in milliseconds, as column 'latency_ms'"):
        load_timings(write_frame(tmp_path, frame))


@pytest.mark.parametrize("value,problem", [(-1.0, "positive"), (0.0, "positive"), ("fast", "expected a number")])
def test_bad_latency_names_the_row(tmp_path, value, problem):
    frame = good_frame().astype({"latency_ms": object})
    frame.loc[2, "latency_ms"] = value
    with pytest.raises(TimingsError, match=rf"row 3 \(line 4\): column 'latency_ms'.*{problem}"):
        load_timings(write_frame(tmp_path, frame))


def test_bad_values_are_named(tmp_path):
    frame = good_frame().astype({"kind": object, "noisy": object})
    frame.loc[0, "kind"] = "kernel"
    with pytest.raises(TimingsError, match=r"row 1 .*column 'kind' must be one of network, unit, layer"):
        load_timings(write_frame(tmp_path, frame))
    frame = good_frame().astype({"noisy": object})
    frame.loc[1, "noisy"] = "maybe"
    with pytest.raises(TimingsError, match=r"row 2 .*column 'noisy': expected true/false"):
        load_timings(write_frame(tmp_path, frame))
    frame = good_frame()
    frame.loc[4, "h_in"] = pd.NA
    with pytest.raises(TimingsError, match=r"row 5 .*column 'h_in' is required for unit rows"):
        load_timings(write_frame(tmp_path, frame))


def test_file_problems(tmp_path):
    with pytest.raises(TimingsError, match="no such timings file"):
        load_timings(tmp_path / "none.csv")
    with pytest.raises(TimingsError, match="use .csv or .parquet"):
        load_timings(tmp_path / "t.xlsx")
    save_timings(tmp_path / "t.csv", rows(), meta())
    meta_path(tmp_path / "t.csv").unlink()
    with pytest.raises(TimingsError, match="metadata file t.csv.meta.json is missing"):
        load_timings(tmp_path / "t.csv")
    meta_path(tmp_path / "t.csv").write_text("{")
    with pytest.raises(TimingsError, match="not valid JSON"):
        load_timings(tmp_path / "t.csv")
    meta_path(tmp_path / "t.csv").write_text(json.dumps({**meta().to_dict(), "schema_version": 99}))
    with pytest.raises(TimingsError, match="schema_version 99"):
        load_timings(tmp_path / "t.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(TimingsError, match="empty"):
        load_timings(tmp_path / "empty.csv")


def test_discard_if_empty(tmp_path):
    path = tmp_path / "t.csv"
    writer = TimingsWriter(path, meta())
    assert path.exists() and meta_path(path).exists()
    assert writer.discard_if_empty() is True
    assert not path.exists() and not meta_path(path).exists()
    save_timings(path, rows()[:1], meta())
    appender = TimingsWriter(path, meta(), append=True)
    assert appender.discard_if_empty() is False  # never removes a file it did not create
    assert len(load_timings(path)) == 1
