"""Consoles that print anywhere: a terminal of any width, a pipe, a file, a legacy encoding.

- On a stream whose encoding cannot write the characters optbench prints (box drawing,
  ``±``, ``–``, ``α``, block elements — e.g. ``PYTHONIOENCODING=cp1252`` or a Windows
  console), text is written in ASCII instead (``asciify``): rich draws its tables with
  ASCII boxes, optbench's own tables too, and every other character is spelled in ASCII
  (``±`` as ``+/-``), never a UnicodeEncodeError.
- When the stream is not a terminal (a CI log, a file) and ``COLUMNS`` is not set,
  nothing is wrapped or narrowed to a made-up width: lines are as long as their content.
"""

from __future__ import annotations

import io
import os
import sys
import unicodedata
from typing import IO

from rich.console import Console

UNBOUNDED = 1000  # the width of a console that is not a terminal: no line is wrapped
_SAMPLE = "┏━┃│└±–α▁█→"  # characters optbench prints that legacy encodings lack

_WORDS = {
    "±": "+/-",
    "–": "-",
    "—": "-",
    "−": "-",
    "→": "->",
    "←": "<-",
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "η": "eta",
    "θ": "theta",
    "κ": "kappa",
    "λ": "lambda",
    "Φ": "Phi",
    "·": ".",
    "…": "...",
    "≥": ">=",
    "≤": "<=",
    "≈": "~",
    "×": "x",
    "²": "^2",
    "³": "^3",
    "√": "sqrt",
    "✓": "v",
    "✗": "x",
}
_BOX = {
    **dict.fromkeys("┏┓┗┛┳┻┣┫╋┡┩╇└┘┌┐├┤┼┴┬╭╮╰╯╞╡╪", "+"),
    **dict.fromkeys("━─═╌┄", "-"),
    **dict.fromkeys("┃│║╎┆", "|"),
}
_BLOCKS = dict(zip("▁▂▃▄▅▆▇█", "__--==##", strict=True))
_TABLE = str.maketrans({**_WORDS, **_BOX, **_BLOCKS})


def asciify(text: str) -> str:
    """``text`` in ASCII: box drawing as ``+-|``, block elements as ``_-=#``, ``±`` as
    ``+/-``, Greek letters by name, accented letters without their accents, anything
    else as ``?``."""
    if text.isascii():
        return text
    text = text.translate(_TABLE)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        ch if ch.isascii() else ("" if unicodedata.combining(ch) else "?") for ch in decomposed
    )


def writes_unicode(stream: IO[str]) -> bool:
    """Whether ``stream``'s encoding can write the characters optbench prints."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        _SAMPLE.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class AsciiStream(io.TextIOBase):
    """A text stream that writes ``asciify``'d text to another one; says it is ASCII, so
    that rich draws ASCII boxes."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "ascii"

    def write(self, text: str) -> int:
        self._stream.write(asciify(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


def make_console(*, stderr: bool = False, file: IO[str] | None = None, **kwargs) -> Console:
    """A rich Console on ``file`` (default stdout, or stderr): ASCII where the stream's
    encoding needs it; unbounded width when the stream is not a terminal and ``COLUMNS``
    is not set. ``kwargs`` go to ``Console``."""
    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    if not writes_unicode(stream):
        stream = AsciiStream(stream)
    kwargs.setdefault("highlight", False)
    console = Console(file=stream, **kwargs)
    if not console.is_terminal and "width" not in kwargs and not os.environ.get("COLUMNS"):
        console.width = UNBOUNDED
    return console


def echo(text: str, *, file: IO[str] | None = None) -> None:
    """Write ``text`` as it is to stdout (or ``file``); in ASCII where the stream's
    encoding cannot write it."""
    stream = file if file is not None else sys.stdout
    stream.write(text if writes_unicode(stream) else asciify(text))
    stream.flush()
