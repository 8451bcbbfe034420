"""Seeds trained side by side: S copies of one model as one module, like functorch's
model-ensembling example (``stack_module_state`` once, ``vmap(functional_call)`` per step).

``SeedStack(models)`` holds every parameter and buffer of S same-architecture models
stacked along a new leading dimension, and maps a batch of shape (S, B, ...) — one batch
per seed — to outputs of shape (S, B, ...). One optimizer over its parameters updates all
S models at once; because the optimizers it is used with are elementwise, each slice
moves exactly as that model would alone. BatchNorm keeps per-seed running statistics in
the stacked buffers. Randomness inside the model (dropout) is refused: its masks would
not be those of the separate runs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.modules.batchnorm import _BatchNorm


def stack_models(models: Sequence[nn.Module]) -> nn.Module:
    """S same-architecture models as one module over a leading seed dimension: a
    ``LayerStack`` when the model is a chain of layers it knows (the MLPs: no per-step
    ``vmap`` dispatch), else a ``SeedStack``. Both train the same numbers."""
    if LayerStack.supports(models[0]):
        return LayerStack(models)
    return SeedStack(models)


def is_stack(model: nn.Module) -> bool:
    """Whether ``model`` takes a leading seed dimension (a ``SeedStack`` or ``LayerStack``)."""
    return isinstance(model, SeedStack | LayerStack)


def named_model_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The parameters under the names of the model they came from (``output.weight``),
    for a plain model and a stack alike; parameter-group selectors match these."""
    if is_stack(model):
        return model.named_model_parameters()
    return list(model.named_parameters())


class SeedStack(nn.Module):
    """S models of one architecture as one module over a leading seed dimension.

    ``forward(x)`` takes x of shape (S, B, ...) and returns the S models' outputs stacked,
    (S, B, ...). Parameter ``p{i}`` and buffer ``b{i}`` are the i-th parameter and buffer
    of the models, in the models' order, each of shape (S, *shape). ``train()``/``eval()``
    switch the models' mode (BatchNorm uses batch or running statistics as usual).
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise ValueError("a SeedStack needs at least one model")
        if any(
            isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in models[0].modules()
        ):
            raise ValueError("dropout draws from the global RNG: its seeds cannot be stacked")
        params, buffers = stack_module_state(list(models))
        self.seeds = len(models)
        self.param_names = tuple(params)
        self.buffer_names = tuple(buffers)
        for i, name in enumerate(self.param_names):
            self.register_parameter(f"p{i}", nn.Parameter(params[name].detach()))
        for i, name in enumerate(self.buffer_names):
            self.register_buffer(f"b{i}", buffers[name])
        # The architecture without weights: functional_call fills in the stacked ones.
        # Kept out of the module tree so that it adds no parameters.
        self.__dict__["base"] = copy.deepcopy(models[0]).to("meta")
        base = self.base

        def one(params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(base, (params, buffers), (x,))

        self.__dict__["_forward"] = vmap(one, in_dims=(0, 0, 0), randomness="error")

    def stacked_parameters(self) -> dict[str, Tensor]:
        return {name: getattr(self, f"p{i}") for i, name in enumerate(self.param_names)}

    def stacked_buffers(self) -> dict[str, Tensor]:
        return {name: getattr(self, f"b{i}") for i, name in enumerate(self.buffer_names)}

    def forward(self, x: Tensor) -> Tensor:
        return self._forward(self.stacked_parameters(), self.stacked_buffers(), x)

    def train(self, mode: bool = True) -> SeedStack:
        super().train(mode)
        self.base.train(mode)
        return self

    def named_model_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(name, getattr(self, f"p{i}")) for i, name in enumerate(self.param_names)]


class LayerStack(nn.Module):
    """S copies of a chain of linear layers and elementwise activations (an MLP) as one
    module: each ``Linear`` becomes one batched matrix product over the seeds, each
    activation acts on the stacked tensor. Same contract as ``SeedStack``: (S, B, ...) in,
    (S, B, C) out, parameters ``p{i}`` in the models' order. A linear layer's weight is
    kept transposed, (S, in, out), and its bias as (S, 1, out), so that neither the
    product nor its gradients transpose or copy anything; the optimizers are elementwise,
    so the layout changes no step."""

    ELEMENTWISE = nn.ReLU | nn.Sigmoid | nn.Tanh | nn.Identity

    @classmethod
    def supports(cls, model: nn.Module) -> bool:
        layers = _chain(model)
        return layers is not None and all(
            isinstance(m, nn.Linear | nn.PReLU | cls.ELEMENTWISE)
            or (isinstance(m, nn.Flatten) and i == 0)
            or (isinstance(m, nn.LogSoftmax) and m.dim in (1, -1))
            or (isinstance(m, nn.Dropout) and m.p == 0)
            for i, (_, m) in enumerate(layers)
        )

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        params, _ = stack_module_state(list(models))
        self.seeds = len(models)
        self.param_names = tuple(params)
        linear = {
            f"{name}.{part}" if name else part
            for name, layer in _chain(models[0])
            if isinstance(layer, nn.Linear)
            for part in ("weight", "bias")
        }
        for i, name in enumerate(self.param_names):
            value = params[name].detach()
            if name in linear:  # (S, out, in) -> (S, in, out); (S, out) -> (S, 1, out)
                value = value.transpose(1, 2) if value.dim() == 3 else value.unsqueeze(1)
            self.register_parameter(f"p{i}", nn.Parameter(value.contiguous()))
        index = {name: i for i, name in enumerate(self.param_names)}
        self.steps: list[tuple[str, int | None, int | None]] = []
        for name, layer in _chain(models[0]):
            prefix = f"{name}." if name else ""
            if isinstance(layer, nn.Linear):
                bias = index.get(prefix + "bias")
                self.steps.append(("linear", index[prefix + "weight"], bias))
            elif isinstance(layer, nn.PReLU):
                self.steps.append(("prelu", index[prefix + "weight"], None))
            elif isinstance(layer, nn.Flatten):
                self.steps.append(("flatten", None, None))
            elif isinstance(layer, nn.LogSoftmax):
                self.steps.append(("log_softmax", None, None))
            elif isinstance(layer, nn.ReLU | nn.Sigmoid | nn.Tanh):
                self.steps.append((type(layer).__name__.lower(), None, None))

    def forward(self, x: Tensor) -> Tensor:
        p = [getattr(self, f"p{i}") for i in range(len(self.param_names))]
        for op, a, b in self.steps:
            if op == "linear":
                x = torch.bmm(x, p[a]) if b is None else torch.baddbmm(p[b], x, p[a])
            elif op == "flatten":
                x = x.flatten(2)
            elif op == "relu":
                x = torch.relu(x)
            elif op == "sigmoid":
                x = torch.sigmoid(x)
            elif op == "tanh":
                x = torch.tanh(x)
            elif op == "prelu":  # one slope per seed (and per feature, if the model has them)
                slope = p[a].view(self.seeds, 1, -1)
                x = torch.where(x >= 0, x, slope * x)
            elif op == "log_softmax":
                x = torch.log_softmax(x, dim=-1)
        return x

    def named_model_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(name, getattr(self, f"p{i}")) for i, name in enumerate(self.param_names)]


def _chain(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The layers of a (nested) ``nn.Sequential`` in order, with their names; None for
    any other kind of model."""
    if not isinstance(model, nn.Sequential):
        return None
    out: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            inner = _chain(child)
            out += [(f"{name}.{n}", m) for n, m in inner or []]
        else:
            out.append((name, child))
    return out


