"""Tables drawn as text lines in rich's default box (heavy head), without rich's layout
engine: ``compare`` prints a ranked table and a Y/N table per plan for every task, and on
a database of 10,000 runs rich would take seconds to measure them all.

The look follows ``rich.table.Table`` with a left-justified title and caption: one space
of padding each side of a cell, headers justified like their column, the title and
caption wrapped to the table's width. When the table is wider than ``max_width``, the one
column marked ``wrap`` is narrowed and its cells wrap at spaces.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

MIN_WRAP = 12  # a wrapping column is never narrowed below this


@dataclass(frozen=True)
class Col:
    header: str
    justify: str = "left"  # left, right or center
    wrap: bool = False


def _justify(text: str, width: int, how: str) -> str:
    excess = width - len(text)
    if how == "right":
        return " " * excess + text
    if how == "center":  # as rich centres: the odd space goes to the right
        return " " * (excess // 2) + text + " " * (excess - excess // 2)
    return text + " " * excess


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


@dataclass(frozen=True)
class Lines:
    """Text lines and, per line, a rich style (or None); printed without wrapping."""

    lines: list[str]
    styles: list[str | None]

    @property
    def width(self) -> int:
        return max((len(line) for line in self.lines), default=0)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # plain segments: a rich Text per line would cost more than drawing the tables
        for line, style in zip(self.lines, self.styles, strict=True):
            yield Segment(line, console.get_style(style) if style else None)
            yield Segment.line()


def box_table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    caption: str | None = None,
    row_styles: Sequence[str | None] | None = None,
    max_width: int | None = None,
) -> Lines:
    """The table as lines: title, box with header and rows, caption."""
    widths = [max([len(c.header), *(len(r[i]) for r in rows)]) for i, c in enumerate(cols)]
    total = sum(widths) + 3 * len(cols) + 1
    if max_width is not None and total > max_width:
        for i, col in enumerate(cols):
            if col.wrap:
                widths[i] = max(MIN_WRAP, widths[i] - (total - max_width))

    def cells(texts: Sequence[str], bar: str) -> list[str]:
        wrapped = [
            _wrap(t, w) if c.wrap else [t] for t, w, c in zip(texts, widths, cols, strict=True)
        ]
        height = max(len(w) for w in wrapped)
        return [
            bar
            + bar.join(
                f" {_justify(w[k] if k < len(w) else '', width, c.justify)} "
                for w, width, c in zip(wrapped, widths, cols, strict=True)
            )
            + bar
            for k in range(height)
        ]

    def rule(left: str, fill: str, sep: str, right: str) -> str:
        return left + sep.join(fill * (w + 2) for w in widths) + right

    lines = [
        rule("┏", "━", "┳", "┓"),
        *cells([c.header for c in cols], "┃"),
        rule("┡", "━", "╇", "┩"),
    ]
    styles: list[str | None] = [None] * len(lines)
    for r, row in enumerate(rows):
        drawn = cells(row, "│")
        lines += drawn
        styles += [row_styles[r] if row_styles else None] * len(drawn)
    lines.append(rule("└", "─", "┴", "┘"))
    styles.append(None)
    width = len(lines[0])
    head = [t.ljust(width) for t in _wrap(title, width)] if title else []
    foot = [t.ljust(width) for t in _wrap(caption, width)] if caption else []
    return Lines(head + lines + foot, [None] * len(head) + styles + [None] * len(foot))


@dataclass(frozen=True)
class BoxTable:
    """``box_table`` laid out for the console's width when printed."""

    cols: Sequence[Col]
    rows: Sequence[Sequence[str]]
    title: str | None = None
    caption: str | None = None
    row_styles: Sequence[str | None] | None = None

    def lines(self, max_width: int | None = None) -> Lines:
        return box_table(
            self.cols,
            self.rows,
            title=self.title,
            caption=self.caption,
            row_styles=self.row_styles,
            max_width=max_width,
        )

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.lines(options.max_width)


@dataclass(frozen=True)
class SideBySide:
    """``side_by_side`` laid out for the console's width when printed."""

    blocks: Sequence[Lines]
    gap: int = 2

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield side_by_side(self.blocks, options.max_width, self.gap)


def side_by_side(blocks: Sequence[Lines], max_width: int, gap: int = 2) -> Lines:
    """Blocks laid out left to right and wrapped into rows like ``rich.columns.Columns``:
    the most columns whose widest blocks fit in ``max_width``; a row as tall as its
    tallest block."""
    if not blocks:
        return Lines([], [])
    sizes = [b.width for b in blocks]
    count = len(blocks)
    while count > 1 and sum(max(sizes[i::count]) for i in range(count)) + gap * (count - 1) > (
        max_width
    ):
        count -= 1
    widths = [max(sizes[i::count]) for i in range(count)]
    lines: list[str] = []
    for start in range(0, len(blocks), count):
        row = [b.lines for b in blocks[start : start + count]]
        row += [[]] * (count - len(row))  # an empty cell where the last row ends early
        for k in range(max(len(b) for b in row)):
            lines.append(
                (" " * gap).join(
                    (b[k] if k < len(b) else "").ljust(w) for b, w in zip(row, widths, strict=True)
                )
            )
    return Lines(lines, [None] * len(lines))
