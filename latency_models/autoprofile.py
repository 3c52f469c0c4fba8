"""The first use of a local platform (cpu, cpu-torch, gpu) measures it and caches the fitted profile.

Measurement (`auto_measure`, at most `AUTO_BUDGET_S` seconds): networks drawn from the default search space and
width / resolution variants of every registered family other than ShuffleNet v2's (never a registered network
itself, so those stay unseen), each timed beside the drift reference (ShuffleNet v2 1x) run by run, so its ratio to
the reference is free of the machine's drift; on ONNX Runtime the matrix layers of each are also timed inside it by
the runtime's profiler (the per-layer predictor's data). The fit puts every timing on the reference's median speed
of the run, which the profile records (`Profile.reference_ms`), so a prediction can be put on the machine's speed of
another moment.

Held-out check (`measure_unseen` + `score_unseen`): fresh members of the default space at every resolution and every
registered reference network, each timed in two rounds beside the reference; the profile's predictions are scored
against the median of the rounds put on the profile's reference speed (drift-free), and against the raw timings too.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from latency_models.backends import MeasurementError
from latency_models.dataset import network_table, reference_speed_ms, training_set
from latency_models.evaluate import accuracy
from latency_models.fitting import fit_from_timings
from latency_models.measure import MeasureSettings, backend_for, measure_jobs, network_jobs, resolve_platform
from latency_models.platform import PlatformError
from latency_models.profiles import Profile, ProfileError, find_profile, get_platform, nas_home
from latency_models.timings import Timings, TimingsMeta, TimingsWriter, load_timings
from search_space.progress import ProgressFn
from search_space.references import NETWORKS, reference_spec
from search_space.space import SearchSpace
from search_space.spec import ArchSpec, BaselineSpec, NetSpec

#: Seconds of measurement of an automatic profile (first use, `nas latency refresh`).
AUTO_BUDGET_S = 300.0
#: Networks drawn (more than the budget allows; the deadline decides how many are measured).
AUTO_MAX_NETWORKS = 600
AUTO_SEED = 2018
#: Share of the drawn networks that are variants of the other registered families.
VARIANT_SHARE = 0.35
DRIFT_REFERENCE = "shufflenet_v2_x1_0"
#: Profiled runs per network for the per-layer timings (ONNX Runtime).
LAYER_RUNS = 8
#: Paired timing of an automatic profile: warm-up (runs, s), then at least 10 rotations of (reference, network)
#: lasting at least 0.25 s each (the ratio of the two is what is fit; a slow network gets 10 runs).
PAIRED = MeasureSettings(warmup=3, repeats=10, min_warmup_s=0.1, min_timed_s=0.25)
#: Predictors of an automatic profile (those the data allow: layerwise needs layer timings).
AUTO_KINDS = ("layerwise", "roofline", "flops")
#: Held-out check: fresh default-space members per deployment resolution, rounds per network.
UNSEEN_PER_RESOLUTION = 20
UNSEEN_ROUNDS = 2
UNSEEN_SEED = 90210


def timings_dir() -> Path:
    return nas_home() / "timings"


# ------------------------------------------------------------------------------------------------ networks
def family_variant(spec: NetSpec, rng: np.random.Generator, resolutions: Sequence[int]) -> NetSpec:
    """A variant of a registered network: width scaled by 0.6-1.4 and a resolution drawn from `resolutions`
    (ShuffleNet v2 style specs: every stage width scaled and rounded to an even count; others: width multiplier)."""
    scale = float(rng.uniform(0.6, 1.4))
    res = int(rng.choice(resolutions))
    if isinstance(spec, BaselineSpec):
        return replace(spec, width_mult=round(spec.width_mult * scale, 3), resolution=res, name="")
    assert isinstance(spec, ArchSpec)
    stages = tuple(replace(st, width=max(8, 2 * int(round(st.width * scale / 2)))) for st in spec.stages)
    return replace(spec, stages=stages, resolution=res, name="")


def auto_specs(n: int, seed: int = AUTO_SEED) -> list[NetSpec]:
    """`n` networks to fit a profile on: members of the default space and, one in about three, variants of the
    registered networks of every family (see `family_variant`), never a registered network itself."""
    rng = np.random.default_rng(seed)
    space = SearchSpace.default()
    refs = [reference_spec(name) for name in NETWORKS.names() if name != DRIFT_REFERENCE]
    registered = {r.arch_id for r in refs} | {reference_spec(DRIFT_REFERENCE).arch_id}
    out: list[NetSpec] = []
    while len(out) < n:
        if rng.random() < VARIANT_SHARE:
            spec = family_variant(refs[int(rng.integers(len(refs)))], rng, space.resolutions)
        else:
            spec = space.sample(rng)
        if spec.arch_id not in registered:
            out.append(spec)
    return out


def unseen_specs(per_resolution: int = UNSEEN_PER_RESOLUTION, seed: int = UNSEEN_SEED) -> list[tuple[NetSpec, str]]:
    """(spec, role) of the held-out check: fresh default-space members at every resolution ("sample") and every
    registered network but the drift reference ("reference")."""
    rng = np.random.default_rng(seed)
    space = SearchSpace.default()
    out: list[tuple[NetSpec, str]] = []
    for res in space.resolutions:
        fixed = space.with_fixed(resolution=res)
        out += [(fixed.sample(rng), "sample") for _ in range(per_resolution)]
    out += [(reference_spec(name), "reference") for name in NETWORKS.names() if name != DRIFT_REFERENCE]
    return out


# ------------------------------------------------------------------------------------------------ measuring
def _seconds_progress(progress: ProgressFn | None, budget_s: float) -> ProgressFn | None:
    """A progress callback that counts seconds of the budget (so the bar's ETA is the budget's end)."""
    if progress is None:
        return None
    start = time.perf_counter()

    def report(done: int, total: int, label: str) -> None:
        spent = min(budget_s, time.perf_counter() - start)
        progress(int(spent), int(budget_s), f"{done} networks measured: {label}"[:60])

    return report


def _writer(name: str, purpose: str, out: Path | None, **settings: Any) -> TimingsWriter:
    platform = resolve_platform(name)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = out or timings_dir() / f"{name}-{purpose.replace(' ', '-')}-{stamp}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    return TimingsWriter(path, TimingsMeta.collect(platform, purpose=purpose, drift_ref=DRIFT_REFERENCE,
                                                   paired=True, **settings))


def layer_runs_for(name: str) -> int:
    """Profiled runs per network for layer timings (0 where the runtime has no per-node profiler)."""
    return LAYER_RUNS if resolve_platform(name).runtime == "onnxruntime" else 0


def auto_measure(name: str, budget_s: float = AUTO_BUDGET_S, seed: int = AUTO_SEED,
                 progress: ProgressFn | None = None, out: Path | None = None) -> Path:
    """Measure local platform `name` for `budget_s` seconds (see the module docstring); rows are written as they
    are measured (an interrupted run keeps them). Returns the timings file."""
    platform = resolve_platform(name)
    specs = auto_specs(AUTO_MAX_NETWORKS, seed)
    layers = layer_runs_for(name)
    writer = _writer(name, "automatic profile", out, seed=seed, budget_s=budget_s, layer_runs=layers)
    try:
        measure_jobs(network_jobs(specs), platform, seed=seed, reference=reference_spec(DRIFT_REFERENCE),
                     settings=PAIRED, paired=True, layer_runs=layers, deadline_s=budget_s, on_row=writer.write,
                     progress=_seconds_progress(progress, budget_s))
    finally:  # on Ctrl-C (MeasurementInterrupted) too: every row measured so far stays in the file
        writer.close()
    return writer.path


def measure_unseen(name: str, per_resolution: int = UNSEEN_PER_RESOLUTION, rounds: int = UNSEEN_ROUNDS,
                   seed: int = UNSEEN_SEED, progress: ProgressFn | None = None, out: Path | None = None) -> Path:
    """Time the held-out networks (`unseen_specs`) on local platform `name` in `rounds` rounds beside the drift
    reference; returns the timings file."""
    platform = resolve_platform(name)
    chosen = unseen_specs(per_resolution, seed)
    writer = _writer(name, "held-out check", out, seed=seed, rounds=rounds)
    jobs = network_jobs([s for s, r in chosen if r == "sample"]) + \
        network_jobs([s for s, r in chosen if r == "reference"], "reference")
    try:
        measure_jobs(jobs, platform, rounds=rounds, seed=seed, reference=reference_spec(DRIFT_REFERENCE),
                     settings=PAIRED, paired=True, on_row=writer.write, progress=progress)
    finally:
        writer.close()
    return writer.path


# ------------------------------------------------------------------------------------------------ scoring
def score_unseen(profile: Profile, timings: Timings) -> dict[str, dict[str, Any]]:
    """Every predictor of `profile` on held-out timings: accuracy against the drift-free measurement put on the
    profile's reference speed (all networks, the random ones, the references) and against the raw timings."""
    ref_profile = profile.reference_ms
    data = training_set([timings])
    ref_run = reference_speed_ms(timings.frame)
    if ref_profile is None or ref_run is None:
        raise ProfileError("the held-out check needs the drift reference's speed in the profile and the timings")
    measured = np.asarray(data.latency_ms) * ref_profile / ref_run  # drift-free, on the profile's speed
    raw = network_table([timings], correct_drift=False).groupby("spec_json")["latency_ms"].median()
    raw_ms = np.array([raw[s.to_json()] for s in data.specs])
    is_ref = np.array([bool(getattr(s, "name", "")) for s in data.specs])
    out: dict[str, dict[str, Any]] = {}
    for kind, pred in profile.predictors.items():
        p = pred.predict(list(data.specs))
        out[kind] = {**accuracy(p, measured).to_dict(),
                     "random_members": accuracy(p[~is_ref], measured[~is_ref]).to_dict() if (~is_ref).sum() > 2
                     else None,
                     "references": accuracy(p[is_ref], measured[is_ref]).to_dict() if is_ref.sum() > 2 else None,
                     "absolute": accuracy(p, raw_ms).to_dict(),
                     "worst": sorted(((float(a), s.label()) for a, s in zip(np.abs(p / measured - 1), data.specs)),
                                     reverse=True)[:5]}
    return out


