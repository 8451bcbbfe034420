"""The domain errors of optbench.

The library raises these; only the command line turns them into one red line and an
exit status (``exit_code``). Nothing here imports anything heavy.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def _edits(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one edit (optimal string
    alignment), so that a transposed typo (``Adma``) is closest to what was meant."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


# Names longer than this are not compared with the known ones: nothing is close to them,
# and the comparison costs time in the square of the length.
_LONGEST_COMPARED = 64
# How much of a name or value a message quotes.
_QUOTED = 40


def quoted(text: str, limit: int = _QUOTED, *, quote: bool = True) -> str:
    """``repr(text)`` (``text`` itself with ``quote=False``), cut to ``limit`` characters
    with an ellipsis and the full length, so that a message about a 100,000-character name
    stays one short line."""
    shown = repr if quote else str
    if len(text) <= limit:
        return shown(text)
    return f"{shown(text[:limit])}... ({len(text):,} characters)"


def closest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` known names closest to ``name``: difflib's close matches and names
    within two edits, nearest first (case-insensitive). A name much longer than every
    known one has none (and costs nothing)."""
    known = list(known)
    if len(name) > max([_LONGEST_COMPARED, *(2 * len(k) for k in known)]):
        return []
    lowered = {k.lower(): k for k in known}
    low = name.lower()
    near = set(difflib.get_close_matches(low, list(lowered), n=2 * n, cutoff=0.5))
    near |= {k for k in lowered if _edits(low, k) <= (1 if len(name) <= 4 else 2)}

    def distance(k: str) -> tuple[int, int, float, str]:
        ratio = difflib.SequenceMatcher(None, low, k).ratio()
        return _edits(low, k), _edits(name, lowered[k]), -ratio, k

    return [lowered[k] for k in sorted(near, key=distance)[:n]]


def did_you_mean(name: str, known: Iterable[str], n: int = 3) -> str:
    """``; did you mean 'a', 'b'?`` for the closest names, or nothing when none is close."""
    close = closest(name, known, n)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


# The widest source line a syntax error prints; a longer plan is shown around the span.
_WINDOW = 100


class OptbenchError(Exception):
    """Base of every error optbench reports to a user; ``exit_code`` is the CLI status."""

    exit_code = 1


class BadInput(OptbenchError):
    """Input the user can fix: a plan, a plan file, an option value."""

    exit_code = 2


class PlanSyntaxError(BadInput):
    """A plan expression that does not parse, with the offending span of the source.

    ``str(error)`` is the message, then the source line, then a marker line with ``~``
    under the span and ``^`` at its end, in the style of pypa/packaging.
    """

    def __init__(self, message: str, *, source: str, span: tuple[int, int]) -> None:
        self.message = message
        self.source = source
        self.span = span
        super().__init__(self._render())

    def _render(self) -> str:
        source, (start, end) = self.source, self.span
        end = max(end, start + 1)
        if len(source) > _WINDOW:
            # A long source is shown as a window around the span, marked with '...'.
            end = min(end, start + _WINDOW // 2)
            first = max(0, min(start - _WINDOW // 4, len(source) - _WINDOW))
            last = first + _WINDOW
            shown = source[first:last]
            lead = "..." if first > 0 else ""
            source = lead + shown + ("..." if last < len(self.source) else "")
            start, end = start - first + len(lead), end - first + len(lead)
        marker = " " * start + "~" * (end - start - 1) + "^"
        return f"{self.message}\n    {source}\n    {marker}"


class UnknownName(PlanSyntaxError):
    """A name that is not in a catalogue; the message lists the closest valid names."""

    def __init__(
        self, what: str, name: str, known: Iterable[str], *, source: str, span: tuple[int, int]
    ) -> None:
        hint = did_you_mean(name, known)
        super().__init__(f"unknown {what} {quoted(name)}{hint}", source=source, span=span)


class PlanFileError(BadInput):
    """A plan file that is wrong: names the file, the key and the line."""

    def __init__(self, path: str, message: str, *, key: str | None = None, line: int | None = None):
        where = path + (f":{line}" if line is not None else "")
        at_key = f" (key {quoted(key)})" if key else ""
        super().__init__(f"{where}{at_key}: {message}")


class UnknownTask(BadInput):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        hint = did_you_mean(name, known)
        super().__init__(f"unknown task {quoted(name)}{hint} (see 'optbench tasks')")


class DataMissing(OptbenchError):
    """A dataset whose files are not where optbench looked; says how to get them."""

    exit_code = 3


class FetchFailed(OptbenchError):
    """``optbench data fetch`` could not download a dataset (no network, a bad archive, a
    full disk); names the dataset and the reason. Nothing is left half-written."""

    exit_code = 3


class DeviceUnavailable(BadInput):
    """``--device cuda`` on a machine without a usable CUDA device."""


class ClusterLost(OptbenchError):
    """The Ray cluster went away under a running ``optbench run --executor ray`` (its head
    or the driver's node died); the runs in progress keep their stored epochs and
    checkpoints, and the same command goes on from there."""


class SchemaOutdated(OptbenchError):
    """A results database written by an older optbench; names the upgrade command."""

    exit_code = 4


class SchemaTooNew(OptbenchError):
    """A results database written by a newer optbench, at a revision this one does not know."""

    exit_code = 4


class DatabaseMissing(BadInput):
    """A results database that does not exist (or holds no optbench tables) where one must."""


class ClaimLost(OptbenchError):
    """A runner wrote to a run it no longer holds: its lease ran out and another runner
    claimed the run, or the run was finished or released meanwhile. The runner stops
    training that run; what the other runner stores counts."""


class StoreError(OptbenchError):
    """The results database cannot do what was asked; the message names the database
    (never its password) and the reason. Nothing of the failed transaction is kept."""

    exit_code = 5


class CheckpointUnwritable(StoreError):
    """A checkpoint could not be written (a full disk, a folder gone): the runs in progress
    stop as interrupted, their stored epochs kept."""


class DatabaseUnreachable(StoreError):
    """No connection to the database server, a refused login, or a connection lost."""


class DatabaseReadOnly(StoreError):
    """A write to a database that may only be read (file, folder, medium or role)."""


class DatabaseFull(StoreError):
    """The disk (or the database's size limit) is full."""


class DatabaseBusy(StoreError):
    """Another writer held a lock longer than the lock timeout."""
