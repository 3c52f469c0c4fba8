"""Measuring networks and single blocks on a platform: robust timings, rounds, drift reference, rows.

`measure_network(spec, platform)` times one network. `measure_networks(specs, platform, rounds=2,
reference=ref, on_row=writer.write)` times many: every round visits all jobs in its own seeded shuffled
order (round 1 for all, then round 2, ...), re-times a fixed drift reference network at the start of each
round, after every `drift_every` jobs and at the end (rows with role "drift_ref"), and hands each row to
`on_row` as soon as it is measured, so an interrupted run keeps everything measured before the interrupt.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from latency_models.backends import Backend, MeasurementError, Prepared, get_backend
from latency_models.backends.base import MAX_RUNS, MIN_TIMED_S, MIN_WARMUP_S, RUN_NODE
from latency_models.backends.torch_cpu import torch_threads
from latency_models.platform import Platform, PlatformError, builtin_platforms
from latency_models.stats import NOISE_CV_THRESHOLD, NOISE_RETRIES, Timing, least_noisy, scaled, summarize
from latency_models.timings import TimingRow, block_id, layer_row, network_row, paired_fields, unit_row
from search_space.blocks import Block, spatial_sizes
from search_space.plan import plan
from search_space.progress import ProgressFn
from search_space.spec import ArchSpec, BaselineSpec

NetSpec = ArchSpec | BaselineSpec
#: Jobs between two timings of the drift reference inside a round.
DRIFT_EVERY = 10
#: progress(done, total, label): called before each measurement and once with done == total at the end.
RowFn = Callable[[TimingRow], None]


class MeasurementInterrupted(KeyboardInterrupt):
    """Ctrl-C during a multi-network measurement; `rows` holds every row measured before it."""

    def __init__(self, rows: list[TimingRow]):
        super().__init__(f"interrupted after {len(rows)} measurements")
        self.rows = rows


# ------------------------------------------------------------------------------------------------ platforms
def resolve_platform(name: str) -> Platform:
    """A built-in platform that can be measured on this kind of machine; PlatformError says why not."""
    known = builtin_platforms()
    if name not in known:
        raise PlatformError(f"unknown platform {name!r} (known: {', '.join(known)})")
    platform = known[name]
    if not platform.measurable:
        raise PlatformError(f"platform {name} cannot be measured here: its profile is calibrated from published "
                            f"measurements ({platform.device}); to measure a real device, run "
                            f"`nas measure --platform cpu` on it and fit the timings file it writes")
    return platform


def backend_for(platform: Platform) -> Backend:
    """The backend of `platform.runtime`, checked to be usable here (MeasurementError otherwise)."""
    if not platform.measurable:
        raise PlatformError(f"platform {platform.name} cannot be measured: its numbers are published, not measured")
    backend = get_backend(platform.runtime)
    backend.ensure_available(platform)
    return backend


@dataclass(frozen=True)
class MeasureSettings:
    """How each network is timed: warm-up runs, timed runs, noise threshold (robust CV) and re-timings."""

    warmup: int
    repeats: int
    threshold: float = NOISE_CV_THRESHOLD
    retries: int = NOISE_RETRIES
    min_warmup_s: float = 0.0
    min_timed_s: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.repeats < 1 or self.retries < 0 or not self.threshold > 0:
            raise ValueError(f"bad measure settings {self}")

    @classmethod
    def of(cls, platform: Platform, warmup: int | None = None, repeats: int | None = None,
           threshold: float = NOISE_CV_THRESHOLD, retries: int = NOISE_RETRIES) -> "MeasureSettings":
        """The platform's protocol (`warmup`, `repeats`, each stretched to a minimum duration) with optional
        overrides (an explicit count is taken exactly)."""
        return cls(platform.warmup if warmup is None else warmup, platform.repeats if repeats is None else repeats,
                   threshold, retries, MIN_WARMUP_S if warmup is None else 0.0,
                   MIN_TIMED_S if repeats is None else 0.0)


def time_robust(backend: Backend, prepared: Prepared, settings: MeasureSettings) -> Timing:
    """Time once; while the result is noisy, re-time (up to `settings.retries` more) and keep the least noisy.

    The kept timing still says `noisy=True` if every attempt was above the threshold, so a noisy
    measurement is marked, never silently trusted.
    """
    def once() -> Timing:
        return backend.time(prepared, settings.warmup, settings.repeats, settings.threshold,
                            min_warmup_s=settings.min_warmup_s, min_timed_s=settings.min_timed_s)

    timings = [once()]
    while timings[-1].noisy and len(timings) <= settings.retries:
        timings.append(once())
    return least_noisy(timings)


def time_interleaved(backend: Backend, prepared: Sequence[Prepared], settings: MeasureSettings) -> list[Timing]:
    """Time several prepared networks run by run in rotating order (A B C, B C A, ...) so that slow drift of
    the machine affects each of them alike; for side-by-side comparisons (one Timing per network)."""
    if not prepared:
        return []
    runs: list[list[float]] = [[] for _ in prepared]
    with contextlib.ExitStack() as stack:
        stack.enter_context(backend.context(prepared[0]))
        for p in prepared:
            t0, done = time.perf_counter(), 0
            while done < settings.warmup or (settings.warmup > 0 and time.perf_counter() - t0 < settings.min_warmup_s):
                p.run()
                done += 1
        n = len(prepared)
        r = 0
        # at least `repeats` rotations, and as many more as make each network's timed runs last min_timed_s
        while r < settings.repeats or (min(sum(x) for x in runs) / 1e3 < settings.min_timed_s and r < MAX_RUNS):
            for k in range(n):
                i = (r + k) % n
                runs[i].extend(backend.sample(prepared[i], 1))
            r += 1
    return [summarize(s, settings.threshold) for s in runs]


# ------------------------------------------------------------------------------------------------ one target
def network_input_shape(spec: NetSpec, batch: int) -> tuple[int, int, int, int]:
    return (batch, spec.in_channels, spec.resolution, spec.resolution)


def block_in_channels(block: Block) -> int:
    """Input channels of a block (ShuffleUnit/Classifier `cin`, ConvBlock `conv.cin`, MaxPool `channels`)."""
    for get in (lambda b: b.cin, lambda b: b.conv.cin, lambda b: b.channels):
        try:
            value = get(block)
        except AttributeError:
            continue
        if isinstance(value, int):
            return value
    raise MeasurementError(f"block {block.name}: cannot tell its input channels ({type(block).__name__})")


def block_inference_module(block: Block, seed: int = 0) -> nn.Module:
    """The inference form of one block's module (BN folded), eval mode, channels-last; seeded weights."""
    from search_space.modules import block_module

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = block_module(block).eval()
    infer = getattr(module, "inference", None)
    if callable(infer):
        module = infer()
    return module.eval().to(memory_format=torch.channels_last)