def attach_unseen(profile: Profile, timings_path: Path) -> Profile:
    """The profile with its held-out check (`score_unseen`) stored in its evaluation; its estimates then carry
    that error."""
    t = load_timings(timings_path)
    scores = score_unseen(profile, t)
    evaluation = {k: {**v, "unseen": scores[k]} for k, v in profile.evaluation.items() if k in scores}
    n = scores[profile.default]["n"]
    method = (f"{profile.evaluation_method}; unseen: {n} networks never fit on (fresh members of the default space "
              f"at every resolution and every registered network), median of {UNSEEN_ROUNDS} rounds timed beside "
              f"{DRIFT_REFERENCE} ({timings_path.name})")
    return replace(profile, evaluation=evaluation, evaluation_method=method)


def at_current_speed(profile: Profile, estimate: Any) -> dict[str, float]:
    """A prediction of local platform `profile` put on the machine's speed now: the profile's drift reference is
    timed here and the prediction scaled by its ratio to the profile's reading; ProfileError where that cannot
    be done (a published profile, a platform not measurable here)."""
    from latency_models.measure import measure_network

    if profile.reference_ms is None or not profile.reference_network:
        raise ProfileError(f"platform {profile.platform.name}'s profile has no drift reference reading (published "
                           f"or fit before they were recorded); refit it with `nas latency refresh`")
    now = measure_network(reference_spec(profile.reference_network), resolve_platform(profile.platform.name))
    ratio = now.latency_ms / profile.reference_ms
    return {"latency_ms": estimate.latency_ms * ratio, "reference_now_ms": now.latency_ms, "speed_ratio": ratio}


