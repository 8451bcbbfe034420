"""The method catalogue as data, like timm's optimizer registry.

One ``MethodSpec`` per name a plan may use: its kind, its defaults (the papers'), the
values each argument accepts (``ranges``) and the relations between them (``rules``,
``below_upper``), a one-line description, the paper it comes from and the dotted path of
what builds it. Nothing here imports torch; ``optbench methods`` prints this table and
the plan parser and the plan file check names and arguments against it, so a value out
of range is refused when the plan is read, never when it trains. Adding a method is
adding an entry.
"""

from __future__ import annotations

import enum
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from optbench.plan.model import MAX_EPOCHS, Value


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


def _number(x: float) -> str:
    """A bound as a message shows it: 1000000 rather than 1e+06, 0.001 rather than 1e-03."""
    if float(x).is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(float(x))


@dataclass(frozen=True)
class Range:
    """The numbers an argument accepts: ``low`` to ``high``, each end closed (the bound
    itself is allowed) unless ``open_low``/``open_high``. ``str`` gives the range as a
    message shows it: ``in (0, 1]``, ``in [1, 1000]``."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if math.isnan(value):
            return False
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.open_low else '>='} {_number(self.low)}"
        if self.low == -math.inf:
            return f"{'<' if self.open_high else '<='} {_number(self.high)}"
        left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
        return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"


@dataclass(frozen=True)
class Format:
    """A text argument with a syntax of its own: ``parse`` ("module:function") reads the
    text and raises ``BadInput`` naming what is wrong; ``example`` shows a valid value."""

    parse: str
    example: str

    def check(self, text: str) -> None:
        module, _, attr = self.parse.partition(":")
        getattr(importlib.import_module(module), attr)(text)


@dataclass(frozen=True)
class Rule:
    """A relation between arguments of one method, e.g. ``warm + cool <= 1``: ``holds``
    takes the values of ``args`` (in that order) and says whether the relation holds."""

    text: str
    args: tuple[str, ...]
    holds: Callable[..., bool]


# The largest learning rate (or LR bound) a plan may write: far beyond any useful value,
# so that an LR of 1000 (a divergence test) is accepted and 1e300 is not.
MAX_LR = 1e6
LR = Range(0.0, MAX_LR, open_low=True)  # a base learning rate: > 0
ABS_LR = Range(0.0, MAX_LR)  # an absolute LR bound; 0 allowed where it means "none"
SHARE = Range(0.0, 1.0)  # a share of a span, a factor in [0, 1]
DECAY = Range(0.0, 1.0, open_high=True)  # an exponential-average decay rate in [0, 1)
EPS = Range(0.0, 1.0, open_low=True)  # a denominator's safety term: > 0
WEIGHT_DECAY = Range(0.0, 1.0)
EPOCHS = Range(1, MAX_EPOCHS)  # a count of epochs


@dataclass(frozen=True)
class MethodSpec:
    name: str
    kind: Kind
    description: str
    paper: str
    target: str  # "module:attribute", imported only when the method is built
    defaults: Mapping[str, Value] = field(default_factory=dict)
    # The values each argument accepts: a Range for numbers, a Format for a text with a
    # syntax (piecewise's points); every argument has one (a test checks).
    ranges: Mapping[str, Range | Format] = field(default_factory=dict)
    # Relations between the arguments (the paper's "beta1 > beta2"), checked once every
    # argument is known: among the written ones while parsing, all of them when resolved.
    rules: tuple[Rule, ...] = ()
    # Arguments that are absolute learning rates which must lie below the method's upper
    # bound: its ``up`` argument, or the stage's base LR where ``up`` is 0 or absent.
    below_upper: tuple[str, ...] = ()
    fixed: Mapping[str, Value] = field(default_factory=dict)  # constructor args not in plans
    applies_to: tuple[str, ...] = ()  # GE options: the GE methods they can modify
    needs_closure: bool = False  # GE: step(closure) re-evaluates the loss itself (DSA)
    stateful: bool = False  # LR: a class to build per span and feed each epoch (plateau)
    # LR: the clock restarts at every stage even where the same call continues ([PWA]'s
    # phase-wise decayed LR); otherwise it runs over the contiguous stages of the call.
    per_stage: bool = False
    aliases: tuple[str, ...] = ()  # other spellings a plan may use; printed back as `name`
    # Seeds stacked along a leading dimension train as if apart: the math is elementwise
    # and continuous (GE, modifiers) or the same for every seed (LR). False: per-tensor
    # reductions (the MAS variants), a per-seed state (plateau, driven by each seed's
    # validation loss), or steps that are signs of the gradient (DSA), which turn the last
    # bits in which stacked and separate sums differ into different steps.
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
        ranges=None,
        rules=(),
    ):
        return MethodSpec(
            name,
            Kind.GE,
            description,
            paper,
            target,
            defaults=defaults,
            ranges={k: r for k, r in {**_GE_RANGES, **(ranges or {})}.items() if k in defaults},
            rules=rules,
            fixed=fixed or {},
            needs_closure=needs_closure,
            stacks=stacks,
        )

    def lr(name, function, defaults, ranges, description, paper, **extra):
        return MethodSpec(
            name,
            Kind.LR,
            description,
            paper,
            _LR + function,
            defaults=defaults,
            ranges=ranges,
            **extra,
        )

    adam = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    adabound = {**adam, "final_lr": 0.1, "gamma": 1e-3}
    mas = {**adam, "gamma": 0.6, "momentum": 0.0}
    # [MIX] Figure 5 tries the outer scale gamma at 0.4, 0.6, 0.7 and 1.
    mas_ranges = {"gamma": Range(0.0, 10.0, open_low=True), "momentum": DECAY, "adam_w": SHARE}
    sig = {"low": 0.001, "up": 0.0, "kappa": 0.2}
    sig_ranges = {"low": ABS_LR, "up": ABS_LR, "kappa": Range(0.0, 1000.0, open_low=True)}
    pyopt, mix = "pytorch_optimizer:", "optbench.methods.mas:MAS"
    mod = "optbench.methods."
    return [
        ge("SGD", "torch.optim:SGD", {"lr": 0.01, "weight_decay": 0.0}, "stochastic gradient descent"),
        MethodSpec(
            "M", Kind.GE_OPTION, "heavy-ball momentum for SGD or RMSprop", "[MS]", _OPT,
            defaults={"momentum": 0.9}, ranges={"momentum": DECAY}, applies_to=_SGD_LIKE,
        ),
        MethodSpec(
            "NAG", Kind.GE_OPTION, "Nesterov momentum for SGD", "[MS]", _OPT,
            defaults={"momentum": 0.9}, ranges={"momentum": Range(0.0, 1.0, True, True)},
            fixed={"nesterov": True}, applies_to=("SGD",),
        ),
        ge("Adagrad", "torch.optim:Adagrad", {"lr": 0.01, "eps": 1e-10, "weight_decay": 0.0}, "per-parameter LR from summed squared gradients", "[MS] [DSA]"),
        ge("Adadelta", "torch.optim:Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}, "Adagrad with a running window of squared updates", "[MS] [DSA]"),
        ge("RMSprop", "torch.optim:RMSprop", {"lr": 0.001, "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.0}, "running mean of squared gradients; alpha is [MS]'s rho (0.9); torch's default is 0.99"),
        ge("Adam", "torch.optim:Adam", adam, "adaptive moments (Kingma & Ba)", "[MS] [PWA]"),
        ge("AdamW", "torch.optim:AdamW", {**adam, "weight_decay": 0.01}, "Adam with decoupled weight decay", "[DSA]"),
        ge("Adamax", "torch.optim:Adamax", {**adam, "lr": 0.002}, "Adam with the infinity norm", "[MS] [DSA]"),
        ge("NAdam", "torch.optim:NAdam", {**adam, "lr": 0.002}, "Adam with Nesterov momentum"),
        ge("AMSGrad", "torch.optim:Adam", adam, "Adam with the running maximum of second moments", "[PWA]", fixed={"amsgrad": True}),
        lr("d", "decay", {"rate": 1e-6}, {"rate": SHARE}, "time-based decay lr/(1 + rate*iteration)", "[MS]"),
        lr("cos", "cosine", {"low": 0.0}, {"low": SHARE}, "cosine decay from the base LR to low*base over the span", "[MS]"),
        lr("exp", "exponential", {"low": 0.001, "up": 0.0}, {"low": Range(0.0, MAX_LR, open_low=True), "up": ABS_LR}, "exponential decay from up (0: the base LR) to the absolute LR low over the span, up*(low/up)^(t/T)", "[MS] [ANN]", below_upper=("low",)),
        lr("step", "staircase", {"gamma": 0.1, "levels": 3}, {"gamma": Range(0.0, 1.0, open_low=True), "levels": Range(1, 1000)}, "staircase: n equal levels, each gamma times the last (0.1 -> 0.01 -> 0.001)", "[ANN]"),
        lr("warmup", "warmup", {"start": 0.01, "share": 0.1}, {"start": ABS_LR, "share": Range(0.0, 1.0, open_low=True)}, "linear warm-up from the absolute LR `start` to the base LR over the first `share` of the span", "[MS] [ANN]", below_upper=("start",)),
        MethodSpec(
            "plateau", Kind.END, "end the stage when validation loss has not improved for `patience` epochs, after at most `max` epochs", "[MS]", "optbench.train.ends:Plateau",
            {"patience": 3, "max": 40}, ranges={"patience": Range(0, MAX_EPOCHS), "max": EPOCHS},
            rules=(Rule("patience < max: with patience >= max the stage could never end early", ("patience", "max"), lambda p, m: p < m),),
            stacks=False,
        ),
        ge("AdaBound", pyopt + "AdaBound", adabound, "Adam with LR bounds converging to SGD's final_lr (Luo et al. 2019)", "[PWA]", fixed={"weight_decouple": False}),
        ge("AMSBound", pyopt + "AdaBound", adabound, "AdaBound on AMSGrad's running maximum of second moments", "[PWA]", fixed={"ams_bound": True, "weight_decouple": False}),
        ge(
            "DSA", mod + "dsa:DSA", {"lr": 1.0, "eta0": -12.0, "beta1": 0.6, "beta2": 0.3, "eps": 1e-30},
            "per-parameter step 2^eta adapted by a look-ahead gradient (formulas 5-6); lr scales the step", "[DSA]",
            needs_closure=True,
            # its steps are signs: the last bits in which a stacked gradient differs from a
            # separate run's flip a sign where a gradient is near zero, and the runs part
            stacks=False,
            ranges={"eta0": Range(-100.0, 20.0), "beta1": Range(0.0, 10.0, open_low=True), "beta2": Range(0.0, 10.0, open_low=True)},
            rules=(Rule("beta1 > beta2: formula 6 shortens the step by beta1 and lengthens it by the smaller beta2", ("beta1", "beta2"), lambda b1, b2: b1 > b2),),
        ),
        ge("MAS", mix, {**mas, "adam_w": 0.5}, "gamma times the weighted sum of Adam's and SGD's steps, adam_w on Adam's, 1-adam_w on SGD's (Landro et al.)", "[MIX]", fixed={"variant": "mas"}, ranges=mas_ranges),
        ge("MASdc", mix, mas, "MAS, direction correction: gamma times SGD's step where it agrees with Adam's, else Adam's", "[MIX]", fixed={"variant": "direction_correction"}, stacks=False, ranges=mas_ranges),
        ge("MASvc", mix, mas, "MAS, vector combination: gamma times SGD's step on half of each tensor's rows, Adam's on the rest", "[MIX]", fixed={"variant": "vector_combination"}, stacks=False, ranges=mas_ranges),
        ge("MASan", mix, mas, "MAS, Adam normalization: gamma times SGD's direction with the length of Adam's step", "[MIX]", fixed={"variant": "adam_normalization"}, stacks=False, ranges=mas_ranges),
        MethodSpec("avg", Kind.MODIFIER, "phase-wise exponential averaging, gamma = gamma0^(80/T), applied with BN re-estimation at the stage end", "[PWA]", mod + "averaging:PhaseAverage", {"gamma0": 0.9}, ranges={"gamma0": DECAY}),
        MethodSpec("polyak", Kind.MODIFIER, "mean of the epoch-end parameters, applied with BN re-estimation at the end of training", "[PWA]", mod + "averaging:PolyakAverage"),
        MethodSpec("LA", Kind.MODIFIER, "Lookahead: k fast steps, then slow weights += alpha*(fast - slow)", "[PWA]", mod + "modifiers:wrap_lookahead", {"k": 5, "alpha": 0.5}, ranges={"k": Range(1, 1000), "alpha": SHARE}, aliases=("lookahead",)),
        MethodSpec("full", Kind.MODIFIER, "full-batch training: the whole training set in every step", "[DSA]", mod + "modifiers:FullBatch"),
        lr("sig", "sigmoid", sig, sig_ranges, "sigmoid decay low + (up-low)/(1+exp(kappa(2t-T))), t in epochs; up=0 is the base LR", "[ANN]", below_upper=("low",)),
        lr("rep", "repeated_sigmoid", {**sig, "cycles": 2}, {**sig_ranges, "cycles": Range(1, 1000)}, "sigmoid decay repeated `cycles` times over the span", "[ANN]", below_upper=("low",)),
        lr(
            "trap", "trapezoid", {"start": 0.01, "low": 0.001, "up": 0.0, "warm": 0.1, "cool": 0.1},
            {"start": ABS_LR, "low": ABS_LR, "up": ABS_LR, "warm": SHARE, "cool": SHARE},
            "trapezoid: linear rise start -> up over the first `warm` share, hold, fall to low over the last `cool`", "[ANN]",
            below_upper=("start", "low"),
            rules=(Rule("warm + cool <= 1: the rise and the fall share one span", ("warm", "cool"), lambda w, c: w + c <= 1.0),),
        ),
        lr("natexp", "natural_exp", {"k": 0.05}, {"k": Range(0.0, 100.0)}, "natural exponential decay exp(-k*t), t in epochs", "[MS]"),
        lr("poly", "polynomial", {"power": 1.0}, {"power": Range(0.0, 100.0, open_low=True)}, "polynomial decay (1 - t/T)^power", "[MS]"),
        lr("piecewise", "piecewise", {"points": "0.5:0.1,0.75:0.01"}, {"points": Format(_LR + "parse_points", "0.5:0.1,0.75:0.01")}, "piecewise-constant factors from shares of the span, points=\"share:factor,...\"", "[MS]"),
        lr("sgdr", "cosine_restarts", {"T0": 10.0, "mult": 2.0, "low": 0.0}, {"T0": Range(0.001, float(MAX_EPOCHS)), "mult": Range(1.0, 100.0), "low": SHARE}, "cosine with warm restarts: periods T0*mult^i epochs, down to low*base", "[MS]"),
        lr("clr", "cyclical", {"low": 0.1, "period": 8.0}, {"low": DECAY, "period": Range(0.001, float(MAX_EPOCHS))}, "cyclical triangular factor between low and 1, `period` epochs per cycle", "[MS]"),
        lr("kRkD", "conflict", {"k": 1}, {"k": Range(1, 1000)}, "[MS]'s conflict: k raises and k decreases of 1% per iteration, composed once per step", "[MS]"),
        lr(
            "plateau", "PlateauFactor", {"factor": 0.1, "patience": 10, "threshold": 1e-4, "min_factor": 0.0},
            {"factor": Range(0.0, 1.0, True, True), "patience": Range(0, MAX_EPOCHS), "threshold": DECAY, "min_factor": SHARE},
            "ReduceLROnPlateau on validation loss: factor *= `factor` after `patience` epochs without improvement", "[MS]",
            stateful=True, stacks=False,
        ),
        lr("avgdecay", "phase_decay", {"gamma0": 0.9}, {"gamma0": Range(0.0, 1.0, True, True)}, "[PWA]'s decayed LR (1-gamma^(T-t+1))/(1-gamma^T), gamma = gamma0^(80/T), per epoch t of each stage", "[PWA]", per_stage=True),
    ]  # fmt: skip


# Every GE method's learning rate, weight decay, Adam-style betas and eps; entries add
# their own (rho, alpha, gamma ...).
_GE_RANGES: Mapping[str, Range] = MappingProxyType(
    {
        "lr": LR,
        "weight_decay": WEIGHT_DECAY,
        "beta1": DECAY,
        "beta2": DECAY,
        "eps": EPS,
        "rho": DECAY,
        "alpha": DECAY,
        "final_lr": LR,
        "gamma": Range(0.0, 1.0, True, True),  # AdaBound's convergence speed
    }
)


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