def batchnorms(model: nn.Module) -> list[tuple[str, _BatchNorm]]:
    """The BatchNorm layers of a plain model or of a ``SeedStack``'s architecture."""
    root = model.base if isinstance(model, SeedStack) else model
    return [(n, m) for n, m in root.named_modules() if isinstance(m, _BatchNorm)]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[Tensor]) -> None:
    """Re-estimate every BatchNorm layer's running statistics as the plain average over
    ``batches`` (as ``torch.optim.swa_utils.update_bn`` does), for weights that were
    averaged ([PWA] Algorithm 1, Polyak averaging). Each batch has the input shape the
    model takes ((S, B, ...) for a ``SeedStack``). Nothing happens without BatchNorm.

    The average is taken with momentum 1/k at the k-th batch, which is the cumulative
    mean ``update_bn`` computes with ``momentum=None``; unlike ``momentum=None`` it also
    works on stacked buffers under ``vmap``.
    """
    layers = batchnorms(model)
    if not layers:
        return
    stacked = model.stacked_buffers() if isinstance(model, SeedStack) else None
    saved = [m.momentum for _, m in layers]
    for name, layer in layers:
        if stacked is None:
            layer.reset_running_stats()
        else:
            stacked[f"{name}.running_mean"].zero_()
            stacked[f"{name}.running_var"].fill_(1.0)
            stacked[f"{name}.num_batches_tracked"].zero_()
    was_training = model.training
    model.train()
    try:
        for k, x in enumerate(batches, start=1):
            for _, layer in layers:
                layer.momentum = 1.0 / k
            model(x)
    finally:
        for (_, layer), momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
        model.train(was_training)
