"""`nas latency fit|eval|predict`: platform profiles (fitted latency predictors) and their error."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from latency_models.autoprofile import (AUTO_BUDGET_S, UNSEEN_PER_RESOLUTION, at_current_speed, attach_unseen,
                                        ensure_profile, measure_and_fit, measure_unseen)
from latency_models.dataset import training_set
from latency_models.fitting import (DEFAULT_KINDS, evaluate_profile, fit_from_timings, fit_published_profile)
from latency_models.profiles import Profile, get_platform, require_profile
from latency_models.report import predicted_vs_measured_html
from latency_models.timings import load_timings
from nas.cli.common import ProgressBar, console, emit_json, load_net
from search_space.errors import UserError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Latency predictors per platform: fit them, check their error, predict.")

PLATFORM_HELP = "Platform name (cpu, cpu-torch, gpu, arm, gpu-1080ti, or one registered from a timings file)."


def _accuracy_table(title: str, rows: dict[str, dict[str, float]], default: str | None = None) -> Table:
    table = Table(title=title, box=None, pad_edge=False)
    for col in ("predictor", "n", "within ±5%", "within ±10%", "RMSPE", "max |err|", "Spearman ρ"):
        table.add_column(col, justify="left" if col == "predictor" else "right")
    for kind, a in rows.items():
        mark = " (default)" if kind == default else ""
        table.add_row(kind + mark, str(a["n"]), f"{a['within_5pct']:.1%}", f"{a['within_10pct']:.1%}",
                      f"{a['rmspe']:.1%}", f"{a['max_ape']:.1%}", f"{a['spearman']:.3f}")
    return table


def _profile_json(prof: Profile, path: Path | None = None) -> dict[str, Any]:
    return {"platform": prof.platform.to_dict(), "default": prof.default, "predictors": list(prof.predictors),
            "evaluation": prof.evaluation, "evaluation_method": prof.evaluation_method,
            "provenance": prof.provenance, "path": str(path) if path else None}


@app.command("fit")
def fit(
    platform: str = typer.Option(..., "--platform", "-p", help=PLATFORM_HELP),
    timings: Optional[list[Path]] = typer.Option(None, "--timings", "-t", help="Timings file(s) measured on the "
                                                 "platform (repeatable). Without: measure this machine (local "
                                                 "platforms) or refit from published numbers (arm, gpu-1080ti)."),
    predictor: Optional[list[str]] = typer.Option(None, "--predictor", help="Predictor kind(s) to fit "
                                                  f"({', '.join(DEFAULT_KINDS)}); default: all that the data allow."),
    json_out: bool = typer.Option(False, "--json", help="Print the profile summary as JSON."),
) -> None:
    """Fit a platform's latency predictors and store the profile (with their cross-validated error)."""
    kinds = tuple(predictor) if predictor else DEFAULT_KINDS
    if timings:
        prof = fit_from_timings(platform, [str(t) for t in timings], kinds)
    else:
        plat = get_platform(platform)
        if plat.source == "published":
            prof = fit_published_profile(platform)
        elif plat.measurable:
            with ProgressBar(enabled=not json_out, description=f"measuring {platform}") as bar:
                prof = measure_and_fit(platform, progress=bar)
        else:
            raise UserError(f"platform {platform} cannot be measured here: give --timings FILE measured on it")
    path = prof.save()
    if json_out:
        emit_json(_profile_json(prof, path))
        return
    out = console()
    out.print(f"platform {prof.platform.describe()}")
    out.print(_accuracy_table(f"error on held-out data: {prof.evaluation_method}", prof.evaluation, prof.default))
    out.print(f"profile stored in {path}")


def _print_evaluation(prof: Profile) -> None:
    """The profile's stored errors: cross-validation, and the held-out check of unseen networks when it has one."""
    out = console()
    out.print(_accuracy_table(f"{prof.platform.name}: {prof.evaluation_method}", prof.evaluation, prof.default))
    unseen = {k: v["unseen"] for k, v in prof.evaluation.items() if isinstance(v.get("unseen"), dict)}
    if not unseen:
        if prof.platform.measurable:
            out.print(f"no check on unseen networks yet: `nas latency eval --platform {prof.platform.name} --measure`")
        return
    rows: dict[str, dict[str, float]] = {}
    for kind, u in unseen.items():
        rows[f"{kind}: all"] = u
        for part in ("random_members", "references"):
            if u.get(part):
                rows[f"{kind}: {part.replace('_', ' ')}"] = u[part]
        rows[f"{kind}: absolute (raw ms)"] = u["absolute"]
    out.print(_accuracy_table("unseen networks (never fit on), drift-free: measured / reference timed beside, on the "
                              "profile's reference speed; 'absolute' against the raw timings", rows))
    worst = unseen[prof.default].get("worst") or []
    if worst:
        out.print("largest errors (" + prof.default + "): " + ", ".join(f"{n} {a:.0%}" for a, n in worst))
    if prof.reference_ms:
        out.print(f"reference speed of the profile: {prof.reference_network or 'drift reference'} "
                  f"{prof.reference_ms:.3f} ms")


