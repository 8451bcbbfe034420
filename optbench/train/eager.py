"""Optimizers stepped eagerly, without torch.compile's hooks.

torch.optim prepares every optimizer for ``torch.compile``: ``Optimizer.step`` is wrapped
to mark graph breaks, and ``add_param_group``, ``zero_grad``, ``state_dict`` and
``load_state_dict`` are wrapped to be left out of compiled graphs. Both wrappers import
``torch._dynamo`` on their first call, and with it sympy and triton: on a two-core machine
that is more than torch's own import, paid before the first training step. optbench never
compiles, so the engine uses each optimizer class through ``eager(cls)``: a subclass whose
methods are the wrapped functions themselves (``inspect.unwrap``), its ``step`` run under
``torch.no_grad()`` as the wrapper would. The arithmetic is the class's own; a test checks
that the numbers are bit for bit those of the class as torch ships it.
"""

from __future__ import annotations

import functools
import inspect

import torch
from torch.optim import Optimizer

_COMPILE_WRAPPED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


@functools.cache
def eager(cls: type[Optimizer]) -> type[Optimizer]:
    """``cls`` with torch.compile's wrappers taken off its methods (see the module)."""
    raw_step = inspect.unwrap(cls.step)

    def step(self, closure=None):
        with torch.no_grad():
            return raw_step(self, closure)

    methods = {name: inspect.unwrap(getattr(cls, name)) for name in _COMPILE_WRAPPED}
    methods["step"] = functools.wraps(raw_step)(step)
    return type(cls.__name__, (cls,), {**methods, "__module__": cls.__module__})
