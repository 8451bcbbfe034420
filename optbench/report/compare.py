"""``optbench compare``: per task and configuration, the ranked table beside each plan's
Y/N table, with the paper's values beside ours where the plan file recorded them.

``build_report`` computes everything once (``stats.summarize``, ``paper.checks``);
``render_compare`` draws it for the terminal (rich) and ``export.export_compare`` writes
the same numbers as Markdown, LaTeX, CSV or JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
from rich.console import Group, RenderableType
from rich.text import Text

from optbench.report import cells
from optbench.report import paper as paper_values
from optbench.report.boxes import BoxTable, Col, SideBySide
from optbench.report.metrics import Metric, get_metric
from optbench.report.paper import NO_PAPER, Paper, PaperCell, PaperCheck
from optbench.report.stats import ALPHA, summarize
from optbench.report.yn import yn_box

EMPTY = "no runs stored yet: train some with 'optbench run PLAN.yaml'"
FORMATS = ("table", "markdown", "latex", "csv", "json")

COLUMNS = [  # the ranked table's columns, in order, in every format
    "rank",
    "plan",
    "mean",
    "ci",
    "n",
    "seeds",
    "extreme",
    "val_loss",
    "ms_per_batch",
    "s_per_epoch",
    "vs_best",
]
_RIGHT = {"rank", "mean", "ci", "n", "extreme", "val_loss", "ms_per_batch", "s_per_epoch"}
_WRAP = {"plan": 1, "ci": 2, "seeds": 2, "vs_best": 2, "mean": 3}  # see boxes.Col
# at a narrow width these columns are left out first; the others carry the verdict
_DROP = {"s_per_epoch": 1, "ms_per_batch": 2, "val_loss": 3, "extreme": 4, "ci": 5}

PAPER_COLUMNS = ["plan", "what", "ours", "paper", "diff", "verdict", "reason"]
_PAPER_WRAP = {"plan": 1, "reason": 1, "what": 2, "paper": 2}
PAPER_HEADERS = {
    "plan": "plan",
    "what": "paper's metric",
    "ours": "ours",
    "paper": "paper",
    "diff": "ours − paper",
    "verdict": "verdict",
    "reason": "why",
}


@dataclass(frozen=True)
class Section:
    """One ranked table: the plans of one task trained with one configuration."""

    task: str
    config: str  # the configuration in words
    config_hash: str
    rows: list  # ``summarize`` rows (named tuples), ranked


@dataclass(frozen=True)
class Report:
    """What ``compare`` shows, in every format."""

    metric: Metric
    alpha: float
    sections: list[Section]
    paper: Paper = NO_PAPER
    checks: dict[tuple[str, str, str], list[PaperCheck]] = field(default_factory=dict)
    not_run: dict[str, list[PaperCell]] = field(default_factory=dict)  # per task
    other_metrics: list[str] = field(default_factory=list)  # paper cells not shown

    @property
    def tasks(self) -> list[str]:
        """Every task with a table or with paper cells not run, sorted."""
        return sorted({s.task for s in self.sections} | set(self.not_run))

    def sections_of(self, task: str) -> list[Section]:
        return [s for s in self.sections if s.task == task]

    def checks_of(self, row) -> list[PaperCheck]:
        return self.checks.get((row.task, row.config_hash, row.plan), [])

    @property
    def empty(self) -> bool:
        return not self.sections and not self.not_run


def build_report(
    rows: Sequence[dict],
    metric: str | Metric = "final",
    epochs: Sequence[dict] | None = None,
    alpha: float = ALPHA,
    paper: Paper = NO_PAPER,
    task: str | None = None,
) -> Report:
    """The report of stored run rows (any status), their epoch rows when the metric needs
    them, and the paper's values of the experiment(s) shown (``task``: only that task's
    paper cells count)."""
    metric = metric if isinstance(metric, Metric) else get_metric(metric)
    frame = summarize(rows, metric, epochs, alpha)
    sections: list[Section] = []
    for row in frame.itertuples():  # sorted by task, then configuration
        if not sections or (sections[-1].task, sections[-1].config_hash) != (
            row.task,
            row.config_hash,
        ):
            sections.append(Section(row.task, row.config, row.config_hash, []))
        sections[-1].rows.append(row)
    not_run: dict[str, list[PaperCell]] = {}
    for cell in paper_values.not_run(frame, paper, metric, task):
        not_run.setdefault(cell.task, []).append(cell)
    return Report(
        metric,
        alpha,
        sections,
        paper,
        paper_values.checks(frame, paper, metric),
        not_run,
        paper_values.other_metrics(paper, metric, task),
    )


def ranked_texts(section: Section, metric: Metric) -> list[tuple[object, dict, dict]]:
    """(row, numbers, texts) per plan of a section, in ranked order."""
    out = []
    for row in section.rows:
        num = cells.numbers(row, metric)
        text = cells.texts(num, metric)
        text["plan"] = row.label
        out.append((row, num, text))
    return out


def title(section: Section, metric: Metric) -> str:
    """Two lines: the task and metric, then the configuration the runs were trained with."""
    return f"{section.task}: {metric.title} over seeds\nconfiguration: {section.config}"


def ranked_table(section: Section, metric: Metric, alpha: float = ALPHA) -> BoxTable:
    """The ranked table of one task and configuration; the best plan and those tied
    with it in bold."""
    head = cells.header(metric)
    cols = [
        Col(
            getattr(head, k),
            "right" if k in _RIGHT else "left",
            wrap=_WRAP.get(k, 0),
            drop=_DROP.get(k),
        )
        for k in COLUMNS
    ]
    rows, styles = [], []
    for row, _, text in ranked_texts(section, metric):
        rows.append([text[k] for k in COLUMNS])
        styles.append("bold" if cells.highlighted(row) else None)
    return BoxTable(
        cols,
        rows,
        title=title(section, metric),
        caption=cells.caption(metric, alpha),
        row_styles=styles,
    )


def paper_texts(check: PaperCheck, metric: Metric, footnote: str = "") -> dict[str, str]:
    """One paper cell's texts, as every text format prints them."""
    d = metric.decimals
    paper = f"{check.paper:.{d}f}"
    if check.paper_std is not None:
        paper += f" ± {check.paper_std:.{d}f}"
    if check.converted:
        paper += f" ({check.converted})"
    return {
        "plan": check.cell.name,
        "what": check.cell.what + footnote,
        "ours": "–" if check.ours is None else f"{check.ours:.{d}f}",
        "paper": paper,
        "diff": "–" if check.diff is None else _signed(check.diff, d),
        "verdict": check.verdict,
        "reason": check.reason,
    }


