"""The catalogue in a test: what torch.optim's constructors take by default."""

from __future__ import annotations

import inspect

from optbench.methods.registry import REGISTRY


def torch_defaults(name: str) -> dict:
    """The catalogue arguments of ``name`` at the values torch.optim's constructor has."""
    spec = REGISTRY[name]
    params = inspect.signature(spec.load()).parameters
    found = {k: p.default for k, p in params.items() if k in spec.defaults}
    if "betas" in params:
        found["beta1"], found["beta2"] = params["betas"].default
    return found
