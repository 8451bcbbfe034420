"""A regex tokenizer for plan expressions, in the style of pypa/packaging's ``_tokenizer.py``.

The parser asks for the token it expects next (``check``, ``consume``, ``expect``), so one
rule can depend on where the parser stands: inside ``[...]`` a module-name glob such as
``features.*`` or ``layer1.0.conv*`` is read as one ``SELECTOR`` token. Whitespace between
tokens is skipped. Every token keeps its ``(start, end)`` span in the source, and
``raise_syntax_error`` reports a span as a ``PlanSyntaxError`` (source line, caret).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from optbench.errors import PlanSyntaxError


@dataclass(frozen=True)
class Token:
    name: str
    text: str
    span: tuple[int, int]


RULES: Mapping[str, re.Pattern[str]] = {
    "LEFT_PAREN": re.compile(r"\("),
    "RIGHT_PAREN": re.compile(r"\)"),
    "LEFT_BRACKET": re.compile(r"\["),
    "RIGHT_BRACKET": re.compile(r"\]"),
    "BAR": re.compile(r"\|"),
    "PLUS": re.compile(r"\+"),
    "COLON": re.compile(r":"),
    "COMMA": re.compile(r","),
    "EQUALS": re.compile(r"="),
    "PERCENT": re.compile(r"%"),
    # A sign is allowed: argument values may be negative; the parser rejects it elsewhere.
    "NUMBER": re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"),
    "NAME": re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
    "STRING": re.compile(r"\"[^\"\n]*\"|'[^'\n]*'"),
    # The body of ``[...]``: a module name or an fnmatch glob over module names.
    "SELECTOR": re.compile(r"[A-Za-z0-9_.*?\-]+"),
}
_WHITESPACE = re.compile(r"\s*")
_ANY_TOKEN = ("NAME", "NUMBER", "STRING")


class Tokenizer:
    """Matches the rule the parser names at the current position, skipping whitespace first."""

    def __init__(self, source: str, *, rules: Mapping[str, re.Pattern[str]] = RULES) -> None:
        self.source = source
        self.rules = rules
        self.position = 0

    def peek(self, name: str, *, adjacent: bool = False) -> Token | None:
        """The ``name`` token that comes next, without consuming it.

        ``adjacent=True`` matches only with no whitespace before it (``SGD(lr=0.1)``).
        """
        start = self.position if adjacent else _WHITESPACE.match(self.source, self.position).end()
        match = self.rules[name].match(self.source, start)
        if match is None:
            return None
        return Token(name, match.group(), (start, match.end()))

    def check(self, name: str, *, adjacent: bool = False) -> bool:
        return self.peek(name, adjacent=adjacent) is not None

    def consume(self, name: str, *, adjacent: bool = False) -> Token | None:
        """The next token if it is a ``name``, moving past it; ``None`` (and no move) otherwise."""
        token = self.peek(name, adjacent=adjacent)
        if token is not None:
            self.position = token.span[1]
        return token

    def expect(self, name: str, message: str) -> Token:
        """The next token, which must be a ``name``; a syntax error at what is there otherwise."""
        token = self.consume(name)
        if token is None:
            self.raise_syntax_error(message)
        return token

    def at_end(self) -> bool:
        return _WHITESPACE.match(self.source, self.position).end() == len(self.source)

    def upcoming(self) -> tuple[str, tuple[int, int]]:
        """Text and span of what comes next, for messages: a name, number or string if one
        starts here, else one character; ``("", (n, n))`` at the end of the source."""
        for name in _ANY_TOKEN:
            token = self.peek(name)
            if token is not None:
                return token.text, token.span
        start = _WHITESPACE.match(self.source, self.position).end()
        return self.source[start : start + 1], (start, min(start + 1, len(self.source)))

    def raise_syntax_error(self, message: str, *, span: tuple[int, int] | None = None) -> NoReturn:
        """Raise a ``PlanSyntaxError`` marking ``span`` (by default what comes next)."""
        if span is None:
            span = self.upcoming()[1]
        raise PlanSyntaxError(message, source=self.display, span=span)

    @property
    def display(self) -> str:
        """The source as an error shows it: one line, each whitespace character a space, so
        that the caret stays under the span (a plan may span lines in a YAML file)."""
        return re.sub(r"\s", " ", self.source)
