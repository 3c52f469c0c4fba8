"""Measuring: platforms, the re-measure policy, rounds and drift reference, units, interrupts and failures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from latency_models.backends import Backend, MeasurementError, Prepared, get_backend
from latency_models.measure import (KeptNetworks, MeasureSettings, MeasurementInterrupted, Job, drift_schedule, measure_jobs,
                                    measure_network, measure_networks, network_jobs, resolve_platform,
                                    time_interleaved, time_robust, unit_jobs)
from latency_models.platform import PlatformError, builtin_platforms
from latency_models.stats import summarize
from latency_models.timings import TimingsMeta, TimingsWriter, load_timings
from search_space.references import reference_spec
from search_space.space import SearchSpace
from tests.latency_models.conftest import TINY_RES, small_variant_specs

QUIET = [1.0, 1.0, 1.01, 0.99, 1.0]
NOISY = [1.0, 2.0, 3.0, 1.5, 2.5]


class FakeBackend(Backend):
    """Scripted run times; records what it prepared and timed. `fail_on` raises on that prepare call."""

    name = "fake"

    def __init__(self, scripts=None, fail_on=None, interrupt_on=None):
        self.scripts = itertools.cycle(scripts or [QUIET])
        self.prepared: list[str] = []
        self.timed: list[str] = []
        self.closed: list[str] = []
        self.fail_on, self.interrupt_on = fail_on, interrupt_on

    def available(self):
        return True, ""

    def prepare(self, target, input_shape, platform, label=""):
        self.prepared.append(label)
        if self.fail_on is not None and len(self.prepared) == self.fail_on:
            raise MeasurementError(f"{label}: unsupported operator")
        return Prepared(label, input_shape, platform, lambda: None, lambda: np.zeros(1),
                        cleanup=[lambda: self.closed.append(label)])

    def time(self, prepared, warmup, repeats, threshold=0.05, keep_samples=False, min_warmup_s=0.0, min_timed_s=0.0):
        self.timed.append(prepared.label)
        if self.interrupt_on is not None and len(self.timed) == self.interrupt_on:
            raise KeyboardInterrupt
        return summarize(next(self.scripts), threshold)

    def sample(self, prepared, runs):
        return [1.0] * runs


PLAT = builtin_platforms()["cpu"].with_(warmup=0, repeats=5)
SETTINGS = MeasureSettings(warmup=0, repeats=5)


def specs(n=5):
    rng = np.random.default_rng(1)
    space = SearchSpace.default().with_fixed(resolution=TINY_RES)
    return [space.sample(rng) for _ in range(n)]


# ------------------------------------------------------------------------------------------------- platforms
def test_resolve_platform():
    assert resolve_platform("cpu").runtime == "onnxruntime"
    with pytest.raises(PlatformError, match=r"unknown platform 'tpu' \(known: cpu, cpu-torch, gpu, arm, gpu-1080ti\)"):
        resolve_platform("tpu")
    with pytest.raises(PlatformError, match="platform arm cannot be measured here: .*published"):
        resolve_platform("arm")


# ------------------------------------------------------------------------------------------ re-measure policy
def test_quiet_timing_is_taken_once():
    b = FakeBackend([QUIET])
    t = time_robust(b, b.prepare(None, (1,), PLAT, "n"), SETTINGS)
    assert not t.noisy and t.attempts == 1 and b.timed == ["n"]


def test_noisy_timing_is_retaken_and_the_quiet_one_kept():
    b = FakeBackend([NOISY, QUIET])
    t = time_robust(b, b.prepare(None, (1,), PLAT, "n"), SETTINGS)
    assert not t.noisy and t.attempts == 2 and t.latency_ms == 1.0


def test_always_noisy_timing_is_marked():
    b = FakeBackend([NOISY])
    t = time_robust(b, b.prepare(None, (1,), PLAT, "n"), MeasureSettings(0, 5, retries=3))
    assert t.noisy and t.attempts == 4 and len(b.timed) == 4


def test_settings_default_to_the_platform_protocol():
    s = MeasureSettings.of(builtin_platforms()["gpu"])
    assert (s.warmup, s.repeats) == (20, 50)
    assert MeasureSettings.of(PLAT, warmup=3).warmup == 3
    with pytest.raises(ValueError):
        MeasureSettings(warmup=0, repeats=0)


# --------------------------------------------------------------------------------------------- rounds, drift
def test_drift_schedule():
    assert drift_schedule(25, 10) == [0, 10, 20, 25]
    assert drift_schedule(20, 10) == [0, 10, 20]
    assert drift_schedule(0, 10) == [0]
    with pytest.raises(ValueError):
        drift_schedule(5, 0)


def test_rounds_shuffle_the_order_and_time_the_drift_reference():
    nets = specs(12)
    ref = reference_spec("shufflenet_v2_x0_5").with_resolution(TINY_RES)
    b = FakeBackend()
    seen, progress = [], []
    rows = measure_jobs(network_jobs(nets), PLAT, rounds=2, seed=3, reference=ref, drift_every=5, settings=SETTINGS,
                        backend=b, on_row=seen.append, progress=lambda d, t, l: progress.append((d, t)))
    assert seen == rows
    samples = [r for r in rows if r.role == "sample"]
    drift = [r for r in rows if r.role == "drift_ref"]
    assert len(samples) == 24 and len(drift) == 2 * len(drift_schedule(12, 5))
    assert all(r.arch_id == ref.arch_id for r in drift)
    r1 = [r.arch_id for r in samples if r.round == 1]
    r2 = [r.arch_id for r in samples if r.round == 2]
    assert sorted(r1) == sorted(r2) == sorted(s.arch_id for s in nets)  # every round measures everything
    assert r1 != r2  # in a different order
    assert rows[0].role == "drift_ref" and rows[-1].role == "drift_ref"
    # round 1 is complete before round 2 starts
    assert max(i for i, r in enumerate(rows) if r.round == 1) < min(i for i, r in enumerate(rows) if r.round == 2)
    # the reference is prepared once; every prepared network is closed
    assert b.prepared.count(ref.label()) == 1 and sorted(b.closed) == sorted(b.prepared)
    total = progress[-1][1]
    assert progress[-1] == (total, total) and total == len(rows)
    again = measure_jobs(network_jobs(nets), PLAT, rounds=2, seed=3, settings=SETTINGS, backend=FakeBackend())
    assert [r.arch_id for r in again] == [r.arch_id for r in rows if r.role == "sample"]  # seeded


def test_references_are_marked():
    ref = reference_spec("shufflenet_v2_x0_5").with_resolution(TINY_RES)
    rows = measure_networks(specs(2), PLAT, references=[ref], warmup=0, repeats=5, backend=FakeBackend())
    assert sorted(r.role for r in rows) == ["reference", "sample", "sample"]


def test_nothing_to_measure():
    with pytest.raises(ValueError):
        measure_networks([], PLAT, backend=FakeBackend())


# ------------------------------------------------------------------------------------------- interrupt, errors
def test_ctrl_c_keeps_the_rows_already_measured(tmp_path):
    path = tmp_path / "t.csv"
    b = FakeBackend(interrupt_on=4)
    with pytest.raises(MeasurementInterrupted) as info:
        with TimingsWriter(path, TimingsMeta.collect(PLAT)) as writer:
            measure_networks(specs(6), PLAT, warmup=0, repeats=5, backend=b, on_row=writer.write)
    assert len(info.value.rows) == 3
    assert isinstance(info.value, KeyboardInterrupt)
    assert len(load_timings(path)) == 3
    assert sorted(b.closed) == sorted(b.prepared)  # the interrupted network was released too


def test_ctrl_c_with_a_real_backend_keeps_rows(tmp_path, monkeypatch):
    """Real torch timing; the 3rd timing call is interrupted as if by Ctrl-C."""
    backend = get_backend("torch")
    real_time, calls = backend.time, []

    def time(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_time(*a, **k)
    monkeypatch.setattr(backend, "time", time)
    path = tmp_path / "t.csv"
    plat = builtin_platforms()["cpu-torch"]
    with pytest.raises(KeyboardInterrupt):
        with TimingsWriter(path, TimingsMeta.collect(plat)) as writer:
            measure_networks(list(small_variant_specs().values())[:4], plat, warmup=0, repeats=2, retries=0,
                             backend=backend, on_row=writer.write)
    kept = load_timings(path)
    assert len(kept) == 2 and (kept.frame["latency_ms"] > 0).all()


def test_a_failing_network_stops_the_run_after_the_earlier_rows(tmp_path):
    seen = []
    with pytest.raises(MeasurementError, match="unsupported operator"):
        measure_networks(specs(5), PLAT, warmup=0, repeats=5, backend=FakeBackend(fail_on=3), on_row=seen.append)
    assert len(seen) == 2


# ------------------------------------------------------------------------------------------------ real backends
def test_measure_network_on_the_cpu_platforms(tiny_spec, cpu_platforms):
    for plat in cpu_platforms:
        backend = get_backend(plat.runtime)
        if not backend.available()[0]:
            continue
        t = measure_network(tiny_spec, plat, warmup=1, repeats=3)
        assert t.latency_ms > 0 and t.samples == 3 and 1 <= t.attempts


def test_units_are_distinct_blocks_timed_alone(tiny_spec):
    jobs = unit_jobs([tiny_spec, tiny_spec])
    names = [j.block.name for j in jobs]
    # stem conv, pool, 3 first units + 1 basic unit per stage (the rest repeat), head conv, classifier
    assert names == ["stem.conv0", "stem.pool", "stage2.unit0", "stage2.unit1", "stage3.unit0", "stage3.unit1",
                     "stage4.unit0", "stage4.unit1", "head.conv", "head.classifier"]
    assert [j.kind for j in unit_jobs([tiny_spec], shuffle_units_only=True)] == ["unit"] * 6
    plat = builtin_platforms()["cpu-torch"]
    rows = measure_networks([tiny_spec], plat, units=True, networks=False, warmup=0, repeats=2, retries=0)
    assert len(rows) == len(jobs) and all(r.kind == "unit" and r.latency_ms > 0 for r in rows)
    by_block = {r.block: r for r in rows}
    u = by_block["stage3.unit0"]
    assert (u.block_type, u.first, u.stride, u.h_in, u.cin, u.cout) == ("ShuffleUnit", True, 2, 4, 48, 96)


def test_interleaved_timing(tiny_spec):
    backend = get_backend("torch")
    plat = builtin_platforms()["cpu-torch"]
    small = tiny_spec
    larger = reference_spec("shufflenet_v2_x1_0").with_resolution(TINY_RES)
    with backend.prepare(small, (1, 3, TINY_RES, TINY_RES), plat) as a, \
            backend.prepare(larger, (1, 3, TINY_RES, TINY_RES), plat) as b:
        ta, tb = time_interleaved(backend, [a, b], MeasureSettings(1, 4))
    assert ta.samples == tb.samples == 4 and ta.latency_ms > 0 and tb.latency_ms > 0
    assert time_interleaved(backend, [], MeasureSettings(1, 4)) == []


def test_kept_networks_prepare_the_kept_one_once(tiny_spec):
    """Beside three candidates the kept network is prepared once and stays open; each candidate is prepared,
    timed beside it and freed; the kept network asked for itself is timed alone; close() frees it."""
    backend = FakeBackend()
    kept = KeptNetworks(PLAT, backend)
    frame = reference_spec("shufflenet_v2_x0_5").with_resolution(TINY_RES)
    for spec in specs(3):
        t, a = kept.time_beside(spec, frame)
        assert t.latency_ms == a.latency_ms == pytest.approx(1.0)
    assert len(backend.prepared) == 4 and len(backend.closed) == 3
    t, a = kept.time_beside(frame, frame)
    assert t is a and len(backend.prepared) == 4
    kept.close()
    assert len(backend.closed) == 4


def test_job_input_shapes(tiny_spec):
    j = network_jobs([tiny_spec])[0]
    assert j.input_shape(8) == (8, 3, TINY_RES, TINY_RES)
    u = unit_jobs([tiny_spec])[0]
    assert isinstance(u, Job) and u.input_shape(2) == (2, 3, TINY_RES, TINY_RES)
