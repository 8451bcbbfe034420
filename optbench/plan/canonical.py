"""The canonical form of a plan, and filling in its hyperparameters.

One plan has one canonical text (SPEC §2): ``format_plan(parse_plan(t))`` is the same for
every way of writing ``t``, and ``parse_plan(format_plan(p)) == p``. ``resolve`` fills every
call's arguments in, and ``format_plan(resolve(p, defaults))`` is the text that identifies
the plan in the results database.

The canonical text:

- stages joined by ``" | "``; a stage with more than one call is wrapped in parentheses;
- calls joined by ``+`` with no spaces, in ``canonical_rank`` order (GE methods, GE
  options, modifiers, LR methods, each in catalogue order); GE methods on parameter groups
  are ordered by their selector text;
- arguments ``name=value`` joined by ``", "`` in the order of the method's ``defaults``;
  floats as ``repr`` (``0.1``, ``1e-06``; an int given for a float is printed as a float),
  ints plain, booleans ``true``/``false``, strings in double quotes unless a plain name;
- then the length (``:80`` or ``:25%``), then the end condition (``:plateau(patience=3)``).

This module also holds what the parser and the plan file share about the catalogue:
aliases, argument checks and the canonical orders. An argument is checked three times
over, each check as soon as what it needs is known: its type and range (``check_value``)
where it is written, the relations among the arguments written together
(``check_relations``), and, once ``resolve`` has filled every argument in, the relations
among all of them and with the stage's base LR (``check_plan``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from types import MappingProxyType

from optbench.errors import BadInput, PlanSyntaxError, closest, did_you_mean, quoted
from optbench.methods.registry import (
    REGISTRY,
    STAGE_ENDS,
    Format,
    Kind,
    MethodSpec,
    Range,
    canonical_rank,
)
from optbench.plan.model import Call, Length, Plan, Stage, Value

# Paper spellings [ANN] accepted on input and never printed, besides each catalogue
# entry's own ``aliases``. An alias applies only while it is not itself a catalogue name
# and its target is one (``sig`` was added to the catalogue after this table).
NAME_ALIASES: Mapping[str, str] = MappingProxyType({"str": "step"})
# ``sig+`` = ``warmup+sig``, ``str+`` = ``warmup+step``: a trailing '+' adds the warm-up.
PLUS_ALIASES: Mapping[str, str] = MappingProxyType({"sig": "warmup", "str": "warmup"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NO_DEFAULTS: Mapping[str, Mapping[str, Value]] = MappingProxyType({})
_CATALOGUE_ALIASES = {
    alias: spec.name
    for catalogue in (REGISTRY, STAGE_ENDS)
    for spec in catalogue.values()
    for alias in getattr(spec, "aliases", ())
}


def alias_target(name: str) -> str | None:
    """The catalogue name an alias stands for, or ``None`` when ``name`` is not an alias."""
    if name in REGISTRY or name in STAGE_ENDS:
        return None
    target = NAME_ALIASES.get(name) or _CATALOGUE_ALIASES.get(name)
    return target if target in REGISTRY or target in STAGE_ENDS else None


def plus_alias(written: str) -> str | None:
    """The method a trailing '+' after the written name ``written`` adds (``sig+``), or None."""
    extra = PLUS_ALIASES.get(written)
    target = written if written in REGISTRY else alias_target(written)
    if extra not in REGISTRY or target not in REGISTRY:
        return None
    return extra


def method_specs(name: str) -> tuple[MethodSpec, ...]:
    """The catalogue entries a plan file's ``defaults`` may mean by ``name`` (aliases
    allowed): a method, an end condition, or both (``plateau``). ``BadInput`` listing the
    closest names when there is none."""
    name = alias_target(name) or name
    specs = tuple(s for s in (REGISTRY.get(name), STAGE_ENDS.get(name)) if s is not None)
    if not specs:
        known = [*REGISTRY, *STAGE_ENDS]
        raise BadInput(f"unknown method {quoted(name)}{did_you_mean(name, known)}")
    return specs


def check_default(name: str, key: str, value: Value, *, shown: str | None = None) -> Value:
    """One default argument ``key`` for the method or end condition ``name``, coerced as
    the entries that take it want (see ``coerce_value``); ``BadInput`` if it is wrong."""
    specs = method_specs(name)
    taking = [s for s in specs if key in s.defaults]
    if not taking:
        raise BadInput(unknown_argument(specs[0], key, *specs[1:]))
    for spec in taking:
        value = coerce_value(spec, key, value, shown=shown)
    return value


def unknown_argument(spec: MethodSpec, key: str, *others: MethodSpec) -> str:
    """The message for an argument ``key`` that ``spec`` does not take (nor ``others``, the
    end condition of the same name)."""
    valid = [*spec.defaults, *(k for o in others for k in o.defaults)]
    close = closest(key, valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    takes = ", ".join(spec.defaults) or "no arguments"
    for other in others:
        takes += f"; as an end condition {', '.join(other.defaults) or 'nothing'}"
    return f"unknown argument {quoted(key)} for {spec.name}{hint} ({spec.name} takes {takes})"


def coerce_value(spec: MethodSpec, key: str, value: Value, *, shown: str | None = None) -> Value:
    """``value`` as argument ``key`` of ``spec`` takes it, judged by the type of its
    default, and checked against the argument's range (``check_value``).

    A bool default takes only true/false, an int default only whole numbers, a float
    default any number (an int becomes a float, so ``lr=1`` and ``lr=1.0`` are one plan),
    a str default only text. ``BadInput`` otherwise; ``shown`` is the value as written.
    """
    default = spec.defaults[key]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if shown is None:
        shown = format_value(value) if isinstance(value, Value) else repr(value)
    shown = quoted(shown, quote=False)
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, want = number, "a number"
        if ok:
            try:
                value = float(value)
            except OverflowError:
                raise BadInput(
                    f"argument {key!r} of {spec.name} must be {spec.ranges[key]}, not {shown}"
                ) from None
    else:
        ok, want = isinstance(value, str), "a name or a quoted string"
    if not ok:
        raise BadInput(f"argument {key!r} of {spec.name} takes {want}, not {shown}")
    check_value(spec, key, value, shown=shown)
    return value


def check_value(spec: MethodSpec, key: str, value: Value, *, shown: str | None = None) -> None:
    """``BadInput`` naming the value and the valid range when ``value`` (of the right type)
    is outside what argument ``key`` of ``spec`` accepts (``MethodSpec.ranges``)."""
    accepts = spec.ranges.get(key)
    shown = shown or format_value(value)
    if isinstance(accepts, Range) and value not in accepts:
        raise BadInput(f"argument {key!r} of {spec.name} must be {accepts}, not {shown}")
    if isinstance(accepts, Format) and isinstance(value, str):
        try:
            accepts.check(value)
        except BadInput as error:
            raise BadInput(f"argument {key!r} of {spec.name}: {error}") from None


def _shown_args(args: Mapping[str, Value], keys: Iterable[str]) -> str:
    return ", ".join(f"{k}={format_value(args[k])}" for k in keys)


def check_relations(spec: MethodSpec, args: Mapping[str, Value]) -> None:
    """``BadInput`` when arguments of one call break a relation of ``spec`` (its ``rules``,
    and ``below_upper`` against a nonzero ``up``). Only relations whose arguments are all
    in ``args`` are checked: pass the written ones while parsing, every one once resolved.
    """
    for rule in spec.rules:
        if all(k in args for k in rule.args) and not rule.holds(*(args[k] for k in rule.args)):
            raise BadInput(f"{spec.name} needs {rule.text}; got {_shown_args(args, rule.args)}")
    up = args.get("up")
    if isinstance(up, float) and up > 0.0:
        for key in spec.below_upper:
            if key in args and not args[key] < up:
                raise BadInput(
                    f"{spec.name}'s {key} ({format_value(args[key])}) must be below its upper "
                    f"bound up={format_value(up)}"
                )


def check_call(call: Call, stage: Stage, *, end: bool = False) -> None:
    """The relations of one resolved call (every argument filled in) of ``stage``: its
    own (``check_relations``), and for an LR method its absolute bounds (``below_upper``)
    below its upper bound, which is the base LR of each GE method of the stage when the
    method's ``up`` is 0 or it has none. ``end=True`` for the stage's end condition."""
    spec = (STAGE_ENDS if end else REGISTRY)[call.name]
    args = call.kwargs
    check_relations(spec, args)
    if not spec.below_upper or args.get("up"):
        return
    for ge in (c for c in stage.calls if REGISTRY[c.name].kind is Kind.GE):
        base = ge.kwargs.get("lr")
        for key in spec.below_upper:
            if isinstance(base, float) and not args[key] < base:
                raise BadInput(
                    f"{spec.name}'s {key} ({format_value(args[key])}) must be below its upper "
                    f"bound, the base LR {format_value(base)} of {ge.name}; lower the {key} or "
                    f"give {spec.name} its own up"
                    if "up" in spec.defaults
                    else f"{spec.name}'s {key} ({format_value(args[key])}) must be below the base "
                    f"LR {format_value(base)} of {ge.name}"
                )


def check_plan(plan: Plan) -> None:
    """``check_call`` for every call and end condition of a resolved plan; ``BadInput``,
    or, when the plan has its source, a ``PlanSyntaxError`` marking the offending call."""
    for stage in plan.stages:
        calls = [(c, False) for c in stage.calls]
        calls += [(stage.until, True)] if stage.until is not None else []
        for call, end in calls:
            try:
                check_call(call, stage, end=end)
            except BadInput as error:
                if not plan.source or call.span == (0, 0):
                    raise
                display = re.sub(r"\s", " ", plan.source)
                raise PlanSyntaxError(str(error), source=display, span=call.span) from None


def check_defaults(
    defaults: Mapping[str, Mapping[str, Value]],
) -> dict[str, dict[str, Value]]:
    """Per-method default arguments (a plan file's ``defaults``), checked against the
    catalogue: names resolved through aliases, values coerced and range-checked, the
    relations among the arguments given together checked. ``BadInput`` if wrong."""
    checked: dict[str, dict[str, Value]] = {}
    try:
        for name, args in defaults.items():
            table = checked.setdefault(method_specs(name)[0].name, {})
            for key, value in args.items():
                table[key] = check_default(name, key, value)
        for name, table in checked.items():
            for spec in method_specs(name):
                check_relations(spec, {k: v for k, v in table.items() if k in spec.defaults})
    except BadInput as error:
        raise BadInput(f"in the defaults: {error}") from None
    return checked


def call_order(call: Call) -> tuple[int, str, int]:
    """Sort key of a call inside a stage: kind, then selector text (grouped GE methods),
    then catalogue order."""
    kind, index = canonical_rank(call.name)
    return (kind, call.group or "", index)


def sort_calls(calls: Iterable[Call]) -> tuple[Call, ...]:
    return tuple(sorted(calls, key=call_order))


def sort_args(spec: MethodSpec, args: Iterable[tuple[str, Value]]) -> tuple[tuple[str, Value], ...]:
    """Arguments in the order of ``spec.defaults`` (unknown keys last, as given)."""
    order = {key: i for i, key in enumerate(spec.defaults)}
    return tuple(sorted(args, key=lambda kv: order.get(kv[0], len(order))))


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if _NAME.fullmatch(value) and value not in ("true", "false"):
        return value
    return f"'{value}'" if '"' in value else f'"{value}"'


def format_share(share: float) -> str:
    """A share in (0, 1] as the percentage that parses back to exactly ``share``.

    The shortest decimal of ``share`` with the point moved two places, so ``0.25`` is
    ``25%`` and ``0.07`` is ``7%`` (not ``7.000000000000001%``).
    """
    percent = Decimal(repr(share)).scaleb(2).normalize()
    return f"{percent:f}%"


def format_call(call: Call, *, group: bool = True) -> str:
    """``name(arg=value, ...)[group]``; ``group=False`` leaves the selector out."""
    spec = REGISTRY.get(call.name) or STAGE_ENDS.get(call.name)
    args = sort_args(spec, call.args) if spec else call.args
    text = call.name
    if args:
        shown = []
        for key, value in args:
            if spec and isinstance(spec.defaults.get(key), float) and type(value) is int:
                value = float(value)
            shown.append(f"{key}={format_value(value)}")
        text += f"({', '.join(shown)})"
    if group and call.group is not None:
        text += f"[{call.group}]"
    return text


def format_stage(stage: Stage) -> str:
    calls = sort_calls(stage.calls)
    text = "+".join(format_call(c) for c in calls)
    if len(calls) > 1:
        text = f"({text})"
    if stage.length is not None:
        text += ":" + format_length(stage.length)
    if stage.until is not None:
        text += ":" + format_call(stage.until)
    return text


def format_length(length: Length) -> str:
    if length.share is not None:
        return format_share(length.share)
    return str(length.epochs)


def format_plan(plan: Plan) -> str:
    """The one canonical text of ``plan`` (see the module docstring)."""
    return " | ".join(format_stage(s) for s in plan.stages)


def resolve_call(
    call: Call,
    defaults: Mapping[str, Mapping[str, Value]] = _NO_DEFAULTS,
    *,
    end: bool = False,
) -> Call:
    """``call`` with every argument of its method filled in: the catalogue's defaults, then
    ``defaults[name]`` (already checked, see ``check_defaults``), then the written args.
    ``end=True`` looks the name up among the end conditions."""
    spec = (STAGE_ENDS if end else REGISTRY)[call.name]
    # A name that is both a method and an end condition shares one defaults entry; each
    # takes the arguments it knows.
    given = {k: v for k, v in defaults.get(call.name, {}).items() if k in spec.defaults}
    merged = {**spec.defaults, **given, **dict(call.args)}
    return replace(call, args=sort_args(spec, merged.items()))


def resolve(plan: Plan, defaults: Mapping[str, Mapping[str, Value]] = _NO_DEFAULTS) -> Plan:
    """``plan`` with every call's and end condition's arguments filled in.

    Precedence, lowest first: the catalogue's defaults, ``defaults`` (per-method
    arguments from a plan file; checked here, ``BadInput`` on an unknown name or argument
    or a value of the wrong type or out of range), the arguments written in the call.
    The result is checked as a whole (``check_plan``): a relation that only the merged
    arguments break (``rep(low=0.2)`` in a stage whose base LR is 0.1) is an error here.
    """
    table = check_defaults(defaults)
    stages = tuple(
        replace(
            stage,
            calls=tuple(resolve_call(c, table) for c in stage.calls),
            until=None if stage.until is None else resolve_call(stage.until, table, end=True),
        )
        for stage in plan.stages
    )
    resolved = replace(plan, stages=stages)
    check_plan(resolved)
    return resolved
