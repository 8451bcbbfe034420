"""Parameter groups [MIX]: which GE method trains which parameters.

Selectors: ``hidden`` (every parameter outside the model's ``output`` layer), ``output``
(the last layer, which every model names ``output``), a glob over parameter names
(``features.*``, ``layer1.0.conv*``), or a comma-separated list of these, which selects
their union (``fc2.*,output.*``: [MIX]'s last two layers). Groups in a stage must be
disjoint and cover the model.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from torch import nn

from optbench.errors import BadInput

Named = Sequence[tuple[str, nn.Parameter]]


def _picks(name: str, selector: str) -> bool:
    if selector == "output":
        return name.startswith("output.")
    if selector == "hidden":
        return not name.startswith("output.")
    return fnmatch.fnmatchcase(name, selector)


def select(named: Named, selector: str) -> list[str]:
    """Names of the parameters a selector (or comma-separated selectors) picks, in model
    order."""
    parts = [part.strip() for part in selector.split(",")]
    return [n for n, _ in named if any(_picks(n, part) for part in parts)]


def partition(named: Named, selectors: Sequence[str]) -> list[list[nn.Parameter]]:
    """Parameters per selector, from the model's (name, parameter) pairs; overlap, an empty
    group or an uncovered parameter is an error."""
    params = dict(named)
    owner: dict[str, str] = {}
    groups = []
    for sel in selectors:
        names = select(named, sel)
        if not names:
            raise BadInput(f"parameter group [{sel}] selects no parameter of the model")
        for name in names:
            if name in owner:
                raise BadInput(f"parameter {name!r} is in both [{owner[name]}] and [{sel}]")
            owner[name] = sel
        groups.append([params[n] for n in names])
    uncovered = [n for n in params if n not in owner]
    if uncovered:
        shown = ", ".join(uncovered[:3]) + (" ..." if len(uncovered) > 3 else "")
        raise BadInput(f"no parameter group trains {shown}; groups: {', '.join(selectors)}")
    return groups