def measure_target(target: Any, input_shape: tuple[int, ...], platform: Platform,
                   settings: MeasureSettings | None = None, backend: Backend | None = None, label: str = "") -> Timing:
    """Prepare, time robustly and dispose of one network / module / ONNX file."""
    backend = backend or backend_for(platform)
    settings = settings or MeasureSettings.of(platform)
    with backend.prepare(target, input_shape, platform, label) as prepared:
        return time_robust(backend, prepared, settings)


def measure_network(spec: NetSpec, platform: Platform, warmup: int | None = None, repeats: int | None = None,
                    threshold: float = NOISE_CV_THRESHOLD, retries: int = NOISE_RETRIES,
                    backend: Backend | None = None) -> Timing:
    """Latency of one forward pass of `spec` at its resolution with `platform.batch` inputs."""
    settings = MeasureSettings.of(platform, warmup, repeats, threshold, retries)
    return measure_target(spec, network_input_shape(spec, platform.batch), platform, settings, backend)


def time_side_by_side(specs: Sequence[NetSpec], platform: Platform, rounds: int = 1,
                      backend: Backend | None = None) -> list[list[Timing]]:
    """Each network's Timing in each of `rounds` interleaved rounds (`time_interleaved`, one preparation of each):
    result[round][i] is network i. Ratios between networks of one round are free of the machine's drift."""
    backend = backend or backend_for(platform)
    settings = MeasureSettings.of(platform)
    with contextlib.ExitStack() as stack:
        prepared = [stack.enter_context(backend.prepare(s, network_input_shape(s, platform.batch), platform))
                    for s in specs]
        return [time_interleaved(backend, prepared, settings) for _ in range(rounds)]


