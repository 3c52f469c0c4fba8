"""What a runner gets (config, settings, target, progress) and the machine/run description it records."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from experiments.config import ExperimentConfig, RunSettings
from experiments.target import Target
from latency_models.timings import TimingsMeta, now_iso
from search_space.progress import ProgressFn



@dataclass(frozen=True)
class Context:
    """A runner's inputs: the config in effect (overrides applied), the run settings, the target platform."""

    config: ExperimentConfig
    settings: RunSettings
    target: Target
    progress: ProgressFn | None = None
    started_at: str = ""
    load_at_start: float | None = None

    @property
    def timing_line(self) -> str:
        """How latencies were taken, in one sentence."""
        c, p = self.config, self.target.platform
        if not self.target.measured:
            return f"Latencies are {self.target.source}; nothing was timed on this machine."
        warm = p.warmup if c.warmup is None else c.warmup
        reps = p.repeats if c.repeats is None else c.repeats
        return (f"Latencies measured: {c.rounds} round(s), each visiting the configurations of a table in its own "
                f"shuffled order; per visit {warm} warm-up run(s) (lasting at least 0.2 s when any) and at least "
                f"{reps} timed run(s) (lasting at least 0.3 s when more than one); a configuration's latency is the "
                f"median of its per-round medians.")


def load_average() -> float | None:
    """The machine's 1-minute load average (None where the OS does not say): timings taken while other work
    runs are disturbed, so measured runs record it at their start and end."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def run_meta(ctx: Context, **extra: Any) -> dict[str, Any]:
    """The record of a run: the machine (CPU/GPU model, host, versions) when measured, the profile's provenance
    when predicted, the config in effect, the command line, and start and end times."""
    t = ctx.target
    settings = {"rounds": ctx.config.rounds, "repeats": ctx.config.repeats, "warmup": ctx.config.warmup,
                "quick": ctx.settings.quick, "seed": ctx.settings.seed}
    if t.measured:
        machine = TimingsMeta.collect(t.platform, **settings).to_dict()
    else:
        assert t.profile is not None
        machine = {"platform": t.platform.to_dict(), "profile": {
            "default_predictor": t.profile.default, "evaluation_method": t.profile.evaluation_method,
            "error_rmspe": t.profile.error(), "provenance": t.profile.provenance, "created_at": t.profile.created_at}}
    return {"experiment": ctx.config.name, "title": ctx.config.title, "source": t.source,
            "platform": t.platform.name, "paper_device": t.paper_device, "config": ctx.config.to_dict(),
            "settings": settings, "machine": machine, "command": " ".join(["nas"] + sys.argv[1:]),
            "started_at": ctx.started_at or now_iso(), "finished_at": now_iso(), "load_average_1min":
                {"start": ctx.load_at_start, "end": load_average()}, **extra}


def machine_line(meta: dict[str, Any]) -> str:
    """One line describing where the numbers come from (CPU model, host, runtime versions, or the profile)."""
    m = meta.get("machine", {})
    if "profile" in m:
        prof = m["profile"]
        err = prof.get("error_rmspe")
        err_text = f"; its error on held-out data: RMSPE {err:.1%} ({prof['evaluation_method']})" if err else ""
        return f"Profile: default predictor {prof['default_predictor']}{err_text}."
    versions = m.get("versions", {})
    libs = ", ".join(f"{k} {versions[k]}" for k in ("torch", "onnxruntime", "numpy") if versions.get(k))
    sysinfo = m.get("system", {})
    cores = sysinfo.get("cpu_usable")
    if "timings" in meta:  # a study of timings files measured earlier (possibly elsewhere)
        return (f"Timings measured on: {m.get('cpu_model', '?')}, {m.get('os', '')}, host {m.get('hostname', '')}; "
                f"{libs}; from {m.get('created_at', '?')} ({', '.join(meta['timings'])}).")
    load = meta.get("load_average_1min") or {}
    load_text = (f" (1-minute load average {load['start']:.2f} at the start, {load['end']:.2f} at the end)"
                 if load.get("start") is not None and load.get("end") is not None else "")
    return (f"Machine: {m.get('cpu_model', '?')}{f' ({cores} usable cores)' if cores else ''}"
            f"{', GPU ' + m['gpu_model'] if m.get('gpu_model') else ''}, {m.get('os', '')}, "
            f"host {m.get('hostname', '')}; {libs}; measured {meta.get('started_at', '')} to "
            f"{meta.get('finished_at', '')}{load_text}.")
