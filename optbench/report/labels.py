"""How a stored plan is named in reports, and its Y/N table read from the stored text.

A run stores its plan as canonical text with every hyperparameter resolved (its
identity). Reports show the plan as the experiment's plan file writes it — the label
stored with the run's link to the experiment — and otherwise ``short_label``: the stored
text with the arguments at their catalogue defaults dropped.

History stays readable: a stored plan that names a method no longer in the catalogue, or
an argument the method no longer knows, no longer parses. ``short_label`` then shows the
stored text as it is, and ``text_schedule`` reads its Y/N table from the text itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache

from optbench.errors import OptbenchError
from optbench.methods.registry import REGISTRY, STAGE_ENDS
from optbench.plan.canonical import format_plan
from optbench.plan.model import Call, Plan
from optbench.plan.parser import parse_plan
from optbench.plan.timeline import Row

UNKNOWN_KIND = "?"  # the Y/N table's kind of a method the catalogue does not know


def _strip(call: Call, catalogue) -> Call:
    defaults = catalogue[call.name].defaults
    return replace(call, args=tuple((k, v) for k, v in call.args if defaults.get(k) != v))


def strip_defaults(plan: Plan) -> Plan:
    """The plan with every argument that equals its catalogue default removed."""
    return replace(
        plan,
        stages=tuple(
            replace(
                s,
                calls=tuple(_strip(c, REGISTRY) for c in s.calls),
                until=_strip(s.until, STAGE_ENDS) if s.until else None,
            )
            for s in plan.stages
        ),
    )


@lru_cache(maxsize=4096)
def parsed(stored: str) -> Plan | None:
    """The stored plan parsed, or None when this optbench no longer parses it (a method
    or an argument left the catalogue). Cached: reports name the same plans many times."""
    try:
        return parse_plan(stored)
    except OptbenchError:
        return None


def readable(stored: str) -> bool:
    """Whether this optbench still parses the stored plan (its methods and arguments)."""
    return parsed(stored) is not None


@lru_cache(maxsize=4096)
def short_label(stored: str) -> str:
    """``SGD(lr=0.01, weight_decay=0.0) | ...`` -> ``SGD | ...``; a plan this optbench no
    longer parses is shown as stored."""
    plan = parsed(stored)
    if plan is None:
        return " ".join(stored.split())
    return format_plan(strip_defaults(plan))


def group_label(stored: str, labels: Iterable[str | frozenset[str] | None]) -> str:
    """The name of a stored plan in a report: the label its runs' links carry when they
    all agree (links without a label do not count), else ``short_label``. A run linked
    with several labels gives them as a frozenset."""
    written: set[str] = set()
    for label in labels:
        if isinstance(label, str) and label:
            written.add(label)
        elif isinstance(label, frozenset):
            written |= label
    return next(iter(written)) if len(written) == 1 else short_label(stored)


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _encloses(text: str) -> bool:
    """Whether ``text`` is one parenthesized group: ``(SGD+M)``, not ``(a)+(b)``."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def _stage_terms(stage: str) -> list[str]:
    body = _split(stage, ":")[0].strip()  # a length or an end condition follows ':'
    if _encloses(body):
        body = body[1:-1]
    return [" ".join(t.split()) for t in _split(body, "+") if t.strip()]


def _kind(term: str) -> str:
    name = term.split("(", 1)[0].split("[", 1)[0].strip()
    spec = REGISTRY.get(name)
    return spec.kind.label if spec is not None else UNKNOWN_KIND


def text_schedule(stored: str) -> tuple[Row, ...]:
    """The Y/N table [MS Table 3] read from a stored plan's text without the catalogue:
    stages split at ``|``, methods at ``+`` (outside parentheses), one row per distinct
    method text in order of first appearance; kinds from the catalogue where it still
    knows the name, ``?`` where not. For plans ``short_label`` cannot parse."""
    stages = [_stage_terms(s) for s in _split(stored, "|")]
    order: dict[str, str] = {}
    for terms in stages:
        for term in terms:
            order.setdefault(term, _kind(term))
    return tuple(
        Row(term, kind, tuple(term in terms for terms in stages)) for term, kind in order.items()
    )
