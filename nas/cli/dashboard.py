"""`nas dashboard` (a local web app that follows a study while it runs) and `nas report` (one HTML file)."""

from __future__ import annotations

from typing import Optional

import typer

from nas.cli.common import console, emit_json

STORAGE_HELP = "Optuna storage: an SQLite file (default ./nas-studies.db), an RDB URL, or journal:FILE. Opened read-only."
STUDY_HELP = "Study name (default: the only study in the storage; the dashboard offers every study)."


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def dashboard(
    storage: Optional[str] = typer.Option(None, "--storage", help=STORAGE_HELP),
    study: Optional[str] = typer.Option(None, "--study", help=STUDY_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8050, "--port", help="Port to listen on."),
    interval: float = typer.Option(3.0, "--interval", help="Seconds between polls of the storage."),
) -> None:
    """Serve a local dashboard of a search: Pareto front, hypervolume, trials, architectures, latency by stage."""
    from nas.views.dashboard.app import LOOPBACK, DashboardError, make_app, require_dash, serve, start_source

    require_dash()
    if not 0 < port < 65536:
        raise DashboardError(f"bad --port {port}: must be between 1 and 65535")
    if not interval > 0:
        raise DashboardError(f"bad --interval {interval:g}: must be positive")
    _quiet_optuna()
    source = start_source(storage, study)
    app = make_app(source, study, interval)
    out = console()
    shown = f"[{host}]" if ":" in host else host

    def ready(_server: object) -> None:
        out.print(f"dashboard of {source.label} at http://{shown}:{port}/ (read-only; Ctrl-C stops it)")
        if host not in LOOPBACK:
            out.print(f"[bold]note[/bold]: listening on {host}, not only on this machine: anyone who can reach "
                      f"it can read the studies")

    try:
        serve(app, host, port, ready=ready)
    except KeyboardInterrupt:
        out.print("dashboard stopped")


def report(
    out: str = typer.Option(..., "--out", "-o", help="HTML file to write (self-contained: opens offline)."),
    storage: Optional[str] = typer.Option(None, "--storage", help=STORAGE_HELP),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the only study in the storage)."),
    json_out: bool = typer.Option(False, "--json", help="Print what was written as one JSON object."),
) -> None:
    """Write one self-contained HTML report of a study: Pareto front, hypervolume, trials, the best network."""
    from nas.views.dashboard.app import require_dash
    from nas.views.dashboard.data import load_study_data
    from nas.views.dashboard.report import write_report

    require_dash()
    _quiet_optuna()
    data = load_study_data(storage, study)
    path = write_report(data, out)
    best = data.best()
    if json_out:
        emit_json({"report": str(path), "study": data.study, "storage": data.storage, "trials": data.counts,
                   "best_trial": best.number if best else None, "bytes": path.stat().st_size})
    else:
        console().print(f"report of study {data.study!r} written to {path} ({path.stat().st_size / 1e6:.1f} MB, "
                        f"opens offline)", markup=False)