class KeptNetworks:
    """Networks prepared once and kept for many side-by-side timings: `time_beside(spec, kept)` times `spec` run by
    run beside `kept` (a budget's frame network beside each candidate of a search) and prepares only `spec`; the
    kept network is exported and loaded the first time it is asked for. `close()` frees them."""

    def __init__(self, platform: Platform, backend: Backend | None = None):
        self.platform = platform
        self.backend = backend or backend_for(platform)
        self._kept: dict[str, Prepared] = {}

    def prepared(self, spec: NetSpec) -> Prepared:
        if spec.arch_id not in self._kept:
            self._kept[spec.arch_id] = self.backend.prepare(spec, network_input_shape(spec, self.platform.batch),
                                                            self.platform)
        return self._kept[spec.arch_id]

    def time_beside(self, spec: NetSpec, kept: NetSpec) -> tuple[Timing, Timing]:
        """(spec's Timing, kept's Timing) from one interleaved timing; `spec` the kept network itself: timed alone."""
        settings = MeasureSettings.of(self.platform)
        anchor = self.prepared(kept)
        if spec.arch_id == kept.arch_id:
            timing = time_interleaved(self.backend, [anchor], settings)[0]
            return timing, timing
        with self.backend.prepare(spec, network_input_shape(spec, self.platform.batch), self.platform) as p:
            t, a = time_interleaved(self.backend, [p, anchor], settings)
        return t, a

    def close(self) -> None:
        for prepared in self._kept.values():
            prepared.close()
        self._kept.clear()


# ------------------------------------------------------------------------------------------------------ jobs
@dataclass(frozen=True)
class Job:
    """One thing to time: a whole network (`spec`) or one block of a network at its input size."""

    kind: str
    label: str
    role: str = "sample"
    spec: NetSpec | None = None
    block: Block | None = None
    h: int = 0
    w: int = 0
    family: str = ""

    def input_shape(self, batch: int) -> tuple[int, ...]:
        if self.kind == "network":
            assert self.spec is not None
            return network_input_shape(self.spec, batch)
        assert self.block is not None
        return (batch, block_in_channels(self.block), self.h, self.w)

    def target(self) -> Any:
        if self.kind == "network":
            return self.spec
        assert self.block is not None
        return block_inference_module(self.block)

    def row(self, timing: Timing, batch: int, round: int, ref: Timing | None = None) -> TimingRow:
        """The job's row; `ref`: the drift reference timed beside it."""
        if self.kind == "network":
            assert self.spec is not None
            return network_row(self.spec, timing, batch, round, self.role, ref)
        assert self.block is not None
        return replace(unit_row(self.block, self.h, self.w, batch, timing, self.family, round, self.role),
                       **paired_fields(timing, ref))


def network_jobs(specs: Iterable[NetSpec], role: str = "sample") -> list[Job]:
    return [Job("network", s.label(), role, spec=s) for s in specs]


