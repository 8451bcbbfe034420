"""Plan files: the YAML that names an experiment and the plans to train.

::

    experiment: ms-two-timepieces      # required
    tasks: [resnet20-cifar10]          # required: a list of task names, or one name
    epochs: 160                        # default 10
    batch_size: 128                    # default 32
    seeds: 5                           # default 1
    defaults:                          # per-method default arguments
      SGD: {lr: 0.1}
      plateau: {patience: 5}
    plans:                             # required, at least one plan expression
      - SGD | (SGD+M+d)
      - (SGD(lr=0.1)+M):80 | (SGD(lr=0.01)+M):40
    stack: false                       # train seeds one at a time (default true)
    paper:                             # the paper's reported values, for compare
      source: "[MS] Table 8"
      note: "optional free text"
      cells:
        - {task: cifar10-resnet20, plan: "SGD | (SGD+M+d)", metric: final, value: 0.91}
        - {task: cifar10-resnet20, plan: "SGD | (SGD+M+d)", metric: error, value: 9.0,
           std: 0.2, note: "optional, per cell"}
        - {task: ..., plan: ..., metric: last10, stat: max, value: 0.93, trials: 10}

A ``paper`` cell names a task of the file and a plan as the file's ``plans`` list writes
it; ``metric`` is a name of ``optbench compare --metric`` (checked by the runner, which
knows the metrics), ``stat`` is ``mean`` (default) or ``max`` (the best seed), values are
in the metric's units; ``std`` (the paper's ± over seeds) and ``trials`` (its number of
trials) are optional. ``PlanFile.paper`` keeps the cells with each plan's stored text
(``plan``), its written text (``name``) and the cell's line (``line``). ``rounding`` (in
the block, or per cell) is half a unit of the last digit the paper prints, in the cell's
units — a table of percentages with two decimals, written as accuracies, has rounding
0.00005 — since a printed value stands for every value that rounds to it (default 0).

Every error is a ``PlanFileError`` naming the file, the line and the key; a bad plan
expression adds the expression with a caret under the fault. The file is read with
``yaml.compose`` so every value keeps its line. Task names are checked against the task
catalogue, method arguments against the method catalogue's ranges, and every plan
against the file's ``epochs`` (``stage_epochs``); ``PlanFile.check_epochs`` does the same
for an ``--epochs`` given on the command line. Sizes are bounded (``LIMITS``, nesting
``MAX_DEPTH``, numbers of at most 64 characters), so that no file makes optbench hang.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from optbench.errors import BadInput, PlanFileError, closest, did_you_mean, quoted
from optbench.plan.canonical import (
    check_default,
    check_defaults,
    check_relations,
    format_plan,
    method_specs,
    resolve,
    unknown_argument,
)
from optbench.plan.model import MAX_EPOCHS, Plan, Value
from optbench.plan.parser import MAX_NUMBER_CHARS, parse_plan
from optbench.plan.timeline import stage_epochs

KEYS = (
    "experiment", "tasks", "epochs", "batch_size", "seeds", "defaults", "plans", "stack", "paper",
)  # fmt: skip
CELL_KEYS = ("task", "plan", "metric", "stat", "value", "std", "trials", "note", "rounding")
REQUIRED = ("experiment", "tasks", "plans")
# The whole numbers a file (or the command line, which overrides it) may give: far more
# than any experiment of the papers, far less than what would take a day to list.
LIMITS = MappingProxyType({"epochs": MAX_EPOCHS, "batch_size": 10_000_000, "seeds": 10_000})
MAX_DEPTH = 20  # YAML nesting; a plan file needs 3
# YAML 1.1 reads 1e-6 (no dot) as a string; a plan would read it as a number.
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NUMERIC_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_STR = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class PlanFile:
    experiment: str
    tasks: tuple[str, ...]
    epochs: int
    batch_size: int
    seeds: int
    defaults: Mapping[str, Mapping[str, Value]]  # method -> argument -> value, checked
    # Parsed, not resolved (``resolve(plan, defaults)`` for that); ``plan.label`` is the
    # plan as the file writes it, ``plan.source`` exactly as written.
    plans: tuple[Plan, ...]
    path: Path
    lines: tuple[int, ...] = ()  # the line of each plan in the file
    stack: bool = True  # whether seeds may train stacked in one pass
    # The paper's reported values: {"source", "note", "cells": [{task, plan (stored text),
    # name (as written), metric, stat, value, std?, trials?, note?, line}]}, or None.
    paper: Mapping[str, object] | None = None

    def check_epochs(self, epochs: int) -> None:
        """``PlanFileError`` naming the file and the plan's line when a plan cannot be
        trained for ``epochs`` epochs (``--epochs``): the limits, and ``stage_epochs``'s
        rules (a plan whose every stage has a length trains for their sum only)."""
        if not 1 <= epochs <= LIMITS["epochs"]:
            raise PlanFileError(
                str(self.path), f"--epochs must be in [1, {LIMITS['epochs']:,}], not {epochs:,}"
            )
        for plan, line in zip(self.plans, self.lines or (None,) * len(self.plans), strict=True):
            try:
                stage_epochs(resolve(plan, self.defaults), epochs)
            except BadInput as error:
                raise PlanFileError(
                    str(self.path), f"{plan.label}: {error}", key="plans", line=line
                ) from None


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to nest deeper than ``MAX_DEPTH`` (composing nodes
    recurses, so a file of 1,000 '[' would end in a RecursionError)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _TooDeep(mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def load_plan_file(path: str | Path, tasks: Iterable[str] | None = None) -> PlanFile:
    """Read and check a plan file; ``PlanFileError`` (file, line, key) if anything is wrong.

    ``tasks`` are the task names the file may use (``optbench tasks``'s catalogue by
    default); an unknown one is an error at its line, with the closest names.
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(name, "no such file") from None
    except UnicodeDecodeError:
        raise PlanFileError(name, "not a UTF-8 text file") from None
    except OSError as error:
        raise PlanFileError(name, f"cannot read the file: {error.strerror}") from None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except _TooDeep as error:
        message = f"invalid YAML: nested more than {MAX_DEPTH} levels deep"
        raise PlanFileError(name, message, line=error.line) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = error.problem or error.context or "cannot be read"
        raise PlanFileError(name, f"invalid YAML: {problem}", line=line) from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow
        line = text.count("\n", 0, error.position) + 1
        message = f"invalid YAML: character #x{error.character:04x} is not allowed in YAML"
        raise PlanFileError(name, message, line=line) from None
    except yaml.YAMLError as error:
        raise PlanFileError(name, f"invalid YAML: {' '.join(str(error).split())}") from None
    if tasks is None:
        from optbench.tasks.registry import TASKS

        tasks = TASKS
    return _Reader(name, tuple(tasks)).plan_file(root, path)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _describe(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    if node.tag == _STR:
        return quoted(node.value)
    return node.value if len(node.value) <= 40 else quoted(node.value)


class _Reader:
    """Turns YAML nodes into checked values, raising ``PlanFileError`` at the node's line."""

    def __init__(self, path: str, known_tasks: tuple[str, ...]) -> None:
        self.path = path
        self.known_tasks = known_tasks
        self.constructor = SafeConstructor()

    def fail(self, message: str, node: Node, key: str | None) -> PlanFileError:
        return PlanFileError(self.path, message, key=key, line=_line(node))

    def mapping(self, node: Node, key: str | None, what: str) -> dict[str, tuple[Node, Node]]:
        """The entries of a mapping node by key text: ``{text: (key node, value node)}``."""
        if not isinstance(node, MappingNode):
            raise self.fail(f"expected {what}, got {_describe(node)}", node, key)
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                raise self.fail(f"expected a name as key, got {_describe(key_node)}", key_node, key)
            text = key_node.value
            if text in entries:
                first = _line(entries[text][0])
                where = text if key is None else f"{key}.{text}"
                raise self.fail(f"given twice (first on line {first})", key_node, where)
            entries[text] = (key_node, value_node)
        return entries

    def scalar(self, node: Node, key: str | None = None) -> Value | None:
        if not isinstance(node, ScalarNode):
            return None
        plain = node.tag == _STR and node.style is None
        numeric = node.tag in _NUMERIC_TAGS or (plain and _NUMBER.fullmatch(node.value))
        if numeric and len(node.value) > MAX_NUMBER_CHARS:
            message = (
                f"this number has {len(node.value):,} characters; a plan file's numbers have "
                f"at most {MAX_NUMBER_CHARS}"
            )
            raise self.fail(message, node, key)
        if plain and _NUMBER.fullmatch(node.value):
            text = node.value
            return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        try:
            return self.constructor.construct_object(node)
        except (ValueError, yaml.YAMLError):  # an explicit tag: !!int x, !foo, !!python/...
            raise self.fail(f"cannot read {_describe(node)} tagged {node.tag}", node, key) from None

    def text(self, node: Node, key: str) -> str:
        value = self.scalar(node)
        if not isinstance(value, str) or node.tag != _STR or not value.strip():
            raise self.fail(f"expected a text, got {_describe(node)}", node, key)
        return value

    def count(self, node: Node, key: str) -> int:
        value = self.scalar(node, key)
        if type(value) is not int or value < 1:
            raise self.fail(
                f"expected a whole number of at least 1, got {_describe(node)}", node, key
            )
        if value > LIMITS[key]:
            raise self.fail(f"at most {LIMITS[key]:,}, got {_describe(node)}", node, key)
        return value

    def tasks(self, node: Node) -> tuple[str, ...]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            raise self.fail("expected at least one task", node, "tasks")
        tasks: list[str] = []
        for item in items:
            if not isinstance(item, ScalarNode) or item.tag != _STR:
                raise self.fail(
                    f"expected a task name or a list of them, got {_describe(item)}", item, "tasks"
                )
            if item.value in tasks:
                raise self.fail(f"task {quoted(item.value)} is listed twice", item, "tasks")
            if item.value not in self.known_tasks:
                hint = did_you_mean(item.value, self.known_tasks)
                message = f"unknown task {quoted(item.value)}{hint} (see 'optbench tasks')"
                raise self.fail(message, item, "tasks")
            tasks.append(item.value)
        return tuple(tasks)

    def defaults(self, node: Node) -> dict[str, dict[str, Value]]:
        table: dict[str, dict[str, Value]] = {}
        what = "a mapping of method names to their arguments"
        for name, (name_node, args_node) in self.mapping(node, "defaults", what).items():
            try:
                specs = method_specs(name)
            except BadInput as error:
                raise self.fail(str(error), name_node, "defaults") from None
            canonical, where = specs[0].name, f"defaults.{name}"
            if isinstance(args_node, ScalarNode) and args_node.tag == "tag:yaml.org,2002:null":
                continue
            args = self.mapping(args_node, where, f"a mapping of {canonical}'s arguments")
            for arg, (arg_node, value_node) in args.items():
                if not any(arg in spec.defaults for spec in specs):
                    raise self.fail(unknown_argument(specs[0], arg, *specs[1:]), arg_node, where)
                value = self.scalar(value_node, where)
                if value is None:
                    message = f"argument {arg!r} of {canonical} takes a value, got "
                    raise self.fail(message + _describe(value_node), value_node, where)
                try:
                    value = check_default(name, arg, value, shown=_describe(value_node))
                except BadInput as error:
                    raise self.fail(str(error), value_node, where) from None
                table.setdefault(canonical, {})[arg] = value
            given = table.get(canonical, {})
            try:
                for spec in specs:
                    check_relations(spec, {k: v for k, v in given.items() if k in spec.defaults})
            except BadInput as error:
                raise self.fail(str(error), args_node, where) from None
        return check_defaults(table)

    def plans(
        self, node: Node, defaults: Mapping[str, Mapping[str, Value]], epochs: int
    ) -> tuple[tuple[Plan, ...], tuple[int, ...]]:
        """The plan expressions, parsed, each resolved with ``defaults`` and laid over
        ``epochs`` to check it, and the line of each."""
        if not isinstance(node, SequenceNode):
            raise self.fail(
                f"expected a list of plan expressions, got {_describe(node)}", node, "plans"
            )
        if not node.value:
            raise self.fail("expected at least one plan expression", node, "plans")
        plans: list[Plan] = []
        seen: dict[Plan, int] = {}
        for item in node.value:
            if not isinstance(item, ScalarNode) or item.tag != _STR:
                hint = "; quote it if it contains ': '" if isinstance(item, MappingNode) else ""
                raise self.fail(
                    f"expected a plan expression, got {_describe(item)}{hint}", item, "plans"
                )
            try:
                plan = parse_plan(item.value)
                identity = resolve(plan, defaults)
            except BadInput as error:
                raise self.fail(str(error), item, "plans") from None
            try:
                stage_epochs(identity, epochs)
            except BadInput as error:
                raise self.fail(f"{plan.label}: {error}", item, "plans") from None
            if identity in seen:
                raise self.fail(
                    f"the same plan as on line {seen[identity]}: {format_plan(identity)}",
                    item,
                    "plans",
                )
            seen[identity] = _line(item)
            plans.append(plan)
        return tuple(plans), tuple(seen.values())

    def plan_file(self, root: Node | None, path: Path) -> PlanFile:
        if root is None:
            raise PlanFileError(
                self.path, f"the file is empty; it needs the keys {', '.join(REQUIRED)}"
            )
        entries = self.mapping(root, None, f"a mapping with the keys {', '.join(REQUIRED)}")
        for key, (key_node, _) in entries.items():
            if key not in KEYS:
                close = closest(key, KEYS, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(
                    f"unknown key; {hint}(valid keys: {', '.join(KEYS)})", key_node, key
                )
        for key in REQUIRED:
            if key not in entries:
                raise self.fail("this required key is missing", root, key)

        def value(key: str) -> Node | None:
            return entries[key][1] if key in entries else None

        defaults = self.defaults(value("defaults")) if "defaults" in entries else {}
        epochs = self.count(value("epochs"), "epochs") if "epochs" in entries else 10
        plans, lines = self.plans(value("plans"), defaults, epochs)
        tasks = self.tasks(value("tasks"))
        paper = self.paper(value("paper"), plans, defaults, tasks) if "paper" in entries else None
        return PlanFile(
            experiment=self.name(value("experiment"), "experiment"),
            tasks=tasks,
            epochs=epochs,
            batch_size=self.count(value("batch_size"), "batch_size")
            if "batch_size" in entries
            else 32,
            seeds=self.count(value("seeds"), "seeds") if "seeds" in entries else 1,
            defaults=MappingProxyType({k: MappingProxyType(v) for k, v in defaults.items()}),
            plans=plans,
            path=path,
            lines=lines,
            stack=self.flag(value("stack"), "stack") if "stack" in entries else True,
            paper=paper,
        )

    def name(self, node: Node, key: str) -> str:
        """A text a database column of 255 characters holds (an experiment's name)."""
        text = self.text(node, key)
        if len(text) > 255:
            raise self.fail(f"at most 255 characters, got {len(text):,}", node, key)
        return text

    def flag(self, node: Node, key: str) -> bool:
        value = self.scalar(node, key)
        if not isinstance(value, bool):
            raise self.fail(f"expected true or false, got {_describe(node)}", node, key)
        return value

    def paper(
        self,
        node: Node,
        plans: tuple[Plan, ...],
        defaults: Mapping[str, Mapping[str, Value]],
        tasks: tuple[str, ...],
    ) -> dict[str, object]:
        """The ``paper`` block: its source, note and cells, each cell's plan matched to a
        plan of the file (as written, or the same plan written otherwise) and stored with
        the plan's canonical resolved text."""
        entries = self.mapping(node, "paper", "a mapping with source, note and cells")
        for key, (key_node, _) in entries.items():
            if key not in ("source", "note", "rounding", "cells"):
                message = f"unknown key {quoted(key)} (valid: source, note, rounding, cells)"
                raise self.fail(message, key_node, "paper")
        if "cells" not in entries:
            raise self.fail("the paper's values need 'cells': a list of cells", node, "paper")
        block: dict[str, object] = {
            k: self.text(entries[k][1], f"paper.{k}") for k in ("source", "note") if k in entries
        }
        rounding = 0.0
        if "rounding" in entries:
            rounding = self.scalar(entries["rounding"][1], "paper.rounding")
            bad = isinstance(rounding, bool) or not isinstance(rounding, int | float)
            if bad or not math.isfinite(rounding) or rounding < 0:
                node_ = entries["rounding"][1]
                message = f"expected a number >= 0, got {_describe(node_)}"
                raise self.fail(message, node_, "paper.rounding")
        cells_node = entries["cells"][1]
        if not isinstance(cells_node, SequenceNode):
            message = f"expected a list of cells, got {_describe(cells_node)}"
            raise self.fail(message, cells_node, "paper.cells")
        if not cells_node.value:
            raise self.fail("expected at least one cell, got none", cells_node, "paper.cells")
        by_label = {" ".join(p.label.split()): p for p in plans}
        by_identity = {resolve(p, defaults): p for p in plans}
        cells = []
        for item in cells_node.value:
            raw = self.mapping(
                item, "paper.cells", "a cell: a mapping of task, plan, metric, value"
            )
            for key, (key_node, _) in raw.items():
                if key not in CELL_KEYS:
                    message = f"unknown key {quoted(key)} of a cell (valid: {', '.join(CELL_KEYS)})"
                    raise self.fail(message, key_node, "paper.cells")
            for key in ("task", "plan", "metric", "value"):
                if key not in raw:
                    raise self.fail(f"a cell needs {key!r}", item, "paper.cells")
            cell: dict[str, object] = {"line": _line(item)}
            for key, (_, value_node) in raw.items():
                if not isinstance(value_node, ScalarNode):
                    message = f"{key} must be one value, got {_describe(value_node)}"
                    raise self.fail(message, value_node, "paper.cells")
                if key == "note":  # free text as written, whatever YAML would make of it
                    cell[key] = value_node.value
                    continue
                cell[key] = self.scalar(value_node, "paper.cells")
            task, written = cell["task"], cell["plan"]
            if task not in tasks:
                message = (
                    f"task {quoted(str(task))} is not among the file's tasks ({', '.join(tasks)})"
                )
                raise self.fail(message, raw["task"][1], "paper.cells")
            plan = (
                by_label.get(" ".join(str(written).split())) if isinstance(written, str) else None
            )
            if plan is None and isinstance(written, str):
                try:
                    plan = by_identity.get(resolve(parse_plan(written), defaults))
                except BadInput:
                    plan = None
            if plan is None:
                message = f"plan {quoted(str(written))} is not one of the file's plans"
                raise self.fail(message, raw["plan"][1], "paper.cells")
            for key in ("value", "std", "rounding"):
                value = cell.get(key)
                if key not in cell:
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float):
                    message = f"{key} must be a number, got {_describe(raw[key][1])}"
                    raise self.fail(message, raw[key][1], "paper.cells")
                if not math.isfinite(value) or (key != "value" and value < 0):
                    want = "a finite number" if key == "value" else "a finite number >= 0"
                    message = f"{key} must be {want}, got {_describe(raw[key][1])}"
                    raise self.fail(message, raw[key][1], "paper.cells")
            stat = cell.setdefault("stat", "mean")
            if stat not in ("mean", "max"):
                raise self.fail(f"stat must be mean or max, got {stat!r}", item, "paper.cells")
            trials = cell.get("trials")
            if "trials" in cell and (type(trials) is not int or not 1 <= trials <= LIMITS["seeds"]):
                message = (
                    f"trials must be a whole number from 1 to {LIMITS['seeds']:,}, got {trials!r}"
                )
                raise self.fail(message, item, "paper.cells")
            if "trials" in cell and stat != "max":
                message = "trials belongs to a stat: max cell (the trials behind the paper's best)"
                raise self.fail(message, raw["trials"][0], "paper.cells")
            for key in ("value", "std", "rounding"):
                if cell.get(key) == 0:
                    cell[key] = 0.0  # not -0.0: no "-0.0000" beside ours
            cell["plan"] = format_plan(resolve(plan, defaults))
            cell["name"] = plan.label
            cell["rounding"] = cell.get("rounding", rounding)
            cells.append(cell)
        block["cells"] = cells
        return block
