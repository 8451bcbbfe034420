"""Short plan labels: the stored (resolved) text with arguments at their defaults dropped."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from optbench.methods.registry import REGISTRY, STAGE_ENDS
from optbench.plan.canonical import format_plan
from optbench.plan.model import Call, Plan
from optbench.plan.parser import parse_plan


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
def short_label(stored: str) -> str:
    """``SGD(lr=0.01, weight_decay=0.0) | ...`` -> ``SGD | ...``."""
    return format_plan(strip_defaults(parse_plan(stored)))