def unit_jobs(specs: Iterable[NetSpec], batch: int = 1, role: str = "sample",
              shuffle_units_only: bool = False) -> list[Job]:
    """One job per distinct block (type, shape, choices, input size) over the networks' plans.

    With `shuffle_units_only` only ShuffleNet v2 units are kept; otherwise stem, pooling and head blocks
    are timed too (so a per-block table can add up to a whole network).
    """
    from search_space.blocks import ShuffleUnit

    seen: set[str] = set()
    jobs = []
    for spec in specs:
        blocks = plan(spec)
        for block, (h, w) in zip(blocks, spatial_sizes(blocks, spec.resolution)):
            if shuffle_units_only and not isinstance(block, ShuffleUnit):
                continue
            key = block_id(block, h, w, batch)
            if key in seen:
                continue
            seen.add(key)
            jobs.append(Job("unit", f"{spec.label()}:{block.name}", role, block=block, h=h, w=w,
                            family=spec.family))
    return jobs


def drift_schedule(n_jobs: int, drift_every: int) -> list[int]:
    """Positions (0..n_jobs) in a round before which the drift reference is timed: start, every k, end."""
    if drift_every < 1:
        raise ValueError("drift_every must be at least 1")
    points = list(range(0, n_jobs, drift_every))
    if not points or points[-1] != n_jobs:
        points.append(n_jobs)
    return points


