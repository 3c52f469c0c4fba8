"""The `nas` command: sub-commands are thin wrappers over library functions."""

from __future__ import annotations

import sys
from typing import Any

import click
import typer

from search_space.errors import UserError

try:  # typer >= 0.2x parses with its own vendored copy of click, whose exceptions are not click's
    from typer._click import exceptions as _typer_click
except ImportError:  # pragma: no cover - older typer uses click itself
    _typer_click = click.exceptions

_USAGE_ERRORS = (click.exceptions.UsageError, _typer_click.UsageError)
_NO_ARGS = tuple(getattr(m, "NoArgsIsHelpError") for m in (click.exceptions, _typer_click)
                 if hasattr(m, "NoArgsIsHelpError"))
_ABORTS = (click.exceptions.Abort, typer.Abort)

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Platform-aware NAS over ShuffleNet-V2-style networks.")


def _register() -> None:
    """Attach the sub-commands (once; main() may run many times in one process, e.g. in tests)."""
    if app.registered_groups or app.registered_commands:
        return
    from nas.cli import agent, arch, dashboard, experiment, export, finalize, latency, measure, search, supernet, train

    app.add_typer(arch.app, name="arch")
    app.command("measure")(measure.measure)
    app.command("agent")(agent.agent)
    app.add_typer(latency.app, name="latency")
    app.command("search")(search.search)
    app.command("dashboard")(dashboard.dashboard)
    app.command("report")(dashboard.report)
    app.command("train")(train.train)
    app.command("finalize")(finalize.finalize)
    app.command("export")(export.export)
    app.add_typer(experiment.app, name="experiment")
    app.add_typer(supernet.app, name="supernet")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors end with one line on stderr and exit status 2, never a traceback."""
    _register()
    try:
        code = app(args=argv, prog_name="nas", standalone_mode=False)
    except _NO_ARGS as exc:  # the group's help has been shown (or is the message)
        if exc.format_message():
            print(exc.format_message(), file=sys.stderr)
        return 2
    except _USAGE_ERRORS as exc:
        print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        return 2
    except _ABORTS:
        print("error: aborted", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0


def _stop_on_sigterm() -> None:
    """SIGTERM (a job scheduler, `kill`) unwinds like Ctrl-C, so clean-up runs: the trial in progress is marked
    interrupted and re-queued, a local Ray is shut down and its folder removed."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def run() -> None:
    """Console-script entry point."""
    _stop_on_sigterm()
    sys.exit(main())


if __name__ == "__main__":
    run()
