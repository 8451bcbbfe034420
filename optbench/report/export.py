"""``optbench compare --format markdown|latex|csv|json``: the ranked tables for a paper.

Every format carries the numbers of ``cells.numbers`` (rounded as the terminal table shows
them), the verdict against the best plan and each plan's Y/N schedule table [MS Table 3]:
Markdown and LaTeX as tables under the ranked table, CSV in one ``schedule`` cell
(``SGD GE Y N Y; Adam GE N Y N``), JSON as a list of rows. LaTeX uses booktabs
(``\\usepackage{booktabs}``) and sets the best plan and the plans tied with it in bold.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from optbench.errors import BadInput
from optbench.report import cells
from optbench.report.compare import COLUMNS, EMPTY, FORMATS
from optbench.report.metrics import Metric, get_metric
from optbench.report.stats import ALPHA, summarize

TEST = "Welch's t-test (two-sided) against the best plan, Holm-corrected"


def export_compare(
    rows: Sequence[dict],
    fmt: str,
    metric: str | Metric = "final",
    epochs: Sequence[dict] | None = None,
    alpha: float = ALPHA,
) -> str:
    """The compare report of stored run rows as Markdown, LaTeX, CSV or JSON text."""
    writers = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv, "json": to_json}
    if fmt not in writers:
        raise BadInput(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    metric = metric if isinstance(metric, Metric) else get_metric(metric)
    return writers[fmt](summarize(rows, metric, epochs, alpha), metric, alpha)


def _rows(frame: pd.DataFrame, metric: Metric):
    """(task, [(row, numbers, texts)]) per task, in ranked order."""
    for task, per_task in frame.groupby("task", sort=True):
        out = []
        for row in per_task.itertuples():
            num = cells.numbers(row, metric)
            text = cells.texts(num, metric)
            text["plan"] = row.label
            out.append((row, num, text))
        yield str(task), out


# -- Markdown -------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\|*_`<>])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_row(values: Sequence[str]) -> str:
    return "| " + " | ".join(values) + " |"


def to_markdown(frame: pd.DataFrame, metric: Metric, alpha: float = ALPHA) -> str:
    if frame.empty:
        return f"_{EMPTY}_\n"
    head = cells.header(metric)
    lines: list[str] = []
    for task, rows in _rows(frame, metric):
        lines += [f"## {_md(task)}: {metric.title} over seeds", ""]
        lines.append(_md_row([_md(getattr(head, k)) for k in COLUMNS]))
        lines.append(
            _md_row(
                ["---:", ":---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", ":---"]
            )
        )
        for row, _, text in rows:
            shown = [_md(text[k]) for k in COLUMNS]
            if cells.highlighted(row):
                shown[1], shown[2] = f"**{shown[1]}**", f"**{shown[2]}**"
            lines.append(_md_row(shown))
        lines += ["", f"_{_md(cells.caption(metric, alpha))}._", ""]
        notes = [(row, note) for row, _, _ in rows if (note := cells.stage_note(row))]
        lines += [f"- {_md(row.label)}: {note}" for row, note in notes]
        if notes:
            lines.append("")
        for row, num, _ in rows:
            lines += _md_schedule(row, num)
    return "\n".join(lines)


def _md_schedule(row: Any, num: dict[str, Any]) -> list[str]:
    yn = cells.schedule(row.plan)
    stages = len(yn[0].active) if yn else 0
    lines = [f"**{_title(num)} {_md(row.label)}**", ""]
    lines.append(_md_row(["method", "kind", *(f"S{i + 1}" for i in range(stages))]))
    lines.append(_md_row([":---", ":---", *([":---:"] * stages)]))
    for r in yn:
        lines.append(_md_row([_md(r.label), r.kind_label, *("Y" if a else "N" for a in r.active)]))
    return [*lines, ""]


def _title(num: dict[str, Any]) -> str:
    return "n<2" if num["rank"] is None else f"#{num['rank']}"


# -- LaTeX ----------------------------------------------------------------------------------

_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "–": "--",
    "±": r"$\pm$",
    "α": r"$\alpha$",
    "·": r"$\cdot$",
}
_TEX_SPECIAL = re.compile("|".join(re.escape(c) for c in _TEX))


def tex(text: str) -> str:
    """Text with every LaTeX special character escaped."""
    return _TEX_SPECIAL.sub(lambda m: _TEX[m.group()], text)


def _tex_mean(num: dict[str, Any], metric: Metric, bold: bool) -> str:
    d = metric.decimals
    if num["mean"] is None:
        return "--"
    body = f"{num['mean']:.{d}f}"
    if num["std"] is not None:
        body += rf" \pm {num['std']:.{d}f}"
    return rf"$\mathbf{{{body}}}$" if bold else f"${body}$"


def _label(task: str) -> str:
    return "tab:optbench-" + re.sub(r"[^A-Za-z0-9]+", "-", task).strip("-")


def to_latex(frame: pd.DataFrame, metric: Metric, alpha: float = ALPHA) -> str:
    lines = ["% optbench compare: needs \\usepackage{booktabs}"]
    if frame.empty:
        return "\n".join([*lines, f"% {EMPTY}", ""])
    head = cells.header(metric)
    columns = [tex(getattr(head, k)) for k in COLUMNS]
    columns[4] = "$n$"
    for task, rows in _rows(frame, metric):
        lines += [
            r"\begin{table}[htbp]",
            r"\centering",
            rf"\caption{{{tex(task)}: {tex(metric.title)} over seeds. Bold: the best plan and "
            rf"the plans tied with it; {tex(cells.caption(metric, alpha))}.}}",
            rf"\label{{{_label(task)}}}",
            r"\begin{tabular}{rlrrrrrrrl}",
            r"\toprule",
            " & ".join(columns) + r" \\",
            r"\midrule",
        ]
        for row, num, text in rows:
            bold = cells.highlighted(row)
            shown = [tex(text[k]) for k in COLUMNS]
            shown[1] = rf"\textbf{{{shown[1]}}}" if bold else shown[1]
            shown[2] = _tex_mean(num, metric, bold)
            lines.append(" & ".join(shown) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        for row, _, _ in rows:
            if note := cells.stage_note(row):
                lines.append(rf"\par\smallskip{{\footnotesize {tex(row.label)}: {tex(note)}}}")
        lines += [r"\end{table}", ""]
        lines += _tex_schedules(task, rows)
    return "\n".join(lines)


def _tex_schedules(task: str, rows) -> list[str]:
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{tex(task)}: the plans' schedules (Y/N tables: rows are methods, columns "
        r"are stages).}",
        rf"\label{{{_label(task)}-schedules}}",
    ]
    for i, (row, num, _) in enumerate(rows):
        yn = cells.schedule(row.plan)
        stages = len(yn[0].active) if yn else 0
        width = 2 + stages
        lines += [
            r"\begin{tabular}{ll" + "c" * stages + "}",
            r"\toprule",
            rf"\multicolumn{{{width}}}{{l}}{{{tex(_title(num))} {tex(row.label)}}} \\",
            r"\midrule",
            " & ".join(["method", "kind", *(f"S{s + 1}" for s in range(stages))]) + r" \\",
            r"\midrule",
        ]
        for r in yn:
            lines.append(
                " & ".join([tex(r.label), r.kind_label, *("Y" if a else "N" for a in r.active)])
                + r" \\"
            )
        lines += [r"\bottomrule", r"\end{tabular}"]
        if i + 1 < len(rows):
            lines.append(r"\quad")
    return [*lines, r"\end{table}", ""]


# -- CSV and JSON ---------------------------------------------------------------------------


def _csv_number(x: float | None, decimals: int) -> str:
    return "" if x is None else f"{x:.{decimals}f}"


def to_csv(frame: pd.DataFrame, metric: Metric, alpha: float = ALPHA) -> str:
    """One line per (task, plan); numbers as the table prints them, empty where none."""
    d = metric.decimals
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "task",
            "metric",
            "rank",
            "plan",
            "mean",
            "std",
            "ci_low",
            "ci_high",
            "n",
            metric.extreme,
            "val_loss",
            "ms_per_batch",
            "s_per_epoch",
            "verdict",
            "p_vs_best",
            "stage_starts",
            "schedule",
            "plan_stored",
        ]
    )
    for task, rows in _rows(frame, metric):
        for row, num, _ in rows:
            starts = "; ".join(
                f"{' '.join(str(e) for e in s['epochs'])} x{s['runs']}"
                for s in cells.stage_starts_json(row)
            )
            writer.writerow(
                [
                    task,
                    metric.name,
                    "" if num["rank"] is None else num["rank"],
                    row.label,
                    _csv_number(num["mean"], d),
                    _csv_number(num["std"], d),
                    _csv_number(num["ci_low"], d),
                    _csv_number(num["ci_high"], d),
                    num["n"],
                    _csv_number(num["extreme"], d),
                    _csv_number(num["val_loss"], cells.LOSS_DECIMALS),
                    _csv_number(num["ms_per_batch"], cells.TIME_DECIMALS),
                    _csv_number(num["s_per_epoch"], cells.TIME_DECIMALS),
                    num["verdict"],
                    "" if num["p_vs_best"] is None else f"{num['p_vs_best']:g}",
                    starts,
                    cells.schedule_text(row.plan),
                    row.plan,
                ]
            )
    return buffer.getvalue()


def to_json(frame: pd.DataFrame, metric: Metric, alpha: float = ALPHA) -> str:
    tasks = []
    for task, rows in _rows(frame, metric):
        plans = []
        for row, num, _ in rows:
            entry = {"rank": num["rank"], "plan": row.label, "plan_stored": row.plan}
            entry |= {k: num[k] for k in ("mean", "std", "ci_low", "ci_high", "n")}
            entry[metric.extreme] = num["extreme"]
            entry |= {
                k: num[k]
                for k in ("val_loss", "ms_per_batch", "s_per_epoch", "verdict", "p_vs_best")
            }
            entry["stage_starts"] = cells.stage_starts_json(row)
            entry["schedule"] = [
                {
                    "method": r.label,
                    "kind": r.kind_label,
                    "stages": ["Y" if a else "N" for a in r.active],
                }
                for r in cells.schedule(row.plan)
            ]
            plans.append(entry)
        tasks.append({"task": task, "plans": plans})
    document = {
        "metric": {
            "name": metric.name,
            "title": metric.title,
            "higher_is_better": metric.higher_is_better,
        },
        "alpha": alpha,
        "test": TEST,
        "tasks": tasks,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