def measure_jobs(jobs: Sequence[Job], platform: Platform, *, rounds: int = 1, seed: int = 0,
                 reference: NetSpec | None = None, drift_every: int = DRIFT_EVERY,
                 settings: MeasureSettings | None = None, backend: Backend | None = None,
                 on_row: RowFn | None = None, progress: ProgressFn | None = None, paired: bool = False,
                 layer_runs: int = 0, deadline_s: float | None = None) -> list[TimingRow]:
    """Time every job in each of `rounds` rounds (each round in its own order, shuffled with `seed`).

    With `reference`, that network is prepared once and timed at `drift_schedule` points of every round
    (rows with role "drift_ref"); with `paired` as well, it is instead timed beside every job, run by run in
    alternation (`time_interleaved`), so each row's `ref_ms` is the machine's speed at that very moment and the
    ratio of the two is free of drift. `layer_runs` > 0: the matrix layers of every network are also timed
    inside it by the runtime's profiler over that many runs (layer rows). `deadline_s`: no job starts after so
    many seconds (rounds are cut short; what was measured is kept). Each row goes to `on_row` as soon as it
    exists. Ctrl-C raises MeasurementInterrupted carrying the rows so far; a MeasurementError (a network that
    cannot run) stops the run, after `on_row` has received every earlier row.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    if paired and reference is None:
        raise ValueError("paired timing needs a reference network")
    backend = backend or backend_for(platform)
    settings = settings or MeasureSettings.of(platform)
    batch = platform.batch
    drift_points = drift_schedule(len(jobs), drift_every) if reference is not None and not paired else []
    total = rounds * (len(jobs) + len(drift_points))
    started = time.perf_counter()
    rows: list[TimingRow] = []
    done = 0

    def emit(row: TimingRow) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    def tick(label: str) -> None:
        if progress is not None:
            progress(done, total, label)

    ref_prepared: Prepared | None = None
    ref_job = Job("network", reference.label(), "drift_ref", spec=reference) if reference is not None else None
    # The whole run (model building and export included) uses the platform's CPU thread count: an idle
    # OpenMP pool left by a 2-thread export spins on the cores and disturbs the single-thread timings.
    threads = torch_threads(platform.threads) if platform.runtime != "cuda" else contextlib.nullcontext()
    try:
        threads.__enter__()
        if ref_job is not None:
            ref_prepared = backend.prepare(ref_job.target(), ref_job.input_shape(batch), platform, ref_job.label)
        for r in range(1, rounds + 1):
            order = np.random.default_rng([seed, r]).permutation(len(jobs)) if jobs else np.array([], dtype=int)
            for pos in range(len(jobs) + 1):
                if ref_prepared is not None and ref_job is not None and pos in drift_points:
                    tick(f"round {r}: drift reference {ref_job.label}")
                    ref = time_robust(backend, ref_prepared, settings)
                    emit(ref_job.row(ref, batch, r, ref))
                    done += 1
                if pos == len(jobs) or (deadline_s is not None and time.perf_counter() - started > deadline_s):
                    break
                job = jobs[int(order[pos])]
                tick(f"round {r}: {job.label}")
                with backend.prepare(job.target(), job.input_shape(batch), platform, job.label) as prepared:
                    if paired:
                        ref, timing = time_interleaved(backend, [ref_prepared, prepared], settings)  # type: ignore[list-item]
                        emit(ref_job.row(ref, batch, r, ref))  # type: ignore[union-attr]
                    else:
                        ref, timing = None, time_robust(backend, prepared, settings)
                    ref_ms = ref.latency_ms if ref is not None else None
                    emit(job.row(timing, batch, r, ref))
                    if layer_runs and job.kind == "network":
                        for row in layer_rows(backend, prepared, job, layer_runs, batch, r, ref_ms, timing):
                            emit(row)
                done += 1
            if deadline_s is not None and time.perf_counter() - started > deadline_s:
                break
        tick("done")
    except KeyboardInterrupt as exc:
        raise MeasurementInterrupted(rows) from exc
    finally:
        if ref_prepared is not None:
            ref_prepared.close()
        threads.__exit__(None, None, None)
    return rows


def layer_rows(backend: Backend, prepared: Prepared, job: Job, runs: int, batch: int, round: int,
               ref_ms: float | None, network: Timing) -> list[TimingRow]:
    """Rows of the matrix layers of a prepared network job, timed inside it by the runtime's profiler and put on
    the network's own timing `network`: each layer's times are scaled by the network's latency over the sum of
    all its profiled nodes (so the machine's speed while profiling cancels, and a network's nodes add up to what
    its row says; the profiler's own overhead between nodes is left out)."""
    from latency_models.layer_timing import match_layers

    assert job.spec is not None
    nodes = backend.profile_nodes(prepared, runs)
    total = sum(n.timing.latency_ms for n in nodes if n.name != RUN_NODE)
    scale = network.latency_ms / total if total > 0 else 1.0
    return [layer_row(job.spec, layer, scaled(node.timing, scale), batch, round, job.role, ref_ms)
            for layer, node in match_layers(job.spec, nodes)]


def measure_networks(specs: Sequence[NetSpec], platform: Platform, *, references: Sequence[NetSpec] = (),
                     units: bool = False, networks: bool = True, rounds: int = 1, seed: int = 0,
                     reference: NetSpec | None = None, drift_every: int = DRIFT_EVERY,
                     warmup: int | None = None, repeats: int | None = None, threshold: float = NOISE_CV_THRESHOLD,
                     retries: int = NOISE_RETRIES, backend: Backend | None = None, on_row: RowFn | None = None,
                     progress: ProgressFn | None = None, paired: bool = False, layer_runs: int = 0,
                     deadline_s: float | None = None) -> list[TimingRow]:
    """Time whole networks (`specs` as "sample", `references` as "reference") and/or their distinct blocks
    (`units=True`), in `rounds` seeded shuffled rounds with an optional drift `reference` (timed beside every job
    with `paired`), their layers inside them with `layer_runs`, until `deadline_s`; see measure_jobs."""
    jobs: list[Job] = []
    if networks:
        jobs += network_jobs(specs, "sample") + network_jobs(references, "reference")
    if units:
        jobs += unit_jobs(list(specs) + list(references), platform.batch)
    if not jobs:
        raise ValueError("nothing to measure")
    settings = MeasureSettings.of(platform, warmup, repeats, threshold, retries)
    return measure_jobs(jobs, platform, rounds=rounds, seed=seed, reference=reference, drift_every=drift_every,
                        settings=settings, backend=backend, on_row=on_row, progress=progress, paired=paired,
                        layer_runs=layer_runs, deadline_s=deadline_s)
