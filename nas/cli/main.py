"""The `nas` command: sub-commands are thin wrappers over library functions."""

from __future__ import annotations

import sys

import click
import typer

from search_space.errors import UserError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Platform-aware NAS over ShuffleNet-V2-style networks.")


def _register() -> None:
    from nas.cli import arch

    app.add_typer(arch.app, name="arch")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors end with one line on stderr and exit status 2, never a traceback."""
    _register()
    try:
        code = app(args=argv, prog_name="nas", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        return 2
    except click.exceptions.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
