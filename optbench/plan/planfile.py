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

Every error is a ``PlanFileError`` naming the file, the line and the key; a bad plan
expression adds the expression with a caret under the fault. The file is read with
``yaml.compose`` so every value keeps its line. Task names are checked against the task
catalogue, method arguments against the method catalogue's ranges, and every plan
against the file's ``epochs`` (``stage_epochs``); ``PlanFile.check_epochs`` does the same
for an ``--epochs`` given on the command line. Sizes are bounded (``LIMITS``, nesting
``MAX_DEPTH``, numbers of at most 64 characters), so that no file makes optbench hang.
"""

from __future__ import annotations

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

KEYS = ("experiment", "tasks", "epochs", "batch_size", "seeds", "defaults", "plans")
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
        return self.constructor.construct_object(node)

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
        return PlanFile(
            experiment=self.text(value("experiment"), "experiment"),
            tasks=self.tasks(value("tasks")),
            epochs=epochs,
            batch_size=self.count(value("batch_size"), "batch_size")
            if "batch_size" in entries
            else 32,
            seeds=self.count(value("seeds"), "seeds") if "seeds" in entries else 1,
            defaults=MappingProxyType({k: MappingProxyType(v) for k, v in defaults.items()}),
            plans=plans,
            path=path,
            lines=lines,
        )