def _signed(x: float, decimals: int) -> str:
    """``+0.0072``, ``-0.0047``; a difference that rounds to zero has no sign."""
    text = f"{x:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text


def footnotes(checks: Sequence[PaperCheck]) -> dict[str, int]:
    """The distinct notes of these paper cells, numbered in order of appearance."""
    notes: dict[str, int] = {}
    for check in checks:
        if check.cell.note and check.cell.note not in notes:
            notes[check.cell.note] = len(notes) + 1
    return notes


def section_checks(report: Report, section: Section) -> list[PaperCheck]:
    return [c for row in section.rows for c in report.checks_of(row)]


def paper_caption(report: Report) -> str:
    source = f" ({report.paper.source})" if report.paper.source else ""
    return (
        f"The paper's values{source} beside ours. Consistent: the paper's mean inside our "
        "95% CI, or ours within the paper's ± std; a best-seed (max) cell: the paper's best "
        "inside the 95% range of a best of that many seeds drawn like ours (of one run, for "
        "a paper that ran once); a printed value stands for all that round to it."
    )


def paper_table(report: Report, section: Section) -> BoxTable | None:
    checks = section_checks(report, section)
    if not checks:
        return None
    notes = footnotes(checks)
    cols = [
        Col(PAPER_HEADERS[k], "right" if k in ("ours", "diff") else "left",
            wrap=_PAPER_WRAP.get(k, 0), drop=1 if k == "reason" else None)
        for k in PAPER_COLUMNS
    ]  # fmt: skip
    rows = []
    for check in checks:
        mark = f" [{notes[check.cell.note]}]" if check.cell.note else ""
        text = paper_texts(check, report.metric, mark)
        rows.append([text[k] for k in PAPER_COLUMNS])
    caption = " ".join([paper_caption(report), *(f"[{i}] {note}" for note, i in notes.items())])
    return BoxTable(cols, rows, title=f"{section.task}: the paper's values", caption=caption)


