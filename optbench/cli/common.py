"""What every command shares: one red line for a library error, and help that names each
argument by what it is."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import typer

from optbench.errors import OptbenchError

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
