"""``optbench compare --format markdown|latex|csv|json``: the ranked tables for a paper.

Every format carries the numbers of ``cells.numbers`` (rounded as the terminal table shows
them), the configuration each table's runs were trained with, per plan how many seeds
finished, diverged, failed or are not finished, the verdict against the best plan, the
paper's values beside ours (``paper.check``) and each plan's Y/N schedule table [MS Table
3]: Markdown and LaTeX as tables under the ranked table, CSV in one ``schedule`` cell
(``SGD GE Y N Y; Adam GE N Y N``), JSON as a list of rows. LaTeX uses booktabs
(``\\usepackage{booktabs}``) and sets the best plan and the plans tied with it in bold.

CSV is long: one line per (task, configuration, plan, paper cell) — a plan without a
paper cell has one line with the paper columns empty, a paper cell whose plan was not run
a line with the statistics empty and the verdict ``not run``. JSON writes ``null`` for
any number that is missing or not finite (strict JSON has no NaN or Infinity).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from optbench.errors import BadInput
from optbench.report import cells
from optbench.report import paper as paper_values
from optbench.report.compare import (
    COLUMNS,
    EMPTY,
    FORMATS,
    PAPER_COLUMNS,
    PAPER_HEADERS,
    Report,
    Section,
    build_report,
    footnotes,
    not_run_lines,
    paper_caption,
    paper_texts,
    ranked_texts,
    report_notes,
    section_checks,
)
from optbench.report.metrics import Metric
from optbench.report.paper import NO_PAPER, Paper, PaperCell, PaperCheck
from optbench.report.stats import ALPHA, COUNTED

TEST = "Welch's t-test (two-sided) against the best plan, Holm-corrected"


def export_compare(
    rows: Sequence[dict],
    fmt: str,
    metric: str | Metric = "final",
    epochs: Sequence[dict] | None = None,
    alpha: float = ALPHA,
    paper: Paper = NO_PAPER,
    task: str | None = None,
) -> str:
    """The compare report of stored run rows as Markdown, LaTeX, CSV or JSON text."""
    if fmt not in WRITERS:
        raise BadInput(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    return WRITERS[fmt](build_report(rows, metric, epochs, alpha, paper, task))


# -- Markdown -------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\|*_`<>])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_row(values: Sequence[str]) -> str:
    return "| " + " | ".join(values) + " |"


_MD_ALIGN = {"rank": "---:", "plan": ":---", "ci": "---:", "seeds": ":---", "vs_best": ":---"}


def to_markdown(report: Report) -> str:
    if report.empty:
        return f"_{EMPTY}_\n"
    metric = report.metric
    head = cells.header(metric)
    lines: list[str] = []
    for task in report.tasks:
        for section in report.sections_of(task):
            rows = ranked_texts(section, metric)
            lines += [f"## {_md(task)}: {metric.title} over seeds", ""]
            lines += [f"Configuration: {_md(section.config)}.", ""]
            lines.append(_md_row([_md(getattr(head, k)) for k in COLUMNS]))
            lines.append(_md_row([_MD_ALIGN.get(k, "---:") for k in COLUMNS]))
            for row, _, text in rows:
                shown = [_md(text[k]) for k in COLUMNS]
                if cells.highlighted(row):
                    shown[1], shown[2] = f"**{shown[1]}**", f"**{shown[2]}**"
                lines.append(_md_row(shown))
            lines += ["", f"_{_md(cells.caption(metric, report.alpha))}._", ""]
            notes = [(row, note) for row, _, _ in rows if (note := cells.stage_note(row))]
            lines += [f"- {_md(row.label)}: {note}" for row, note in notes]
            if notes:
                lines.append("")
            lines += _md_paper(report, section)
            for row, num, _ in rows:
                lines += _md_schedule(row, num)
        if not_run := not_run_lines(report, task):
            lines += [f"- {_md(line)}" for line in not_run] + [""]
    notes = report_notes(report)
    lines += [f"_{_md(line)}_" for line in notes] + ([""] if notes else [])
    return "\n".join(lines)


def _md_paper(report: Report, section: Section) -> list[str]:
    checks = section_checks(report, section)
    if not checks:
        return []
    notes = footnotes(checks)
    lines = [f"**{_md(section.task)}: the paper's values**", ""]
    lines.append(_md_row([_md(PAPER_HEADERS[k]) for k in PAPER_COLUMNS]))
    lines.append(_md_row([":---", ":---", "---:", "---:", "---:", ":---", ":---"]))
    for check in checks:
        mark = f" [{notes[check.cell.note]}]" if check.cell.note else ""
        text = paper_texts(check, report.metric, mark)
        lines.append(_md_row([_md(text[k]) for k in PAPER_COLUMNS]))
    lines += ["", f"_{_md(paper_caption(report))}_", ""]
    lines += [f"{_md(f'[{i}]')} {_md(note)}  " for note, i in notes.items()]
    return [*lines, ""] if notes else lines


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
    return num["verdict"] if num["rank"] is None else f"#{num['rank']}"


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
    "−": "$-$",
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


def _label(*parts: str) -> str:
    return "tab:optbench-" + re.sub(r"[^A-Za-z0-9]+", "-", "-".join(parts)).strip("-")


def to_latex(report: Report) -> str:
    lines = ["% optbench compare: needs \\usepackage{booktabs}"]
    if report.empty:
        return "\n".join([*lines, f"% {EMPTY}", ""])
    metric = report.metric
    head = cells.header(metric)
    columns = [tex(getattr(head, k)) for k in COLUMNS]
    columns[COLUMNS.index("n")] = "$n$"
    for task in report.tasks:
        sections = report.sections_of(task)
        for k, section in enumerate(sections):
            key = (task, str(k + 1)) if len(sections) > 1 else (task,)
            rows = ranked_texts(section, metric)
            lines += [
                r"\begin{table}[htbp]",
                r"\centering",
                rf"\caption{{{tex(task)}: {tex(metric.title)} over seeds; configuration: "
                rf"{tex(section.config)}. Bold: the best plan and the plans tied with it; "
                rf"{tex(cells.caption(metric, report.alpha))}.}}",
                rf"\label{{{_label(*key)}}}",
                r"\begin{tabular}{rlrrrlrrrrl}",
                r"\toprule",
                " & ".join(columns) + r" \\",
                r"\midrule",
            ]
            for row, num, text in rows:
                bold = cells.highlighted(row)
                shown = [tex(text[c]) for c in COLUMNS]
                shown[1] = rf"\textbf{{{shown[1]}}}" if bold else shown[1]
                shown[2] = _tex_mean(num, metric, bold)
                lines.append(" & ".join(shown) + r" \\")
            lines += [r"\bottomrule", r"\end{tabular}"]
            for row, _, _ in rows:
                if note := cells.stage_note(row):
                    lines.append(rf"\par\smallskip{{\footnotesize {tex(row.label)}: {tex(note)}}}")
            lines += [r"\end{table}", ""]
            lines += _tex_paper(report, section, key)
            lines += _tex_schedules(task, rows, key)
        for line in not_run_lines(report, task):
            lines.append(f"% {tex(line)}")
    lines += [f"% {tex(line)}" for line in report_notes(report)]
    return "\n".join(lines) + ("\n" if lines[-1] else "")


def _tex_paper(report: Report, section: Section, key: tuple[str, ...]) -> list[str]:
    checks = section_checks(report, section)
    if not checks:
        return []
    notes = footnotes(checks)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{tex(section.task)}: {tex(_lower_first(paper_caption(report)))}}}",
        rf"\label{{{_label(*key, 'paper')}}}",
        r"\begin{tabular}{llrrrll}",
        r"\toprule",
        " & ".join(tex(PAPER_HEADERS[k]) for k in PAPER_COLUMNS) + r" \\",
        r"\midrule",
    ]
    for check in checks:
        mark = rf"$^{{{notes[check.cell.note]}}}$" if check.cell.note else ""
        text = {k: tex(v) for k, v in paper_texts(check, report.metric).items()}
        text["what"] += mark
        lines.append(" & ".join(text[k] for k in PAPER_COLUMNS) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    for note, i in notes.items():
        lines.append(rf"\par\smallskip{{\footnotesize $^{{{i}}}$ {tex(note)}}}")
    return [*lines, r"\end{table}", ""]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _tex_schedules(task: str, rows, key: tuple[str, ...]) -> list[str]:
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{tex(task)}: the plans' schedules (Y/N tables: rows are methods, columns "
        r"are stages).}",
        rf"\label{{{_label(*key, 'schedules')}}}",
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


CSV_COLUMNS = [
    "task",
    "config",
    "config_hash",
    "metric",
    "rank",
    "plan",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "n",
    *COUNTED,
    "EXTREME",  # max or min, by the metric
    "val_loss",
    "ms_per_batch",
    "s_per_epoch",
    "verdict",
    "p_vs_best",
    "stage_starts",
    "schedule",
    "plan_stored",
    "paper_metric",
    "paper_stat",
    "paper_value",
    "paper_std",
    "paper_ours",
    "paper_diff",
    "paper_verdict",
    "paper_reason",
    "paper_note",
    "paper_source",
]


def _csv_paper(check: PaperCheck | None, metric: Metric) -> dict[str, str]:
    if check is None:
        return {}
    d = metric.decimals
    cell = check.cell
    return {
        "paper_metric": cell.metric,
        "paper_stat": cell.stat,
        "paper_value": _csv_number(check.paper, d),
        "paper_std": _csv_number(check.paper_std, d),
        "paper_ours": _csv_number(check.ours, d),
        "paper_diff": _csv_number(check.diff, d),
        "paper_verdict": check.verdict,
        "paper_reason": check.reason,
        "paper_note": cell.note or "",
        "paper_source": cell.source or "",
    }


def to_csv(report: Report) -> str:
    """Lines as the module docstring says; numbers as the table prints them, empty where
    none."""
    metric = report.metric
    d = metric.decimals
    header = [metric.extreme if c == "EXTREME" else c for c in CSV_COLUMNS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, header, lineterminator="\n", restval="")
    writer.writeheader()
    for task in report.tasks:
        for section in report.sections_of(task):
            for row, num, _ in ranked_texts(section, metric):
                starts = "; ".join(
                    f"{' '.join(str(e) for e in s['epochs'])} x{s['runs']}"
                    for s in cells.stage_starts_json(row)
                )
                line = {
                    "task": task,
                    "config": section.config,
                    "config_hash": section.config_hash,
                    "metric": metric.name,
                    "rank": "" if num["rank"] is None else num["rank"],
                    "plan": row.label,
                    "mean": _csv_number(num["mean"], d),
                    "std": _csv_number(num["std"], d),
                    "ci_low": _csv_number(num["ci_low"], d),
                    "ci_high": _csv_number(num["ci_high"], d),
                    "n": num["n"],
                    **num["seeds"],
                    metric.extreme: _csv_number(num["extreme"], d),
                    "val_loss": _csv_number(num["val_loss"], cells.LOSS_DECIMALS),
                    "ms_per_batch": _csv_number(num["ms_per_batch"], cells.TIME_DECIMALS),
                    "s_per_epoch": _csv_number(num["s_per_epoch"], cells.TIME_DECIMALS),
                    "verdict": num["verdict"],
                    "p_vs_best": "" if num["p_vs_best"] is None else f"{num['p_vs_best']:g}",
                    "stage_starts": starts,
                    "schedule": cells.schedule_text(row.plan),
                    "plan_stored": row.plan,
                }
                for check in report.checks_of(row) or [None]:
                    writer.writerow(line | _csv_paper(check, metric))
        for cell in report.not_run.get(task, []):
            value, std = paper_values.in_units(cell, metric) or (cell.value, cell.std)
            writer.writerow(
                {
                    "task": task,
                    "metric": metric.name,
                    "plan": cell.name,
                    "verdict": "not run",
                    "plan_stored": cell.plan,
                    **dict.fromkeys(COUNTED, 0),
                    "n": 0,
                    "paper_metric": cell.metric,
                    "paper_stat": cell.stat,
                    "paper_value": _csv_number(value, d),
                    "paper_std": _csv_number(std, d),
                    "paper_verdict": "not run",
                    "paper_note": cell.note or "",
                    "paper_source": cell.source or "",
                }
            )
    return buffer.getvalue()


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_paper(check: PaperCheck, metric: Metric) -> dict[str, Any]:
    """A paper cell judged, its numbers rounded as the tables show them (the paper's own
    numbers as stated under ``stated``)."""
    cell = check.cell

    def rounded(x: float | None) -> float | None:
        return None if x is None else round(x, metric.decimals)

    return {
        "metric": cell.metric,
        "stat": cell.stat,
        "value": rounded(check.paper),
        "std": rounded(check.paper_std),
        "stated": {"value": cell.value, "std": cell.std, "metric": cell.metric},
        "ours": rounded(check.ours),
        "diff": rounded(check.diff),
        "range": None if check.low is None else [rounded(check.low), rounded(check.high)],
        "verdict": check.verdict,
        "reason": check.reason,
        "note": cell.note,
        "source": cell.source,
    }


def _json_cell(cell: PaperCell) -> dict[str, Any]:
    return {
        "task": cell.task,
        "plan": cell.name,
        "plan_stored": cell.plan,
        "metric": cell.metric,
        "stat": cell.stat,
        "value": cell.value,
        "std": cell.std,
        "note": cell.note,
        "source": cell.source,
    }


def to_json(report: Report) -> str:
    metric = report.metric
    tables = []
    for task in report.tasks:
        for section in report.sections_of(task):
            plans = []
            for row, num, _ in ranked_texts(section, metric):
                entry = {"rank": num["rank"], "plan": row.label, "plan_stored": row.plan}
                entry |= {k: num[k] for k in ("mean", "std", "ci_low", "ci_high", "n")}
                entry["seeds"] = num["seeds"]
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
                entry["paper"] = [_json_paper(c, metric) for c in report.checks_of(row)]
                plans.append(entry)
            tables.append(
                {
                    "task": task,
                    "config": section.config,
                    "config_hash": section.config_hash,
                    "plans": plans,
                }
            )
    not_run = [_json_cell(c) for task in report.tasks for c in report.not_run.get(task, [])]
    document = {
        "metric": {
            "name": metric.name,
            "title": metric.title,
            "higher_is_better": metric.higher_is_better,
        },
        "alpha": report.alpha,
        "test": TEST,
        "tables": tables,
        "paper": {
            "source": report.paper.source,
            "note": report.paper.note,
            "not_run": not_run,
            "other_metrics": report.other_metrics,
            "unreadable": list(report.paper.unreadable),
        },
    }
    if report.empty:
        document["message"] = EMPTY
    text = json.dumps(_finite(document), indent=2, ensure_ascii=False, allow_nan=False)
    return text + "\n"


WRITERS = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv, "json": to_json}
