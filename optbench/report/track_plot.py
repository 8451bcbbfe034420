"""Trajectory plots of plans on the toy problems of [DSA]: contour lines of the objective
and one (w1, w2) track per plan.

Matplotlib and the toy trainer (torch) are imported inside ``plot_tracks``, so importing
this module stays light.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from optbench.errors import BadInput

_FORMATS = {".png": "png", ".svg": "svg"}
_GROW = 1.0  # a diverged track may grow the window by at most this many spans each way
_DENSE = 60  # a track of more points than this gets a marker every few steps only


def plot_tracks(plans: list[str], problem: str, steps: int, out: Path, *, seed: int = 0) -> Path:
    """Run every plan on the toy ``problem`` for ``steps`` steps (``run_toy``) and draw the
    objective's contour lines with one trajectory per plan: a circle at its start, a
    square at its end (a cross where it diverged), labelled with the plan's canonical
    text; the minimum is a black star. Axes w1/w2, titled with the problem.

    The view is the problem's window grown to hold every point of every track that did
    not diverge; a diverged track grows it by at most one window span each way, so that
    it does not flatten the picture (points beyond are clipped, and its end is the
    cross at the last point inside). Each plan keeps its colour by the plans' sorted
    order. Tracks are drawn longest path first, thin and translucent, so that a track
    that oscillates in place (SGD at the edge of stability) shows as a band that the
    others stay visible on; a track of many steps marks every few steps rather than each.
    PNG or SVG by the suffix of ``out``; ``BadInput`` for another suffix, an empty plan
    list, an unknown problem or a plan a toy run does not support. Returns ``out``.
    """
    out = Path(out)
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise BadInput(
            f"cannot write a plot to {str(out)!r}: the file name must end in .png or .svg"
        )
    if not plans:
        raise BadInput("no plan to plot")

    import numpy as np
    from matplotlib.figure import Figure

    from optbench.plan.parser import parse_plan
    from optbench.report.plots import colours
    from optbench.tasks.toy import get_problem
    from optbench.train.toy import run_toy

    spec = get_problem(problem)
    written = [" ".join(text.split()) for text in plans]
    parsed = [parse_plan(text) for text in plans]
    runs = [run_toy(plan, problem, steps, seed) for plan in parsed]
    tracks = [  # (w1, w2) of each point; a problem of more dimensions is drawn in that plane
        [(p[0], p[1]) for p in run.trajectory if math.isfinite(p[0]) and math.isfinite(p[1])]
        for run in runs
    ]
    (x0, x1), (y0, y1) = _view(
        spec.window,
        [p for t, r in zip(tracks, runs, strict=True) if not r.diverged for p in t],
        [p for t, r in zip(tracks, runs, strict=True) if r.diverged for p in t],
    )
    colour = colours(written)

    w1, w2 = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    z = spec.plane(w1, w2)
    top = float(np.max(z))
    levels = np.geomspace(top * 1e-5, top, 16) if top > 0 else 16

    # Figure without pyplot: rendered by the Agg (PNG) or SVG backend, no global state.
    fig = Figure(figsize=(7.5, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.contour(w1, w2, z, levels=levels, colors="0.7", linewidths=0.6)
    order = sorted(range(len(runs)), key=lambda i: -_length(tracks[i], spec.window))
    for depth, i in enumerate(order):
        track, run, text = tracks[i], runs[i], written[i]
        if not track:
            continue
        xs, ys = zip(*track, strict=True)
        label = text + (" (diverged)" if run.diverged else "")
        color = colour[text]
        every = 1 if len(track) <= _DENSE else max(1, len(track) // 20)
        ax.plot(xs, ys, "-", color=color, marker=".", markersize=3, markevery=every,
                linewidth=0.8, alpha=0.55 if len(track) > _DENSE else 0.9, label=label,
                zorder=2 + depth)  # fmt: skip
        top = 3 + len(runs)
        ax.plot(xs[0], ys[0], "o", color=color, markersize=8, fillstyle="none", zorder=top)
        ax.plot(xs[-1], ys[-1], "X" if run.diverged else "s", color=color, markersize=7,
                zorder=top)  # fmt: skip
    ax.plot(
        *spec.minimum[:2], "*", color="black", markersize=10, label="minimum", zorder=4 + len(runs)
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("w1")
    ax.set_ylabel("w2")
    ax.set_title(f"{spec.name}: {spec.description}, {steps} steps", fontsize="medium")
    ax.legend(fontsize="small", loc="best")
    fig.savefig(out, format=fmt, dpi=120)
    return out


def _length(track, window) -> float:
    """The length of a track's path in window spans: a track that oscillates in place is
    long."""
    (x0, x1), (y0, y1) = window
    return sum(
        math.hypot((b[0] - a[0]) / (x1 - x0), (b[1] - a[1]) / (y1 - y0))
        for a, b in itertools.pairwise(track)
    )


def _view(window, points, diverged=()) -> tuple[tuple[float, float], tuple[float, float]]:
    """The window grown to hold every one of ``points`` and the ``diverged`` points within
    ``_GROW`` spans of it, with a small margin."""
    view = []
    for axis, (low, high) in enumerate(window):
        span = high - low
        values = [p[axis] for p in points]
        far = [p[axis] for p in diverged]
        lo = min([low, *values, *(max(v, low - _GROW * span) for v in far)])
        hi = max([high, *values, *(min(v, high + _GROW * span) for v in far)])
        margin = 0.03 * (hi - lo) if (lo, hi) != (low, high) else 0.0
        view.append((lo - margin, hi + margin))
    return view[0], view[1]