# ------------------------------------------------------------------------------------------------ profiles
def measure_and_fit(name: str, progress: ProgressFn | None = None, budget_s: float = AUTO_BUDGET_S,
                    seed: int = AUTO_SEED) -> Profile:
    """Measure local platform `name` (`auto_measure`) and fit its profile (not saved)."""
    path = auto_measure(name, budget_s=budget_s, seed=seed, progress=progress)
    return fit_from_timings(name, [path], kinds=AUTO_KINDS)


def ensure_profile(name: str, progress: ProgressFn | None = None) -> Profile:
    """The profile of `name`; for a local platform without one, measure this machine and fit it first.

    A platform with no profile that cannot be measured here (no such device, or one measured elsewhere)
    raises ProfileError saying how to make one."""
    prof = find_profile(name)
    if prof is not None:
        return prof
    get_platform(name)  # unknown names: one line listing the known platforms
    try:
        backend_for(resolve_platform(name))
    except (PlatformError, MeasurementError) as exc:
        raise ProfileError(f"platform {name} has no latency profile and cannot be measured here ({exc}); measure "
                           f"it on its device with `nas measure --platform {name} --sample 100` and fit the file "
                           f"with `nas latency fit --platform {name} --timings FILE`") from None
    prof = measure_and_fit(name, progress)
    prof.save()
    return prof