def not_run_lines(report: Report, task: str) -> list[str]:
    """Per cell not run: ``fashion-mnist-nn2: the paper's last10 mean of SGD(lr=0.001)+M
    is 0.8689 ([ANN] Table 2 ...), not run here``."""
    d = report.metric.decimals
    lines = []
    for cell in report.not_run.get(task, []):
        value, std = paper_values.in_units(cell, report.metric) or (cell.value, cell.std)
        spread = f" ± {std:.{d}f}" if std is not None else ""
        source = f" ({cell.source})" if cell.source else ""
        note = f"; {cell.note}" if cell.note else ""
        lines.append(
            f"{task}: the paper's {cell.what} of {cell.name} is {value:.{d}f}{spread}{source}, "
            f"not run here{note}"
        )
    return lines


def report_notes(report: Report) -> list[str]:
    """Lines about the report as a whole: tasks whose done runs have no value of the
    metric (a toy problem has no accuracy), and about the paper's values: its note, cells
    of other metrics, cells that could not be read."""
    lines = []
    for task in report.tasks:
        rows = [row for section in report.sections_of(task) for row in section.rows]
        if any(row.done for row in rows) and not any(row.n for row in rows):
            other = " (compare it with --metric loss)" if report.metric.name != "loss" else ""
            lines.append(f"{task}: its done runs have no {report.metric.title}{other}")
    if report.paper.note:
        lines.append(f"paper note: {report.paper.note}")
    if report.other_metrics:
        metrics = ", ".join(f"--metric {m}" for m in report.other_metrics)
        lines.append(f"the paper's values of other metrics are shown with {metrics}")
    lines += [f"a paper value was not read: {u}" for u in report.paper.unreadable]
    return lines


def render_compare(
    rows: Sequence[dict],
    metric: str | Metric = "final",
    epochs: Sequence[dict] | None = None,
    alpha: float = ALPHA,
    paper: Paper = NO_PAPER,
    task: str | None = None,
) -> RenderableType:
    """Everything ``compare`` prints in the terminal, for stored rows of runs of any status
    (and their epoch rows when the metric needs them)."""
    report = build_report(rows, metric, epochs, alpha, paper, task)
    return render_report(report)


def render_report(report: Report) -> RenderableType:
    if report.empty:
        return Text(EMPTY)
    metric = report.metric
    parts: list[RenderableType] = []
    for task in report.tasks:
        for section in report.sections_of(task):
            parts.append(ranked_table(section, metric, report.alpha))
            parts += [
                Text(f"{row.label}: {note}")
                for row in section.rows
                if (note := cells.stage_note(row))
            ]
            if (table := paper_table(report, section)) is not None:
                parts.append(table)
            blocks = [
                yn_box(cells.schedule(row.plan), title=f"{_pos(row)} {row.label}")
                for row in section.rows
            ]
            parts.append(SideBySide(blocks))
            parts.append(Text(""))
        lines = not_run_lines(report, task)
        parts += [Text(line) for line in lines]
        if lines:
            parts.append(Text(""))
    parts += [Text(line) for line in report_notes(report)]
    return Group(*parts)


def _pos(row) -> str:
    """The Y/N table's title: the plan's rank (``#1``), or its verdict when it has none."""
    return row.verdict if pd.isna(row.rank) else f"#{int(row.rank)}"
