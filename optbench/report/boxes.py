"""Tables drawn as text lines in rich's default box (heavy head), without rich's layout
engine: ``compare`` prints a ranked table and a Y/N table per plan for every task, and on
a database of 10,000 runs rich would take seconds to measure them all.

The look follows ``rich.table.Table`` with a left-justified title and caption: one space
of padding each side of a cell, headers justified like their column, the title and
caption wrapped to the table's width.

A table never cuts a cell. When it is wider than the console, it is narrowed in steps:
first the columns marked ``wrap=1`` wrap their cells at spaces (never narrower than their
longest word); then the columns with a ``drop`` priority are left out, lowest first, and
the table says which (``Lines.left_out``); then headers and the columns marked ``wrap=2``,
then ``wrap=3``, wrap at spaces; last, wrapping columns break their words. Columns without
a ``drop`` priority — those that carry the verdict — always stay. On an ASCII-only
console the box is drawn with ``+-|`` and the text is spelled in ASCII
(``console.asciify``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from optbench.report.console import asciify


@dataclass(frozen=True)
class Col:
    header: str
    justify: str = "left"  # left, right or center
    # 0: never wraps; 1: wraps first (long text such as a plan); 2: wraps only when
    # leaving columns out was not enough (a verdict, a count); 3: only after those
    wrap: int = 0
    drop: int | None = None  # left out when the table is too wide, lowest first; None: never


MIN_WRAP = 12  # a first-tier wrapping column is not narrowed below this before others are
MIN_BREAK = 6  # the narrowest a wrapping column gets when its words must break


def _justify(text: str, width: int, how: str) -> str:
    excess = width - len(text)
    if how == "right":
        return " " * excess + text
    if how == "center":  # as rich centres: the odd space goes to the right
        return " " * (excess // 2) + text + " " * (excess - excess // 2)
    return text + " " * excess


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


_HEAVY = {"top": "┏━┳┓", "head": "┃", "rule": "┡━╇┩", "body": "│", "bottom": "└─┴┘"}
_ASCII = {"top": "+-++", "head": "|", "rule": "+=++", "body": "|", "bottom": "+-++"}


@dataclass(frozen=True)
class Lines:
    """Text lines and, per line, a rich style (or None); printed without wrapping."""

    lines: list[str]
    styles: list[str | None]
    left_out: tuple[str, ...] = field(default=())  # headers of columns not shown

    @property
    def width(self) -> int:
        return max((len(line) for line in self.lines), default=0)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # plain segments: a rich Text per line would cost more than drawing the tables
        for line, style in zip(self.lines, self.styles, strict=True):
            yield Segment(line, console.get_style(style) if style else None)
            yield Segment.line()


def _natural(cols: Sequence[Col], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(c.header), *(len(r[i]) for r in rows)]) for i, c in enumerate(cols)]


def _least(cols: Sequence[Col], rows: Sequence[Sequence[str]], tier: int) -> list[int]:
    """How narrow each column may get at a tier of squeezing: 1 — first-tier wrapping
    columns down to their longest word (at least ``MIN_WRAP``); 2 — second-tier ones too,
    and every header, down to its longest word; 3 — third-tier ones too; 4 — wrapping
    columns break their words, down to ``MIN_BREAK``."""
    natural = _natural(cols, rows)
    least = []
    for i, c in enumerate(cols):
        words = max([_longest_word(c.header), *(_longest_word(r[i]) for r in rows)])
        whole = max([_longest_word(c.header) if tier > 1 else len(c.header),
                     *(len(r[i]) for r in rows)])  # fmt: skip
        if tier == 1:
            least.append(min(natural[i], max(words, MIN_WRAP)) if c.wrap == 1 else natural[i])
        elif tier < 4:
            least.append(words if 0 < c.wrap <= tier else whole)
        else:
            least.append(min(words, MIN_BREAK) if c.wrap else whole)
    return least


def _squeeze(widths: list[int], least: list[int], max_width: int) -> list[int]:
    """Narrow the columns with the most room first until the table fits or none can give."""
    widths = list(widths)
    excess = sum(widths) + 3 * len(widths) + 1 - max_width
    while excess > 0:
        room = [(widths[i] - least[i], i) for i in range(len(widths)) if widths[i] > least[i]]
        if not room:
            break
        spare, i = max(room)
        step = min(excess, max(1, spare // 2))
        widths[i] -= step
        excess -= step
    return widths


def _fits(widths: Sequence[int], max_width: int) -> bool:
    return sum(widths) + 3 * len(widths) + 1 <= max_width


def _layout(
    cols: Sequence[Col], rows: Sequence[Sequence[str]], max_width: int | None
) -> tuple[list[int], list[int]]:
    """(kept column indices, their widths) for ``max_width``: wrap the first tier, then
    leave out droppable columns, then wrap everything that may wrap, then break words."""
    keep = list(range(len(cols)))

    def sub(indices):
        return [cols[i] for i in indices], [[r[i] for i in indices] for r in rows]

    widths = _natural(cols, rows)
    if max_width is None or _fits(widths, max_width):
        return keep, widths
    widths = _squeeze(widths, _least(cols, rows, 1), max_width)
    droppable = sorted((c.drop, i) for i, c in enumerate(cols) if c.drop is not None)
    while not _fits(widths, max_width) and droppable:
        keep.remove(droppable.pop(0)[1])
        kept_cols, kept_rows = sub(keep)
        widths = _squeeze(_natural(kept_cols, kept_rows), _least(kept_cols, kept_rows, 1),
                          max_width)  # fmt: skip
    kept_cols, kept_rows = sub(keep)
    for tier in (2, 3, 4):
        if not _fits(widths, max_width):
            widths = _squeeze(widths, _least(kept_cols, kept_rows, tier), max_width)
    return keep, widths


def box_table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    caption: str | None = None,
    row_styles: Sequence[str | None] | None = None,
    max_width: int | None = None,
    ascii_only: bool = False,
) -> Lines:
    """The table as lines: title, box with header and rows, caption; fitted to
    ``max_width`` as the module docstring says (``Lines.left_out`` names the columns left
    out)."""
    if ascii_only:
        cols = [Col(asciify(c.header), c.justify, c.wrap, c.drop) for c in cols]
        rows = [[asciify(t) for t in r] for r in rows]
        title = asciify(title) if title else title
        caption = asciify(caption) if caption else caption
    keep, widths = _layout(cols, rows, max_width)
    left_out = [cols[i].header for i in range(len(cols)) if i not in keep]
    cols = [cols[i] for i in keep]
    rows = [[r[i] for i in keep] for r in rows]
    box = _ASCII if ascii_only else _HEAVY

    def cells(texts: Sequence[str], bar: str) -> list[str]:
        wrapped = [_wrap(t, w) for t, w in zip(texts, widths, strict=True)]
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

    def rule(chars: str) -> str:
        left, fill, sep, right = chars
        return left + sep.join(fill * (w + 2) for w in widths) + right

    lines = [rule(box["top"]), *cells([c.header for c in cols], box["head"]), rule(box["rule"])]
    styles: list[str | None] = [None] * len(lines)
    for r, row in enumerate(rows):
        drawn = cells(row, box["body"])
        lines += drawn
        styles += [row_styles[r] if row_styles else None] * len(drawn)
    lines.append(rule(box["bottom"]))
    styles.append(None)
    width = len(lines[0])
    head = [t.ljust(width) for t in _wrap_text(title, width)] if title else []
    foot = [t.ljust(width) for t in _wrap_text(caption, width)] if caption else []
    if left_out:
        note = f"not shown at this width: {', '.join(left_out)} (a wider terminal shows them)"
        foot += [t.ljust(width) for t in _wrap_text(note, width)]
    return Lines(
        head + lines + foot, [None] * len(head) + styles + [None] * len(foot), tuple(left_out)
    )


def _wrap_text(text: str, width: int) -> list[str]:
    """Title and caption lines: each line of ``text`` wrapped at spaces, a long word
    broken only if it must."""
    return [
        line
        for part in text.split("\n")
        for line in (textwrap.wrap(part, max(width, 20), break_on_hyphens=False) or [""])
    ]


@dataclass(frozen=True)
class BoxTable:
    """``box_table`` laid out for the console's width when printed."""

    cols: Sequence[Col]
    rows: Sequence[Sequence[str]]
    title: str | None = None
    caption: str | None = None
    row_styles: Sequence[str | None] | None = None

    def lines(self, max_width: int | None = None, ascii_only: bool = False) -> Lines:
        return box_table(
            self.cols,
            self.rows,
            title=self.title,
            caption=self.caption,
            row_styles=self.row_styles,
            max_width=max_width,
            ascii_only=ascii_only,
        )

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.lines(options.max_width, options.ascii_only)


@dataclass(frozen=True)
class SideBySide:
    """``side_by_side`` laid out for the console's width when printed; ``BoxTable`` blocks
    are fitted to that width first (a block wider than the console wraps its cells)."""

    blocks: Sequence[Lines | BoxTable]
    gap: int = 2

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width, ascii_only = options.max_width, options.ascii_only
        blocks = [b.lines(width, ascii_only) if isinstance(b, BoxTable) else b for b in self.blocks]
        yield side_by_side(blocks, width, self.gap)


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
                (" " * gap)
                .join(
                    (b[k] if k < len(b) else "").ljust(w) for b, w in zip(row, widths, strict=True)
                )
                .rstrip()
            )
    return Lines(lines, [None] * len(lines))
