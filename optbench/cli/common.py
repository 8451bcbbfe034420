"""What every command shares: one red line for a library error, and help that names each
argument by what it is."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from optbench.errors import BadInput, OptbenchError

F = TypeVar("F", bound=Callable)


class WordsCommand(typer.core.TyperCommand):
    """A command whose help names each argument by its metavar (``EXPR...``) rather than
    by a Python type (``<list[str]>``)."""

    def format_options(self, ctx, formatter) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                args.append((name + ("..." if param.nargs != 1 else ""), record[1]))
            elif param.param_type_name == "option":
                opts.append(record)
        for title, records in (("Arguments", args), ("Options", opts)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def reports_errors(fn: F) -> F:
    """Turn an OptbenchError into one red message on stderr and its exit status."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OptbenchError as e:
            from rich.markup import escape

            from optbench.report.console import make_console

            # soft_wrap: the message is never hard-wrapped (a log keeps it on one line)
            make_console(stderr=True).print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
            raise typer.Exit(e.exit_code) from None

    return wrapper  # type: ignore[return-value]


def check_writable_file(path: Path, option: str) -> None:
    """``BadInput`` naming ``option`` unless ``path`` can be written as a file: it is not a
    folder, and its folder exists writable or can be made. Checked before the work whose
    result it will hold, so that a bad path fails first, having done nothing."""
    if path.is_dir():
        raise BadInput(f"{option} {path}: a folder, not a file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {path}: cannot write in {folder}")


def one_line_errors() -> None:
    """Make a usage error (an option out of range, a missing argument) one line on stderr,
    as every other error is, a library warning one line without its source line, and
    Ctrl-C one interrupt (``_interrupt_once``). For the command line's own process
    (``main``), not for library users."""
    import sys
    import warnings

    try:
        from typer import _click  # Typer's own copy of click, whose errors it raises
    except ImportError:  # a Typer that uses click itself
        import click as _click

    def show(self, file=None) -> None:
        path = self.ctx.command_path if self.ctx is not None else "optbench"
        print(f"error: {self.format_message()} (see '{path} --help')", file=file or sys.stderr)

    def warn(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"warning: {message}", file=file or sys.stderr)

    _click.exceptions.UsageError.show = show  # type: ignore[method-assign]
    warnings.showwarning = warn
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt_once)


def _interrupt_once(signum, frame) -> None:
    """Ctrl-C raises KeyboardInterrupt once; presses after it are ignored, so that the
    cleanup the first one started (claims released, runs marked interrupted, the database
    closed) is not cut short halfway. A process that must go at once takes SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt
