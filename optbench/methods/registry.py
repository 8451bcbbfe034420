"""The method catalogue as data, like timm's optimizer registry.

One ``MethodSpec`` per name a plan may use: its kind, its defaults (the papers'), a
one-line description, the paper it comes from and the dotted path of what builds it.
Nothing here imports torch; ``optbench methods`` prints this table and the plan parser
validates names and arguments against it. Adding a method is adding an entry.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from optbench.plan.model import Value


class Kind(enum.Enum):
    GE = "GE"  # a gradient-estimation method: an optimizer
    GE_OPTION = "GE option"  # changes the stage's GE method (momentum, Nesterov)
    LR = "LR"  # a factor on the GE method's base learning rate
    MODIFIER = "modifier"  # changes how a stage trains or ends (averaging, full batch)
    END = "stage end"  # a condition that ends a stage early, written after ':'

    @property
    def label(self) -> str:
        """The Y/N table's label for a row of this kind."""
        return {Kind.GE: "GE", Kind.GE_OPTION: "GE", Kind.LR: "LR"}.get(self, "mod")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    kind: Kind
    description: str
    paper: str
    target: str  # "module:attribute", imported only when the method is built
    defaults: Mapping[str, Value] = field(default_factory=dict)
    fixed: Mapping[str, Value] = field(default_factory=dict)  # constructor args not in plans
    applies_to: tuple[str, ...] = ()  # GE options: the GE methods they can modify
    needs_closure: bool = False  # GE: step(closure) re-evaluates the loss itself (DSA)
    stateful: bool = False  # LR: a class to build per span and feed each epoch (plateau)
    aliases: tuple[str, ...] = ()  # other spellings a plan may use; printed back as `name`
    # Seeds stacked along a leading dimension train as if apart: the math is elementwise
    # (GE, modifiers) or the same for every seed (LR). False: per-tensor reductions (the
    # MAS variants) or a per-seed state (plateau, driven by each seed's validation loss).
    stacks: bool = True

    def load(self) -> Any:
        """Import the entry's target (a class or function) on first use."""
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


_OPT = "optbench.methods.ge:optimizer_kwargs"  # GE options are merged into the GE call
_LR = "optbench.methods.lr:"
_SGD_LIKE = ("SGD", "RMSprop")


def _entries() -> list[MethodSpec]:
    def ge(
        name,
        target,
        defaults,
        description,
        paper="[MS]",
        fixed=None,
        needs_closure=False,
        stacks=True,
    ):
        return MethodSpec(
            name, Kind.GE, description, paper, target, defaults=defaults, fixed=fixed or {},
            needs_closure=needs_closure, stacks=stacks,
        )  # fmt: skip

    adam = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    adabound = {**adam, "final_lr": 0.1, "gamma": 1e-3}
    mas = {**adam, "gamma": 0.6, "momentum": 0.0}
    sig = {"low": 0.001, "up": 0.0, "kappa": 0.2}
    pyopt, mix = "pytorch_optimizer:", "optbench.methods.mas:MAS"
    mod = "optbench.methods."
    return [
        ge("SGD", "torch.optim:SGD", {"lr": 0.01, "weight_decay": 0.0}, "stochastic gradient descent"),
        MethodSpec(
            "M", Kind.GE_OPTION, "heavy-ball momentum for SGD or RMSprop", "[MS]", _OPT,
            defaults={"momentum": 0.9}, applies_to=_SGD_LIKE,
        ),
        MethodSpec(
            "NAG", Kind.GE_OPTION, "Nesterov momentum for SGD", "[MS]", _OPT,
            defaults={"momentum": 0.9}, fixed={"nesterov": True}, applies_to=("SGD",),
        ),
        ge("Adagrad", "torch.optim:Adagrad", {"lr": 0.01, "eps": 1e-10, "weight_decay": 0.0}, "per-parameter LR from summed squared gradients"),
        ge("Adadelta", "torch.optim:Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}, "Adagrad with a running window of squared updates"),
        ge("RMSprop", "torch.optim:RMSprop", {"lr": 0.001, "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.0}, "running mean of squared gradients; alpha is [MS]'s rho (0.9)"),
        ge("Adam", "torch.optim:Adam", adam, "adaptive moments (Kingma & Ba)", "[MS] [PWA]"),
        ge("AdamW", "torch.optim:AdamW", {**adam, "weight_decay": 0.01}, "Adam with decoupled weight decay"),
        ge("Adamax", "torch.optim:Adamax", {**adam, "lr": 0.002}, "Adam with the infinity norm", "[MS] [DSA]"),
        ge("NAdam", "torch.optim:NAdam", {**adam, "lr": 0.002}, "Adam with Nesterov momentum"),
        ge("AMSGrad", "torch.optim:Adam", adam, "Adam with the running maximum of second moments", "[PWA]", fixed={"amsgrad": True}),
        MethodSpec("d", Kind.LR, "time-based decay lr/(1 + rate*iteration)", "[MS]", _LR + "decay", {"rate": 1e-6}),
        MethodSpec("cos", Kind.LR, "cosine decay from the base LR to low*base over the span", "[MS]", _LR + "cosine", {"low": 0.0}),
        MethodSpec("exp", Kind.LR, "exponential decay gamma**epoch", "[ANN]", _LR + "exponential", {"gamma": 0.95}),
        MethodSpec("step", Kind.LR, "staircase: n equal levels, each gamma times the last (0.1 -> 0.01 -> 0.001)", "[ANN]", _LR + "staircase", {"gamma": 0.1, "levels": 3}),
        MethodSpec("warmup", Kind.LR, "linear warm-up from `start` to the base LR over the first `share` of the span", "[ANN]", _LR + "warmup", {"start": 0.01, "share": 0.1}),
        MethodSpec("plateau", Kind.END, "end the stage when validation loss has not improved for `patience` epochs, after at most `max` epochs", "[MS]", "optbench.train.ends:Plateau", {"patience": 3, "max": 40}, stacks=False),
        ge("AdaBound", pyopt + "AdaBound", adabound, "Adam with LR bounds converging to SGD's final_lr (Luo et al. 2019)", "[PWA]", fixed={"weight_decouple": False}),
        ge("AMSBound", pyopt + "AdaBound", adabound, "AdaBound on AMSGrad's running maximum of second moments", "[PWA]", fixed={"ams_bound": True, "weight_decouple": False}),
        ge("DSA", mod + "dsa:DSA", {"lr": 1.0, "eta0": -12.0, "beta1": 0.6, "beta2": 0.3}, "per-parameter step 2^eta adapted by a look-ahead gradient; lr scales the step", "[DSA]", needs_closure=True),
        ge("MAS", mix, mas, "Adam and SGD steps mixed: weight gamma on Adam, 1-gamma on SGD (Landro et al.)", "[MIX]", fixed={"variant": "mas"}),
        ge("MASdc", mix, mas, "MAS, direction correction: SGD's direction where Adam agrees, else Adam's", "[MIX]", fixed={"variant": "direction_correction"}, stacks=False),
        ge("MASvc", mix, mas, "MAS, vector combination: half of each tensor's rows by SGD, half by Adam", "[MIX]", fixed={"variant": "vector_combination"}, stacks=False),
        ge("MASan", mix, mas, "MAS, Adam normalization: SGD's direction with Adam's step length", "[MIX]", fixed={"variant": "adam_normalization"}, stacks=False),
        MethodSpec("avg", Kind.MODIFIER, "phase-wise exponential averaging, gamma = gamma0^(80/T), applied with BN re-estimation at the stage end", "[PWA]", mod + "averaging:PhaseAverage", {"gamma0": 0.9}),
        MethodSpec("polyak", Kind.MODIFIER, "mean of the epoch-end parameters, applied with BN re-estimation at the end of training", "[PWA]", mod + "averaging:PolyakAverage"),
        MethodSpec("LA", Kind.MODIFIER, "Lookahead: k fast steps, then slow weights += alpha*(fast - slow)", "[PWA]", mod + "modifiers:wrap_lookahead", {"k": 5, "alpha": 0.5}, aliases=("lookahead",)),
        MethodSpec("full", Kind.MODIFIER, "full-batch training: the whole training set in every step", "[DSA]", mod + "modifiers:FullBatch"),
        MethodSpec("sig", Kind.LR, "sigmoid decay low + (up-low)/(1+exp(kappa(2t-T))), t in epochs; up=0 is the base LR", "[ANN]", _LR + "sigmoid", sig),
        MethodSpec("rep", Kind.LR, "sigmoid decay repeated `cycles` times over the span", "[ANN]", _LR + "repeated_sigmoid", {**sig, "cycles": 2}),
        MethodSpec("trap", Kind.LR, "trapezoid: linear rise low -> up over the first `warm` share, hold, fall to low over the last `cool`", "[ANN]", _LR + "trapezoid", {"low": 0.001, "up": 0.0, "warm": 0.1, "cool": 0.1}),
        MethodSpec("natexp", Kind.LR, "natural exponential decay exp(-k*t), t in epochs", "[MS]", _LR + "natural_exp", {"k": 0.05}),
        MethodSpec("poly", Kind.LR, "polynomial decay (1 - t/T)^power", "[MS]", _LR + "polynomial", {"power": 1.0}),
        MethodSpec("piecewise", Kind.LR, "piecewise-constant factors from shares of the span, points=\"share:factor,...\"", "[MS]", _LR + "piecewise", {"points": "0.5:0.1,0.75:0.01"}),
        MethodSpec("sgdr", Kind.LR, "cosine with warm restarts: periods T0*mult^i epochs, down to low*base", "[MS]", _LR + "cosine_restarts", {"T0": 10.0, "mult": 2.0, "low": 0.0}),
        MethodSpec("clr", Kind.LR, "cyclical triangular factor between low and 1, `period` epochs per cycle", "[MS]", _LR + "cyclical", {"low": 0.1, "period": 8.0}),
        MethodSpec("kRkD", Kind.LR, "[MS]'s conflict: k raises and k decreases of 1% per iteration, composed once per step", "[MS]", _LR + "conflict", {"k": 1}),
        MethodSpec("plateau", Kind.LR, "ReduceLROnPlateau on validation loss: factor *= `factor` after `patience` epochs without improvement", "[MS]", _LR + "PlateauFactor", {"factor": 0.1, "patience": 10, "threshold": 1e-4, "min_factor": 0.0}, stateful=True, stacks=False),
    ]  # fmt: skip


REGISTRY: Mapping[str, MethodSpec] = MappingProxyType(
    {s.name: s for s in _entries() if s.kind is not Kind.END}
)
STAGE_ENDS: Mapping[str, MethodSpec] = MappingProxyType(
    {s.name: s for s in _entries() if s.kind is Kind.END}
)
# Other spellings of REGISTRY names (``lookahead`` for ``LA``): alias -> canonical name.
ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: s.name for s in REGISTRY.values() for alias in s.aliases}
)
# Canonical order inside a stage: GE methods, their options, stage modifiers, LR methods,
# each in catalogue order.
_KIND_RANK = {Kind.GE: 0, Kind.GE_OPTION: 1, Kind.MODIFIER: 2, Kind.LR: 3}
_INDEX = {name: i for i, name in enumerate(REGISTRY)}


def canonical_rank(name: str) -> tuple[int, int]:
    spec = REGISTRY[name]
    return (_KIND_RANK[spec.kind], _INDEX[name])