@app.command("eval")
def eval_(
    platform: str = typer.Option(..., "--platform", "-p", help=PLATFORM_HELP),
    timings: Optional[list[Path]] = typer.Option(None, "--timings", "-t", help="Held-out timings file(s) to score "
                                                 "the predictors on; without: the profile's stored evaluation."),
    measure: bool = typer.Option(False, "--measure", help="Measure unseen networks on this machine now (fresh "
                                 "default-space members at every resolution and every registered network, two "
                                 "rounds beside the drift reference), score the profile on them and store it."),
    per_resolution: int = typer.Option(UNSEEN_PER_RESOLUTION, "--per-resolution", help="With --measure: fresh "
                                       "default-space members per resolution."),
    html: Optional[Path] = typer.Option(None, "--html", help="Predicted-vs-measured figure (plotly HTML); default "
                                        "latency-eval-<platform>.html when --timings is given."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Hit rates within ±5% / ±10%, RMSPE and Spearman ρ of every predictor, the FLOPs baseline included."""
    if measure:
        with ProgressBar(enabled=not json_out, description=f"measuring {platform} (first use)") as bar:
            prof = ensure_profile(platform, progress=bar)
        with ProgressBar(enabled=not json_out, description="unseen networks") as bar:
            path = measure_unseen(platform, per_resolution=per_resolution, progress=bar)
        prof = attach_unseen(prof, path)
        prof.save()
    else:
        prof = require_profile(platform)
    if not timings:
        result: dict[str, Any] = {"platform": platform, "method": prof.evaluation_method, "evaluation": prof.evaluation,
                                  "default": prof.default, "reference_ms": prof.reference_ms}
        if json_out:
            emit_json(result)
        else:
            _print_evaluation(prof)
        return
    data = training_set([load_timings(t) for t in timings])
    scores = evaluate_profile(prof, data)
    html = html or Path(f"latency-eval-{platform}.html")
    predicted_vs_measured_html(html, data.latency_ms, {k: p for k, (p, _) in scores.items()},
                               [s.label() for s in data.specs], f"{prof.platform.describe()}: predicted vs measured")
    result = {"platform": platform, "networks": len(data.specs), "default": prof.default,
              "evaluation": {k: a for k, (_, a) in scores.items()}, "html": str(html)}
    if json_out:
        emit_json(result)
        return
    out = console()
    out.print(_accuracy_table(f"{platform}: {len(data.specs)} networks of {', '.join(map(str, timings))}",
                              result["evaluation"], prof.default))
    out.print(f"figure: {html}")


@app.command("refresh")
def refresh(
    platform: str = typer.Option(..., "--platform", "-p", help=PLATFORM_HELP),
    check: bool = typer.Option(True, "--check/--no-check", help="Then measure unseen networks and store the "
                               "profile's error on them (a few more minutes)."),
    json_out: bool = typer.Option(False, "--json", help="Print the profile summary as JSON."),
) -> None:
    """Measure this machine again for a local platform's automatic profile (at most 5 minutes), refit it, and check
    it on unseen networks; the old profile is replaced only when all of that succeeded."""
    plat = get_platform(platform)
    if not plat.measurable:
        raise UserError(f"platform {platform} is not measured on this machine; refit it with `nas latency fit "
                        f"--platform {platform}`")
    with ProgressBar(enabled=not json_out, description=f"measuring {platform} ({AUTO_BUDGET_S / 60:.0f} min)") as bar:
        prof = measure_and_fit(platform, progress=bar)
    if check:
        with ProgressBar(enabled=not json_out, description="unseen networks") as bar:
            prof = attach_unseen(prof, measure_unseen(platform, progress=bar))
    path = prof.save()
    if json_out:
        emit_json(_profile_json(prof, path))
        return
    _print_evaluation(prof)
    console().print(f"profile stored in {path}")


@app.command("predict")
def predict(
    platform: str = typer.Option(..., "--platform", "-p", help=PLATFORM_HELP),
    arch: str = typer.Option(..., "--arch", "-a", help="Registered network name or spec JSON file."),
    resolution: Optional[int] = typer.Option(None, "--resolution", "-r", help="Input resolution (default: the spec's)."),
    predictor: Optional[str] = typer.Option(None, "--predictor", help="Predictor kind (default: the profile's)."),
    now: bool = typer.Option(False, "--now", help="Also put the prediction on this machine's speed now: time the "
                             "profile's drift reference here and scale by its ratio to the profile's reading."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Predicted latency of one forward pass of the platform's batch (one batch of 8 on a batch-8 GPU)."""
    spec = load_net(arch, resolution)
    plat = get_platform(platform)
    with ProgressBar(enabled=not json_out, description=f"measuring {platform} (first use)") as bar:
        prof = ensure_profile(platform, progress=bar)
    est = prof.estimate(spec, predictor)
    today = at_current_speed(prof, est) if now else None
    breakdown = prof.breakdown(spec) if predictor in (None, prof.default) else None
    if json_out:
        emit_json({**est.to_dict(), "network": spec.label(), "arch_id": spec.arch_id, "device": plat.device,
                   "breakdown_ms": breakdown, "at_current_speed": today})
        return
    out = console()
    out.print(f"{spec.label()} @ {spec.resolution}x{spec.resolution}: {est.label()}")
    if today is not None:
        out.print(f"  on this machine's speed now: {today['latency_ms']:.2f} ms predicted ({prof.reference_network} "
                  f"{today['reference_now_ms']:.3f} ms now, {prof.reference_ms:.3f} ms in the profile)")
    if breakdown:
        out.print("  by stage: " + ", ".join(f"{k} {v:.2f} ms" for k, v in breakdown.items()))
