"""Building GE methods: a registry entry and resolved plan arguments -> an optimizer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch

from optbench.methods.registry import MethodSpec
from optbench.plan.model import Value


def optimizer_kwargs(
    spec: MethodSpec, args: Mapping[str, Value], options: Iterable[tuple[MethodSpec, Mapping]]
) -> dict:
    """Constructor arguments: the plan's resolved args, each GE option's args and fixed
    values (``M`` -> momentum, ``NAG`` -> momentum + nesterov), and the entry's fixed ones.
    Adam-style ``beta1``/``beta2`` become torch's ``betas`` tuple."""
    kwargs: dict = {**args, **spec.fixed}
    for option, option_args in options:
        kwargs.update(option_args)
        kwargs.update(option.fixed)
    if "beta1" in kwargs or "beta2" in kwargs:
        kwargs["betas"] = (kwargs.pop("beta1"), kwargs.pop("beta2"))
    return kwargs


def build_torch_optimizer(
    spec: MethodSpec,
    params: Iterable[torch.nn.Parameter],
    args: Mapping[str, Value],
    options: Iterable[tuple[MethodSpec, Mapping]] = (),
    cls_of: Callable[[type], type] = lambda cls: cls,
) -> torch.optim.Optimizer:
    """The entry's optimizer on ``params`` with the plan's arguments and options;
    ``cls_of`` may replace the class (the trainer steps optimizers without torch.compile's
    wrappers: ``optbench.train.eager``)."""
    cls = cls_of(spec.load())
    return cls(list(params), **optimizer_kwargs(spec, args, options))
